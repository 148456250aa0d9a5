"""A small, strict subset of the Adaptive Card Templating language.

Supported: ``${path}`` (dotted, with ``$root`` and ``$index``), ``${!path}`` in ``$when``,
``$data`` to repeat an element over a list and ``$when`` to drop it. A string that is
exactly one ``${...}`` keeps the value's JSON type (lists, numbers, booleans), so action
data and ``userIds`` stay typed. Unknown paths raise: a template typo must fail a test,
not render an empty card.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

CARDS_DIR = Path(__file__).resolve().parents[2] / "cards"

_EXPRESSION = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template refers to something the data does not have."""


@cache
def load(name: str) -> Any:
    """A template from ``cards/``, parsed once per process."""
    return json.loads((CARDS_DIR / f"{name}.json").read_text())


def _lookup(path: str, scope: dict[str, Any]) -> Any:
    path = path.strip()
    parts = path.split(".")
    if parts[0] in ("$root", "$index", "$data"):
        value: Any = scope[parts[0]]
        parts = parts[1:]
    else:
        value = scope["$data"]
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            raise TemplateError(f"template refers to unknown data {path!r}")
        value = value[part]
    return value


def _truthy(expression: str, scope: dict[str, Any]) -> bool:
    match = _EXPRESSION.fullmatch(expression.strip())
    if match is None:
        raise TemplateError(f"$when needs one ${{...}} expression, got {expression!r}")
    inner = match.group(1).strip()
    if inner.startswith("!"):
        return not _lookup(inner[1:], scope)
    return bool(_lookup(inner, scope))


def _string(text: str, scope: dict[str, Any]) -> Any:
    whole = _EXPRESSION.fullmatch(text)
    if whole is not None:
        return _lookup(whole.group(1), scope)
    return _EXPRESSION.sub(lambda m: str(_lookup(m.group(1), scope)), text)


def _expand(node: Any, scope: dict[str, Any]) -> list[Any]:
    """``node`` rendered; a list because ``$data`` may repeat it and ``$when`` drop it."""
    if isinstance(node, dict):
        if "$data" in node:
            source = node["$data"]
            items = _string(source, scope) if isinstance(source, str) else source
            rest = {k: v for k, v in node.items() if k != "$data"}
            if isinstance(items, list):
                return [
                    out
                    for index, item in enumerate(items)
                    for out in _expand(rest, {**scope, "$data": item, "$index": index})
                ]
            return _expand(rest, {**scope, "$data": items})
        if "$when" in node and not _truthy(node["$when"], scope):
            return []
        rendered: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$when":
                continue
            if isinstance(value, list):
                rendered[key] = [out for item in value for out in _expand(item, scope)]
            else:
                for out in _expand(value, scope)[:1]:
                    rendered[key] = out
        return [rendered]
    if isinstance(node, list):
        return [[out for item in node for out in _expand(item, scope)]]
    if isinstance(node, str):
        return [_string(node, scope)]
    return [node]


def render(template: Any, data: Any) -> Any:
    """Fill ``template`` (parsed JSON) with ``data`` (plain JSON-like values)."""
    [card] = _expand(template, {"$root": data, "$data": data, "$index": 0})
    return card
