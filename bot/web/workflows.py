"""Workflows over HTTP.

* ``POST /api/workflows/{workflowId}/execute``: a contact-center script runs a workflow;
  authenticated by the tenant's ``X-Api-Key`` (the key decides the tenant).
* ``GET /api/admin/workflows`` and ``GET/PUT/DELETE /api/admin/workflows/{workflowId}``:
  the tenant's admin (``X-Admin-Key``) keeps the definitions; a PUT is validated.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.domain.errors import DomainError
from bot.domain.workflows import (
    ExecuteRequest,
    InvalidInputs,
    UpdateNotSupported,
    WorkflowInvalid,
)
from bot.services import workflows
from bot.web.admin_auth import admin_tenant
from bot.web.errors import invalid_input, problem
from bot.web.interactions import CONTEXT, SETTINGS, tenant_for_key

_STATUS: list[tuple[type[DomainError], int]] = [
    (workflows.UnknownWorkflow, 404),
    (workflows.UnknownInteraction, 404),
    (workflows.RunInProgress, 409),
    (workflows.RequestIdReused, 409),
    (UpdateNotSupported, 422),
    (InvalidInputs, 422),
    (WorkflowInvalid, 422),
    (workflows.NoCrm, 422),
    (workflows.WorkflowFailed, 502),
]


def _status(error: DomainError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


async def _json(request: web.Request) -> tuple[Any, web.Response | None]:
    try:
        return await request.json(), None
    except json.JSONDecodeError as error:
        return None, problem(400, f"body is not JSON: {error}")


async def execute(request: web.Request) -> web.Response:
    tenant_id = tenant_for_key(request.app[SETTINGS], request.headers.get("X-Api-Key", ""))
    if tenant_id is None:
        return problem(401, "missing or unknown X-Api-Key")
    payload, refused = await _json(request)
    if refused is not None:
        return refused
    try:
        body = ExecuteRequest.model_validate(payload)
    except ValidationError as error:
        return invalid_input(error, "invalid workflow request")
    workflow_id = request.match_info["workflowId"]
    try:
        result = await workflows.execute(request.app[CONTEXT], tenant_id, workflow_id, body)
    except DomainError as error:
        return problem(_status(error), str(error), workflowId=workflow_id)
    return web.json_response(result)


async def list_workflows(request: web.Request) -> web.Response:
    tenant_id = admin_tenant(request)
    found = await workflows.list_all(request.app[CONTEXT], tenant_id)
    return web.json_response({"workflows": [workflows.dump(w) for w in found]})


async def get_workflow(request: web.Request) -> web.Response:
    tenant_id = admin_tenant(request)
    workflow_id = request.match_info["workflowId"]
    found = await workflows.get(request.app[CONTEXT], tenant_id, workflow_id)
    if found is None:
        return problem(404, f"no workflow {workflow_id!r}")
    return web.json_response(workflows.dump(found))


async def put_workflow(request: web.Request) -> web.Response:
    tenant_id = admin_tenant(request)
    workflow_id = request.match_info["workflowId"]
    payload, refused = await _json(request)
    if refused is not None:
        return refused
    if not isinstance(payload, dict):
        return problem(400, "a workflow is a JSON object")
    if payload.setdefault("id", workflow_id) != workflow_id:
        return problem(400, "the workflow id in the body differs from the one in the path")
    try:
        saved = await workflows.save(request.app[CONTEXT], tenant_id, payload)
    except DomainError as error:
        return problem(_status(error), str(error), workflowId=workflow_id)
    return web.json_response(workflows.dump(saved))


async def delete_workflow(request: web.Request) -> web.Response:
    tenant_id = admin_tenant(request)
    workflow_id = request.match_info["workflowId"]
    if not await workflows.delete(request.app[CONTEXT], tenant_id, workflow_id):
        return problem(404, f"no workflow {workflow_id!r}")
    return web.Response(status=204)


def setup_workflows(app: web.Application) -> None:
    app.router.add_post("/api/workflows/{workflowId}/execute", execute)
    app.router.add_get("/api/admin/workflows", list_workflows)
    app.router.add_get("/api/admin/workflows/{workflowId}", get_workflow)
    app.router.add_put("/api/admin/workflows/{workflowId}", put_workflow)
    app.router.add_delete("/api/admin/workflows/{workflowId}", delete_workflow)
