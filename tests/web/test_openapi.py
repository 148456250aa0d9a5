"""The OpenAPI document: every route of the app is in it, nothing else is, and it is valid.

A route added to the router without an entry in ``bot.web.operations`` fails here, so the
document cannot fall behind the app.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from bot.settings import Settings
from bot.web.api_docs import OPENAPI_PATH, document
from bot.web.app import create_app

Client = TestClient[Any, Any]


def app_settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        writeback_worker=False,
        **changes,
    )


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route but HEAD (aiohttp adds it to every GET)."""
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None:
            continue
        found.add((route.method, resource.canonical))
    return found


def documented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def test_every_route_is_in_the_document_and_nothing_else(tmp_path: Path) -> None:
    app = create_app(app_settings(tmp_path))
    routes, spec = routed(app), documented(document())
    assert routes - spec == set(), "routes without an entry in bot/web/operations.py"
    assert spec - routes == set(), "documented operations that no route serves"


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = document()
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # openapi-spec-validator: raises on the first problem


def test_every_error_answer_is_the_problem_body() -> None:
    spec = document()
    problems = spec["components"]["responses"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if int(status) >= 400 and "$ref" in answer:
                    name = answer["$ref"].rsplit("/", 1)[-1]
                    content = problems[name]["content"]
                    assert list(content) == ["application/problem+json"], (method, path)
            assert "500" in operation["responses"], (method, path)


def test_every_operation_has_a_declared_tag() -> None:
    spec = document()
    declared = [tag["name"] for tag in spec["tags"]]
    used = {op["tags"][0] for item in spec["paths"].values() for op in item.values()}
    assert set(declared) == used


def test_protected_operations_name_their_credentials() -> None:
    spec = document()
    schemes = spec["components"]["securitySchemes"]
    assert {"apiKey", "adminKey", "entra"} <= set(schemes)
    assert schemes["adminKey"] == {**schemes["adminKey"], "in": "header", "name": "X-Admin-Key"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            names = {name for alternative in operation["security"] for name in alternative}
            if path.startswith("/api/admin/"):
                assert names == {"adminKey", "entra"}, (method, path)
            elif path in ("/api/interactions", "/api/lookup"):
                assert names == {"apiKey"}, (method, path)


async def test_the_document_is_served(aiohttp_client: Callable[..., Any], tmp_path: Path) -> None:
    client: Client = await aiohttp_client(create_app(app_settings(tmp_path)))
    response = await client.get(OPENAPI_PATH)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == document()


def _request_schema(path: str, method: str) -> dict[str, Any]:
    operation = document()["paths"][path][method]
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def test_request_bodies_leave_out_what_the_server_sets() -> None:
    created = _request_schema("/api/admin/crms", "post")
    assert not {"tenant_id", "tenantId"} & set(created["properties"])
    assert {"kind", "display_name", "displayName"} & set(created["required"])
    patched = _request_schema("/api/admin/crms/{settings_id}", "patch")
    assert "required" not in patched and patched["properties"]
    workflow = _request_schema("/api/admin/workflows/{workflowId}", "put")
    members = workflow["oneOf"]  # search, create, update, timeline
    assert len(members) == 4
    assert all("id" not in member.get("required", []) for member in members)


def test_an_outbox_item_says_what_it_waits_for() -> None:
    """Every outbox item answers waitingFor: the agent's sign-in, the tenant's consent, or
    null; a client generated from the document knows no other value."""
    spec = document()
    item = spec["components"]["schemas"]["OutboxItemAnswer"]
    assert "waitingFor" in item["required"]
    waiting_for = jsonschema.Draft202012Validator(
        {**item["properties"]["waitingFor"], "components": spec["components"]}
    )
    for value in ("sign-in", "consent", None):
        assert waiting_for.is_valid(value), value
    for value in ("sign_in", "parked", ""):
        assert not waiting_for.is_valid(value), value
