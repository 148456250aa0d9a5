"""Record-creation policies over the admin API (``X-Admin-Key`` decides the tenant).

``GET /api/admin/policies`` lists them; ``GET/PUT/DELETE /api/admin/policies/{queue}``
keeps one queue's policy, ``_default`` being the tenant default for queues without one.
A PUT is validated (unknown title variables are refused here, not when a call arrives).
``POST /api/admin/policies/title-preview`` renders ``{"titleTemplate", "values"?}`` as a
record title would be (``values`` default to a sample; an empty one is a missing value).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ConfigDict, Field

from bot.adapters.inbound import json_model, validated
from bot.domain.api_model import ApiModel
from bot.domain.record_policies import TITLE_SAMPLE, TITLE_VARIABLES, RecordPolicy, render_title
from bot.errors import NotFound
from bot.i18n import t
from bot.services import record_creation
from bot.web.admin_auth import admin_of
from bot.web.interactions import CONTEXT


class TitlePreview(ApiModel):
    """A title template to render, on the given values or the sample."""

    model_config = ConfigDict(extra="forbid")

    title_template: str
    values: dict[str, str] = Field(default_factory=lambda: dict(TITLE_SAMPLE))


def _dump(policy: RecordPolicy) -> dict[str, object]:
    return policy.model_dump(mode="json", by_alias=True)


async def list_policies(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    found = await record_creation.list_policies(request.app[CONTEXT], tenant_id)
    return web.json_response({"policies": {queue: _dump(p) for queue, p in found.items()}})


async def get_policy(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    queue = request.match_info["queue"]
    policy = await record_creation.get_policy(request.app[CONTEXT], tenant_id, queue)
    if policy is None:
        raise NotFound(t("no record-creation policy for queue {queue}", queue=repr(queue)))
    return web.json_response(_dump(policy))


async def put_policy(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    queue = request.match_info["queue"]
    policy = await json_model(request, RecordPolicy, t("invalid record-creation policy"))
    await record_creation.put_policy(request.app[CONTEXT], tenant_id, queue, policy, admin.actor)
    return web.json_response(_dump(policy))


async def preview_title(request: web.Request) -> web.Response:
    await admin_of(request)
    asked = await json_model(request, TitlePreview, t("invalid title preview"))
    template = validated(
        RecordPolicy, {"titleTemplate": asked.title_template}, "invalid title template"
    ).title_template
    return web.json_response(
        {
            "title": render_title(template, asked.values),
            "variables": list(TITLE_VARIABLES),
            "values": {name: asked.values.get(name, "") for name in TITLE_VARIABLES},
        }
    )


async def delete_policy(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    queue = request.match_info["queue"]
    if not await record_creation.delete_policy(request.app[CONTEXT], tenant_id, queue, admin.actor):
        raise NotFound(t("no record-creation policy for queue {queue}", queue=repr(queue)))
    return web.Response(status=204)


def setup_record_policies(app: web.Application) -> None:
    app.router.add_get("/api/admin/policies", list_policies)
    app.router.add_post("/api/admin/policies/title-preview", preview_title)
    app.router.add_get("/api/admin/policies/{queue}", get_policy)
    app.router.add_put("/api/admin/policies/{queue}", put_policy)
    app.router.add_delete("/api/admin/policies/{queue}", delete_policy)
