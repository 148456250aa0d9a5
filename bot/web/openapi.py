"""crmcard's HTTP API as an OpenAPI 3.1 document, built from the pydantic models.

What each route reads and answers is declared once, in :data:`bot.web.operations.OPERATIONS`
(a table of :class:`Operation`, one per method and path); :func:`build_document` turns that
table and the models it names into the document (``bot.web.api_docs`` serves it).

Every error answer is the RFC 9457 problem body (:class:`bot.web.problems.ProblemBody`);
which statuses an operation may answer follows from what it reads (a body: 400, 413, 415,
422; a path parameter: 404; a credential: 401, 403, and 503 where an Entra
token is checked) plus those it names itself.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from bot.web.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from bot.web.problems import ProblemBody

REF = "#/components/schemas/{model}"

Mode = Literal["validation", "serialization"]


@dataclass(frozen=True)
class Media:
    """A body that is not JSON: a page, a file, a CSV export, an event stream."""

    media_types: tuple[str, ...]
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Json:
    """A JSON body: a pydantic model (or any type pydantic describes), or a JSON Schema."""

    schema: Any
    without: tuple[str, ...] = ()
    """Fields the server sets itself: left out of a request body."""
    optional: tuple[str, ...] = ()
    """Fields a request may leave out although the model requires them."""
    partial: bool = False
    """A PATCH body: any subset of the model's fields."""
    media_type: str = "application/json"
    also: tuple[Media, ...] = ()
    """The same answer in other media types the client may ask for (a CSV export)."""


@dataclass(frozen=True)
class Param:
    """A query parameter (path parameters follow from the path)."""

    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


Answer = Json | Media | None
"""A success answer's body; None: no body (204, 201 without content)."""


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    answers: Mapping[int, Answer]
    security: tuple[str, ...] = ()
    """Security schemes, any one of which is enough (``adminKey``, ``entra`` ...)."""
    body: Json | None = None
    body_required: bool = True
    query: tuple[Param, ...] = ()
    problems: tuple[int, ...] = ()
    """Error statuses beyond those that follow from what the operation reads."""
    description: str = ""


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "A platform key the tenant's admins issued (POST /api/admin/keys), or "
        "the operator's bootstrap key (CRMCARD_API_KEYS). The key decides the tenant.",
    },
    "adminKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Admin-Key",
        "description": "The operator's bootstrap admin key (CRMCARD_ADMIN_KEYS); it decides "
        "the tenant. X-Admin-Actor may name the person using it, for the audit.",
    },
    "entra": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Microsoft Entra access token for crmcard's multi-tenant app "
        "(audience api://<host>/<client id>) from a consented tenant. The admin API needs "
        "the app role crmcard.Admin or a Global/Teams Administrator directory role (wids); "
        "the tab and ticket search take any agent's Teams SSO token.",
    },
    "botConnector": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The Bot Framework Connector's token (validated against its OpenID "
        "metadata), sent by Teams or the Agents Playground.",
    },
}

_PATH_PARAM = re.compile(r"\{(\w+)\}")
_ENTRA = {"entra"}


def _problem_statuses(path: str, operation: Operation) -> set[int]:
    statuses = set(operation.problems)
    if operation.body is not None:
        statuses |= {400, 413, 415, 422}
    if _PATH_PARAM.search(path):
        statuses.add(404)
    if operation.security:
        statuses |= {400, 401}  # 400: credentials with bytes outside printable ASCII
        if set(operation.security) & _ENTRA or "adminKey" in operation.security:
            statuses.add(403)
        if set(operation.security) & _ENTRA:
            statuses.add(503)
    statuses.add(500)
    return statuses


class _Schemas:
    """Every model the operations name, as one set of components with references."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        wanted: dict[tuple[int, Mode], Any] = {}
        for operation in operations:
            if operation.body is not None:
                wanted[(id(operation.body.schema), "validation")] = operation.body.schema
            for answer in operation.answers.values():
                if isinstance(answer, Json):
                    wanted[(id(answer.schema), "serialization")] = answer.schema
        wanted[(id(ProblemBody), "serialization")] = ProblemBody
        typed = {k: v for k, v in wanted.items() if not isinstance(v, Mapping)}
        refs, defs = TypeAdapter.json_schemas(
            [(key, mode, TypeAdapter(kind)) for (key, mode), kind in typed.items()],
            ref_template=REF,
            by_alias=True,
        )
        self.components: dict[str, Any] = defs.get("$defs", {})
        self._refs: dict[tuple[int, Mode], Any] = dict(refs)

    def of(self, schema: Any, mode: Mode) -> dict[str, Any]:
        if isinstance(schema, Mapping):
            return dict(schema)
        return dict(self._refs[(id(schema), mode)])

    def request(self, body: Json) -> dict[str, Any]:
        schema = self.of(body.schema, "validation")
        if not (body.without or body.optional or body.partial):
            return schema
        without = _wire_names(body.schema, body.without)
        optional = _wire_names(body.schema, body.optional)
        return self._loosened(schema, without, without | optional, body.partial)

    def _loosened(
        self, schema: dict[str, Any], without: set[str], optional: set[str], partial: bool
    ) -> dict[str, Any]:
        """A copy of ``schema`` (its union members too) with fields dropped or made optional."""
        if "$ref" in schema:
            schema = copy.deepcopy(self.components[schema["$ref"].rsplit("/", 1)[-1]])
        for union in ("oneOf", "anyOf"):
            if union in schema:
                schema[union] = [
                    self._loosened(dict(s), without, optional, partial) for s in schema[union]
                ]
                schema.pop("discriminator", None)  # its mapping names the strict members
                return schema
        for name in without:
            schema.get("properties", {}).pop(name, None)
        required = [n for n in schema.get("required", []) if n not in optional]
        if partial or not required:
            schema.pop("required", None)
        else:
            schema["required"] = required
        return schema


def _wire_names(kind: Any, names: Iterable[str]) -> set[str]:
    """The JSON names of a model's fields (their aliases); other types' names as given."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return {kind.model_fields[name].alias or name for name in names}
    return set(names)


def _content(answer: Json | Media, schemas: _Schemas) -> dict[str, Any]:
    if isinstance(answer, Media):
        return {media: {"schema": dict(answer.schema)} for media in answer.media_types}
    content = {answer.media_type: {"schema": schemas.of(answer.schema, "serialization")}}
    for other in answer.also:
        content.update(_content(other, schemas))
    return content


def _operation(method: str, path: str, operation: Operation, schemas: _Schemas) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        spec["description"] = operation.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(path)
    ]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "description": p.description,
            "schema": dict(p.schema),
        }
        for p in operation.query
    ]
    if parameters:
        spec["parameters"] = parameters
    if operation.body is not None:
        spec["requestBody"] = {
            "required": operation.body_required,
            "content": {operation.body.media_type: {"schema": schemas.request(operation.body)}},
        }
    responses: dict[str, Any] = {}
    for status, answer in sorted(operation.answers.items()):
        responses[str(status)] = {"description": _REASONS.get(status, "answer")}
        if answer is not None:
            responses[str(status)]["content"] = _content(answer, schemas)
    for status in sorted(_problem_statuses(path, operation) - set(operation.answers)):
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    spec["responses"] = responses
    spec["security"] = [{name: []} for name in operation.security]
    return spec


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", path.replace("{", "by-"))
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words if w != "api")


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "The request cannot be read",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "The body is too large",
    415: "Unsupported media type",
    422: "The input is refused (every refused field in errors)",
    429: "Too many requests (Retry-After)",
    500: "Internal error",
    502: "A connected system failed",
    503: "Unavailable; try again later (Retry-After)",
}


def build_document(
    operations: Mapping[tuple[str, str], Operation], tags: Mapping[str, str]
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (keyed by method and path), their tags
    in the reader's order (name -> description)."""
    schemas = _Schemas(operations.values())
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), operation in sorted(operations.items(), key=lambda i: (i[0][1], i[0][0])):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, operation, schemas)
    problem = {"schema": schemas.of(ProblemBody, "serialization")}
    statuses = sorted(
        {s for (_, path), op in operations.items() for s in _problem_statuses(path, op)}
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crmcard",
            "version": "1",
            "description": "Customer cards from your CRMs for contact-center agents in "
            "Microsoft Teams: the platform's webhook and lookup, the tenant admin API, the "
            "tab's API. Every error is an RFC 9457 application/problem+json body.",
        },
        "tags": [{"name": name, "description": text} for name, text in tags.items()],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": {
                f"Problem{status}": {
                    "description": _REASONS.get(status, "error"),
                    "content": {PROBLEM_MEDIA_TYPE: problem},
                }
                for status in statuses
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
