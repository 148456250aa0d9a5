"""The generic REST connector's templates: what an admin writes to describe a JSON API.

JSON paths picking values out of answers (:class:`JsonPath`), path templates on the base
URL (:func:`check_template`), and write calls with JSON body templates (:class:`RestCall`,
filled by :func:`render`). Data and pure checks only: they are part of a CRM's
configuration (:class:`bot.domain.crm_config.RestEndpoints`), and the connector
(:mod:`bot.adapters.crm.rest`) runs them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, model_validator

from bot.domain.api_model import ApiModel
from bot.i18n import t

_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\['([^'\]]+)'\]")


class JsonPath:
    """A tiny JSONPath subset: ``$``, ``.name``, ``['name']`` and ``[index]`` steps."""

    def __init__(self, expression: str) -> None:
        expression = expression.strip()
        if not expression.startswith("$"):
            raise ValueError(t("a field path starts with $: {path}", path=repr(expression)))
        steps: list[str | int] = []
        pos = 1
        while pos < len(expression):
            match = _STEP.match(expression, pos)
            if match is None:
                raise ValueError(
                    t(
                        "unsupported field path {path} at {position}",
                        path=repr(expression),
                        position=str(pos),
                    )
                )
            name, index, quoted = match.groups()
            steps.append(int(index) if index is not None else (name or quoted))
            pos = match.end()
        self.expression = expression
        self.steps = steps

    def find(self, document: Any) -> Any:
        node = document
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return None
                node = node[step]
            else:
                if not isinstance(node, dict) or step not in node:
                    return None
                node = node[step]
        return node


def check_template(template: str, allowed: set[str]) -> str:
    """``template``, if it is a path on the base URL using only the ``allowed`` placeholders."""
    if not template.startswith("/") or template.startswith("//"):
        raise ValueError(
            t("a template is a path on the base URL: {template}", template=repr(template))
        )
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            raise ValueError(
                t(
                    "template {template} may only use {allowed}",
                    template=repr(template),
                    allowed=str(sorted(allowed)),
                )
            )
    return template


UPDATE_PLACEHOLDERS = frozenset({"id", "fields"})
TIMELINE_PLACEHOLDERS = frozenset({"id", "subject", "description", "activityType"})
_WHOLE = re.compile(r"^\{(\w+)\}$")


def placeholders(template: Any) -> set[str]:
    """The placeholder names a body template uses, wherever they stand in it."""
    if isinstance(template, str):
        names = set()
        for _, name, spec, conversion in string.Formatter().parse(template):
            if name is not None:
                if spec or conversion or not re.fullmatch(r"\w+", name):
                    raise ValueError(
                        t("unsupported placeholder in {template}", template=repr(template))
                    )
                names.add(name)
        return names
    if isinstance(template, list):
        return set().union(*map(placeholders, template)) if template else set()
    if isinstance(template, dict):
        return set().union(*map(placeholders, template.values())) if template else set()
    return set()


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` with its placeholders filled from ``values`` (see the module doc)."""
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            return values[whole.group(1)]
        return template.format_map({k: str(v) for k, v in values.items()})
    if isinstance(template, list):
        return [render(item, values) for item in template]
    if isinstance(template, dict):
        return {key: render(item, values) for key, item in template.items()}
    return template


class RestCall(ApiModel):
    """One write call of the generic connector: ``method`` on ``path`` (a template with
    ``{id}``) with the JSON ``body`` template; ``recordPath`` picks the written record
    out of the answer (absent: the record is read again, or the timeline entry is made
    from ``idPath``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["POST", "PUT", "PATCH"] = "PATCH"
    path: str
    body: Any = None
    record_path: str | None = None
    id_path: str = "$.id"

    @model_validator(mode="after")
    def _checked(self) -> RestCall:
        check_template(self.path, {"id"})
        JsonPath(self.id_path)
        if self.record_path:
            JsonPath(self.record_path)
        return self

    def check_body(self, allowed: frozenset[str], what: str) -> RestCall:
        unknown = placeholders(self.body) - allowed
        if unknown:
            raise ValueError(
                t(
                    "the {what} body may only use {allowed}: {unknown}",
                    what=what,
                    allowed=str(sorted(allowed)),
                    unknown=str(sorted(unknown)),
                )
            )
        return self
