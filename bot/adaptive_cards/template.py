"""A small, strict subset of the Adaptive Card Templating language, compiled once.

Supported: ``${path}`` (dotted, with ``$root``, ``$data`` and ``$index``), ``${!path}`` in
``$when``, ``$data`` to repeat an element over a list and ``$when`` to drop it. A string
that is exactly one ``${...}`` keeps the value's JSON type (lists, numbers, booleans), so
action data and ``userIds`` stay typed. Unknown paths raise: a template typo must fail a
test, not render an empty card. A card is rendered on every click, so each template is
compiled once into Python source: one function that builds the card's dicts and lists
directly, with a plain loop per ``$data`` and an ``if`` per ``$when``.

Templates are written in English; the text a person reads (``text``, ``title``, ``label``,
``tooltip``, ...) is a gettext message id, translated before the template is compiled, once
per language (``load(name, "de")``). ``${...}`` placeholders stay as they are in the
translation, so a translator may move them.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from bot.errors import ServerError
from bot.i18n import translations
from bot.i18n.card_texts import translated

CARDS_DIR = Path(__file__).resolve().parents[2] / "cards"

_EXPRESSION = re.compile(r"\$\{([^}]*)\}")
_SCALARS = (str, int, float, bool, type(None))


class TemplateError(ServerError, ValueError):
    """The template refers to something the data does not have."""


class Template:
    """Compiled as a function that looks every path up as it is (``data["name"]``); when
    that fails, compiled again (once) as one that checks each step, to say which path the
    data lacks."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self._render = _Compiler(checked=False).function(source)

    @cached_property
    def _checked(self) -> Callable[[Any], Any]:
        return _Compiler(checked=True).function(self._source)

    def render(self, data: Any) -> Any:
        try:
            return self._render(data)
        except (KeyError, TypeError, IndexError):
            return self._checked(data)  # raises TemplateError, naming the path


@cache
def source(name: str) -> Any:
    """The parsed English template ``cards/<name>.json``."""
    return json.loads((CARDS_DIR / f"{name}.json").read_text())


@cache
def load(name: str, language: str = "en") -> Template:
    """A template from ``cards/`` in ``language``, compiled once per process."""
    if language == "en":
        return Template(source(name))
    gettext = translations(language).gettext
    return Template(translated(source(name), gettext))


def render(template: Template | Any, data: Any) -> Any:
    """Fill ``template`` (compiled, or parsed JSON) with ``data`` (plain JSON-like values)."""
    if not isinstance(template, Template):
        template = Template(template)
    return template.render(data)


def _field(value: Any, name: str, path: str) -> Any:
    if isinstance(value, dict) and name in value:
        return value[name]
    raise TemplateError(f"template refers to unknown data {path!r}")


class _Compiler:
    """Writes one template as the source of a function ``render(root)``.

    Each nesting level of ``$data`` has its own item and index variables (``data1``,
    ``index1``...); every dict and list the template holds is built anew on each render,
    in the template's key order, so nothing rendered is shared between cards.
    """

    def __init__(self, *, checked: bool) -> None:
        self.checked = checked
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {"_field": _field, "TemplateError": TemplateError}
        self.names = (f"v{n}" for n in itertools.count())

    def function(self, node: Any) -> Callable[[Any], Any]:
        self.lines = ["def render(root):", "    data0 = root", "    index0 = 0"]
        scope = ("data0", "index0")
        if _repeats(node) or _dropped(node):
            raise TemplateError("a template's top element is one element, always there")
        result = self.value(node, scope, 1)
        self.lines.append(f"    return {result}")
        namespace = dict(self.constants)
        # Safe to run: the template's text reaches the source only as repr() literals and
        # as constants; its paths only as repr() field names.
        exec(compile("\n".join(self.lines), "<card template>", "exec"), namespace)
        rendered: Callable[[Any], Any] = namespace["render"]
        return rendered

    # -- expressions -----------------------------------------------------------------

    def constant(self, value: Any) -> str:
        name = f"k{len(self.constants)}"
        self.constants[name] = value
        return name

    def path(self, path: str, scope: tuple[str, str]) -> str:
        path = path.strip()
        parts = path.split(".")
        start = {"$root": "root", "$data": scope[0], "$index": scope[1]}.get(parts[0])
        rest = parts[1:] if start is not None else parts
        expression = start or scope[0]
        for part in rest:
            if self.checked:
                expression = f"_field({expression}, {part!r}, {path!r})"
            else:
                expression = f"{expression}[{part!r}]"
        return expression

    def condition(self, expression: str, scope: tuple[str, str]) -> str:
        match = _EXPRESSION.fullmatch(expression.strip())
        if match is None:
            raise TemplateError(f"$when needs one ${{...}} expression, got {expression!r}")
        inner = match.group(1).strip()
        if inner.startswith("!"):
            return f"not {self.path(inner[1:], scope)}"
        return f"{self.path(inner, scope)}"

    def string(self, text: str, scope: tuple[str, str]) -> str:
        whole = _EXPRESSION.fullmatch(text)
        if whole is not None:
            return self.path(whole.group(1), scope)
        literal: list[str] = []
        values: list[str] = []
        position = 0
        for match in _EXPRESSION.finditer(text):
            literal.append(text[position : match.start()].replace("{", "{{").replace("}", "}}"))
            literal.append("{}")
            values.append(self.path(match.group(1), scope))
            position = match.end()
        literal.append(text[position:].replace("{", "{{").replace("}", "}}"))
        return f"{self.constant(''.join(literal).format)}({', '.join(values)})"

    # -- statements ------------------------------------------------------------------

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def value(self, node: Any, scope: tuple[str, str], depth: int) -> str:
        """An expression for ``node`` (never dropped, never repeated), after the
        statements it needs."""
        if isinstance(node, str):
            return self.string(node, scope) if "${" in node else repr(node)
        if isinstance(node, _SCALARS):
            return repr(node)
        name = next(self.names)
        if isinstance(node, dict):
            self.emit(depth, f"{name} = {{}}")
            for key, child in node.items():
                if key != "$when":
                    self.child(child, scope, depth, f"{name}[{key!r}] = {{}}", first_only=True)
        else:
            self.emit(depth, f"{name} = []")
            for child in node:
                self.child(child, scope, depth, f"{name}.append({{}})", first_only=False)
        return name

    def child(
        self, node: Any, scope: tuple[str, str], depth: int, sink: str, *, first_only: bool
    ) -> None:
        """Put ``node``'s values into its parent with ``sink`` (once, or per item)."""
        if _repeats(node):
            self.repeat(node, scope, depth, sink, first_only=first_only)
        elif _dropped(node):
            self.emit(depth, f"if {self.condition(node['$when'], scope)}:")
            self.emit(depth + 1, sink.format(self.value(node, scope, depth + 1)))
        else:
            self.emit(depth, sink.format(self.value(node, scope, depth)))

    def repeat(
        self,
        node: dict[str, Any],
        scope: tuple[str, str],
        depth: int,
        sink: str,
        *,
        first_only: bool,
    ) -> None:
        level = int(scope[0].removeprefix("data")) + 1
        item, index = f"data{level}", f"index{level}"
        items = next(self.names)
        source = node["$data"]
        found = self.string(source, scope) if isinstance(source, str) else self.constant(source)
        body = {key: value for key, value in node.items() if key != "$data"}
        self.emit(depth, f"{items} = {found}")
        self.emit(depth, f"if not isinstance({items}, list):")
        self.emit(depth + 1, f"{items} = [({scope[1]}, {items})]")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{items} = enumerate({items})")
        self.emit(depth, f"for {index}, {item} in {items}:")
        inner = (item, index)
        if _dropped(body):
            self.emit(depth + 1, f"if not ({self.condition(body['$when'], inner)}):")
            self.emit(depth + 2, "continue")
        self.emit(depth + 1, sink.format(self.value(body, inner, depth + 1)))
        if first_only:
            self.emit(depth + 1, "break")


def _repeats(node: Any) -> bool:
    return isinstance(node, dict) and "$data" in node


def _dropped(node: Any) -> bool:
    return isinstance(node, dict) and "$when" in node
