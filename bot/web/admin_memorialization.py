"""The admin API for a CRM's memorialization mapping, per tenant by ``X-Admin-Key``.

* ``GET | PUT /api/admin/crms/{settingsId}/memorialization`` -- what a write-back writes
  into that CRM (crmcard field -> CRM field, timeline entry), validated when saved.
"""

from __future__ import annotations

from aiohttp import web

from bot.adapters.inbound import json_object, validated
from bot.domain.memorialization import MemorializationMapping
from bot.errors import NotFound
from bot.i18n import t
from bot.services import outbox
from bot.services.context import Context
from bot.web.admin_auth import admin_of
from bot.web.answers import model_response
from bot.web.interactions import CONTEXT


async def _known_crm(ctx: Context, tenant_id: str, settings_id: str) -> bool:
    return any(c.settings_id == settings_id for c in await ctx.crms.clients(tenant_id))


async def get_mapping(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    ctx: Context = request.app[CONTEXT]
    settings_id = request.match_info["settings_id"]
    if not await _known_crm(ctx, tenant_id, settings_id):
        raise NotFound(t("no CRM configuration {id}", id=repr(settings_id)))
    mapping = await outbox.mapping_for(ctx.store, tenant_id, settings_id)
    return model_response(mapping)


async def put_mapping(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    ctx: Context = request.app[CONTEXT]
    settings_id = request.match_info["settings_id"]
    if not await _known_crm(ctx, tenant_id, settings_id):
        raise NotFound(t("no CRM configuration {id}", id=repr(settings_id)))
    body = await json_object(request)
    mapping = validated(MemorializationMapping, body, t("invalid memorialization mapping"))
    await outbox.save_mapping(ctx.store, tenant_id, settings_id, mapping, admin.actor, ctx.clock())
    return model_response(mapping)


def setup_admin_memorialization(app: web.Application) -> None:
    mapping = "/api/admin/crms/{settings_id}/memorialization"
    app.router.add_get(mapping, get_mapping)
    app.router.add_put(mapping, put_mapping)
