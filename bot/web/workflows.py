"""Workflows over HTTP.

* ``POST /api/workflows/{workflowId}/execute``: a contact-center script runs a workflow;
  authenticated by the tenant's ``X-Api-Key`` (the key decides the tenant).
* ``GET /api/admin/workflows`` and ``GET/PUT/DELETE /api/admin/workflows/{workflowId}``:
  the tenant's admin (``X-Admin-Key``) keeps the definitions; a PUT is validated.
* ``POST /api/admin/workflows/{workflowId}/run``: the same run on the admin's door, to
  try a workflow from the admin console.
"""

from __future__ import annotations

from aiohttp import web

from bot.adapters.inbound import json_model, json_object
from bot.domain.workflows import ExecuteRequest
from bot.errors import FieldError, InvalidInput, NotFound
from bot.i18n import t
from bot.services import workflows
from bot.web.admin_auth import admin_of
from bot.web.interactions import CONTEXT, api_key_tenant


async def execute(request: web.Request) -> web.Response:
    return await _run(request, await api_key_tenant(request))


async def run(request: web.Request) -> web.Response:
    return await _run(request, (await admin_of(request)).tenant_id)


async def _run(request: web.Request, tenant_id: str) -> web.Response:
    body = await json_model(request, ExecuteRequest, t("invalid workflow request"))
    workflow_id = request.match_info["workflowId"]
    result = await workflows.execute(request.app[CONTEXT], tenant_id, workflow_id, body)
    return web.json_response(result)


async def list_workflows(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    found = await workflows.list_all(request.app[CONTEXT], tenant_id)
    return web.json_response({"workflows": [workflows.dump(w) for w in found]})


async def get_workflow(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    workflow_id = request.match_info["workflowId"]
    found = await workflows.get(request.app[CONTEXT], tenant_id, workflow_id)
    if found is None:
        raise NotFound(t("no workflow {id}", id=repr(workflow_id)))
    return web.json_response(workflows.dump(found))


async def put_workflow(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    workflow_id = request.match_info["workflowId"]
    payload = await json_object(request)
    if payload.setdefault("id", workflow_id) != workflow_id:
        raise InvalidInput(
            t("the workflow id in the body differs from the one in the path"),
            [FieldError(loc=["id"], msg=t("must be the id in the path"), type="value_error")],
        )
    saved = await workflows.save(request.app[CONTEXT], tenant_id, payload, admin.actor)
    return web.json_response(workflows.dump(saved))


async def delete_workflow(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    workflow_id = request.match_info["workflowId"]
    if not await workflows.delete(request.app[CONTEXT], tenant_id, workflow_id, admin.actor):
        raise NotFound(t("no workflow {id}", id=repr(workflow_id)))
    return web.Response(status=204)


def setup_workflows(app: web.Application) -> None:
    app.router.add_post("/api/workflows/{workflowId}/execute", execute)
    app.router.add_get("/api/admin/workflows", list_workflows)
    app.router.add_get("/api/admin/workflows/{workflowId}", get_workflow)
    app.router.add_put("/api/admin/workflows/{workflowId}", put_workflow)
    app.router.add_delete("/api/admin/workflows/{workflowId}", delete_workflow)
    app.router.add_post("/api/admin/workflows/{workflowId}/run", run)
