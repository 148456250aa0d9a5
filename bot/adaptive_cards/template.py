"""A small, strict subset of the Adaptive Card Templating language, compiled once.

Supported: ``${path}`` (dotted, with ``$root``, ``$data`` and ``$index``), ``${!path}`` in
``$when``, ``$data`` to repeat an element over a list and ``$when`` to drop it. A string
that is exactly one ``${...}`` keeps the value's JSON type (lists, numbers, booleans), so
action data and ``userIds`` stay typed. Unknown paths raise: a template typo must fail a
test, not render an empty card. Templates are compiled to closures on first use, because
a card is rendered on every click.

Templates are written in English; the text a person reads (``text``, ``title``, ``label``,
``tooltip``, ...) is a gettext message id, translated before the template is compiled, once
per language (``load(name, "de")``). ``${...}`` placeholders stay as they are in the
translation, so a translator may move them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from bot.errors import ServerError
from bot.i18n import translations
from bot.i18n.card_texts import translated

CARDS_DIR = Path(__file__).resolve().parents[2] / "cards"

_EXPRESSION = re.compile(r"\$\{([^}]*)\}")
Scope = dict[str, Any]
Getter = Callable[[Scope], Any]
Part = Callable[[Scope], Any]
"""A compiled node: its value in a scope, or :data:`_DROPPED` (``$when`` was false)."""
Many = Callable[[Scope], list[Any]]
"""A compiled ``$data`` node: its values, one per item."""

_DROPPED: Any = object()
_CONSTANT, _ONE, _MANY = 0, 1, 2  # how a compiled child gives its value


class TemplateError(ServerError, ValueError):
    """The template refers to something the data does not have."""


class Template:
    def __init__(self, source: Any) -> None:
        self._kind, self._part = _compile(source)

    def render(self, data: Any) -> Any:
        scope = {"$root": data, "$data": data, "$index": 0}
        if self._kind == _CONSTANT:
            return self._part
        [card] = self._part(scope) if self._kind == _MANY else [self._part(scope)]
        if card is _DROPPED:
            raise TemplateError("the template's top element was dropped by its $when")
        return card


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


def _getter(path: str) -> Getter:
    path = path.strip()
    parts = path.split(".")
    start = parts[0] if parts[0] in ("$root", "$index", "$data") else "$data"
    rest = parts[1:] if parts[0] == start else parts

    def unknown() -> TemplateError:
        return TemplateError(f"template refers to unknown data {path!r}")

    if not rest:
        return lambda scope: scope[start]
    if len(rest) == 1:  # most paths: one field of the current item
        [name] = rest

        def field(scope: Scope) -> Any:
            value = scope[start]
            if not isinstance(value, dict) or name not in value:
                raise unknown()
            return value[name]

        return field

    def get(scope: Scope) -> Any:
        value = scope[start]
        for part in rest:
            if not isinstance(value, dict) or part not in value:
                raise unknown()
            value = value[part]
        return value

    return get


def _condition(expression: str) -> Callable[[Scope], bool]:
    match = _EXPRESSION.fullmatch(expression.strip())
    if match is None:
        raise TemplateError(f"$when needs one ${{...}} expression, got {expression!r}")
    inner = match.group(1).strip()
    if inner.startswith("!"):
        negated = _getter(inner[1:])
        return lambda scope: not negated(scope)
    get = _getter(inner)
    return lambda scope: bool(get(scope))


def _string(text: str) -> Getter:
    whole = _EXPRESSION.fullmatch(text)
    if whole is not None:
        return _getter(whole.group(1))
    literal: list[str] = []
    getters: list[Getter] = []
    position = 0
    for match in _EXPRESSION.finditer(text):
        literal.append(text[position : match.start()].replace("{", "{{").replace("}", "}}"))
        literal.append("{}")
        getters.append(_getter(match.group(1)))
        position = match.end()
    if not getters:
        return lambda scope: text
    literal.append(text[position:].replace("{", "{{").replace("}", "}}"))
    form = "".join(literal).format
    if len(getters) == 1:
        [only] = getters
        return lambda scope: form(only(scope))
    return lambda scope: form(*[get(scope) for get in getters])


def _compile(node: Any) -> tuple[int, Any]:
    """``node`` as a function of the scope, and how it gives its value: ``_CONSTANT`` (the
    compiled value is the node itself: a string, number, boolean or null), ``_ONE`` (a
    :data:`Part`: ``$when`` may drop it) or ``_MANY`` (a :data:`Many`: ``$data`` repeats
    it). Every rendered dict and list is new: nothing rendered is shared between cards."""
    if isinstance(node, dict):
        if "$data" in node:
            return _MANY, _repeat(node)
        when = _condition(node["$when"]) if "$when" in node else None
        fields = [(key, *_compile(value)) for key, value in node.items() if key != "$when"]

        def element(scope: Scope) -> Any:
            if when is not None and not when(scope):
                return _DROPPED
            rendered: dict[str, Any] = {}
            for key, kind, part in fields:
                if kind == _CONSTANT:
                    rendered[key] = part
                elif kind == _ONE:
                    value = part(scope)
                    if value is not _DROPPED:
                        rendered[key] = value
                else:
                    values = part(scope)
                    if values:
                        rendered[key] = values[0]
            return rendered

        return _ONE, element
    if isinstance(node, list):
        items = [_compile(item) for item in node]

        def array(scope: Scope) -> list[Any]:
            rendered: list[Any] = []
            for kind, part in items:
                if kind == _CONSTANT:
                    rendered.append(part)
                elif kind == _ONE:
                    value = part(scope)
                    if value is not _DROPPED:
                        rendered.append(value)
                else:
                    rendered.extend(part(scope))
            return rendered

        return _ONE, array
    if isinstance(node, str) and "${" in node:
        return _ONE, _string(node)
    return _CONSTANT, node


def _repeat(node: dict[str, Any]) -> Many:
    source = node["$data"]
    items_of: Getter = _string(source) if isinstance(source, str) else (lambda scope: source)
    kind, body = _compile({key: value for key, value in node.items() if key != "$data"})
    assert kind == _ONE  # a dict compiles to one element

    def repeat(scope: Scope) -> list[Any]:
        items = items_of(scope)
        if not isinstance(items, list):
            value = body({**scope, "$data": items})
            return [] if value is _DROPPED else [value]
        rendered = []
        for index, item in enumerate(items):
            value = body({**scope, "$data": item, "$index": index})
            if value is not _DROPPED:
                rendered.append(value)
        return rendered

    return repeat
