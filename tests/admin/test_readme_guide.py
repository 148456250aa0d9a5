"""Every JSON example in the README keeps to the OpenAPI document, and the admin guide has a
worked example (request and answer) for every admin resource.

A JSON block is the request body of the last ``METHOD /path`` named in the text before it,
or, when that text says ``Answer `NNN```, the answer with status NNN to the last request
named before that (in the same text or earlier). Paths are
written with real values (``/api/admin/crms/hubspot``) and matched to the document's
templates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.web.api_docs import document

README = Path(__file__).resolve().parents[2] / "README.md"

_BLOCK = re.compile(r"```json\n(.*?)```", re.S)
_REQUEST = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s?]*)(?:\?[^`]*)?`")
_ANSWER = re.compile(r"Answer `(\d{3})`")

RESOURCES = {
    "tenant": "/api/admin/tenant",
    "CRM connections": "/api/admin/crms",
    "field mapping": "/api/admin/crms/{settings_id}",
    "CRM test": "/api/admin/crms/{settings_id}/test",
    "CRM preview": "/api/admin/crms/{settings_id}/preview",
    "memorialization mapping": "/api/admin/crms/{settings_id}/memorialization",
    "workflows": "/api/admin/workflows/{workflowId}",
    "workflow run": "/api/admin/workflows/{workflowId}/run",
    "queue policies": "/api/admin/policies/{queue}",
    "routing rules": "/api/admin/routing",
    "routing trial": "/api/admin/lookup",
    "platform keys": "/api/admin/keys",
    "audit": "/api/admin/audit",
    "write-backs": "/api/admin/outbox/replay",
    "data subjects": "/api/admin/data-subjects/erase",
    "ticket sync": "/api/admin/tickets/sync",
}
"""Each admin resource and the path whose worked example (request and answer) shows it."""


@dataclass(frozen=True)
class Example:
    method: str
    path: str
    """The document's path template."""
    status: int | None
    """None: the request body; else the answer with this status."""
    body: Any
    line: int

    def __str__(self) -> str:
        what = "request" if self.status is None else f"answer {self.status}"
        return f"README.md:{self.line}: {self.method} {self.path} {what}"


def _template(path: str, templates: list[str]) -> str:
    for template in templates:
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return template
    raise AssertionError(f"the README names {path}, which the document does not have")


def examples() -> list[Example]:
    text = README.read_text(encoding="utf-8")
    templates = sorted(document()["paths"], key=lambda t: t.count("{"))  # literal paths first
    found, start, request = [], 0, None
    for block in _BLOCK.finditer(text):
        before = text[start : block.start()]
        start = block.end()
        line = text.count("\n", 0, block.start()) + 1
        answer = _ANSWER.search(before)
        named = _REQUEST.findall(before[: answer.start()] if answer else before)
        if named:
            method, path = named[-1]
            request = (method, _template(path, templates))
        assert request is not None, f"README.md:{line}: a JSON block names no request"
        status = int(answer.group(1)) if answer else None
        found.append(Example(*request, status, json.loads(block.group(1)), line))
    return found


def _schema(example: Example) -> dict[str, Any]:
    spec = document()
    operation = spec["paths"][example.path][example.method.lower()]
    if example.status is None:
        content = operation["requestBody"]["content"]
    else:
        answer = operation["responses"][str(example.status)]
        if "$ref" in answer:
            answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        content = answer["content"]
    media = next(v for k, v in content.items() if k.endswith("json"))  # JSON blocks only
    return {**media["schema"], "components": spec["components"]}


README_EXAMPLES = examples()


@pytest.mark.parametrize("example", README_EXAMPLES, ids=str)
def test_the_example_keeps_to_the_document(example: Example) -> None:
    validator = jsonschema.Draft202012Validator(_schema(example))
    refused = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(example.body)
    ]
    assert refused == [], str(example)


def test_every_admin_resource_has_a_worked_example() -> None:
    """An answer for each resource, and its request where the operation takes a body."""
    paths = document()["paths"]
    missing = []
    for name, path in RESOURCES.items():
        shown = [e for e in README_EXAMPLES if e.path == path]
        answered = {e.method for e in shown if e.status is not None}
        asked = {e.method for e in shown if e.status is None}
        takes_body = {m.upper() for m, op in paths[path].items() if "requestBody" in op}
        if not answered or not (answered & takes_body) <= asked:
            missing.append(name)
    assert missing == [], "admin resources without a worked example in the README"
