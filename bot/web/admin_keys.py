"""Platform keys over the admin API: the tenant's admins issue the ``X-Api-Key`` their
contact-center platform sends (webhook, caller lookup, workflows).

* ``POST /api/admin/keys`` -- body ``{"name": ..., "expiresAt": ...?}``; 201 with the key
  (``key``), shown this once
* ``GET /api/admin/keys`` -- ``{"keys": [...]}``, revoked ones included, never a key
* ``GET /api/admin/keys/{keyId}``
* ``DELETE /api/admin/keys/{keyId}`` -- revoke, at once on every instance; 204
"""

from __future__ import annotations

from aiohttp import web

from bot.adapters.inbound import json_model
from bot.services import platform_keys
from bot.services.platform_keys import NewKey
from bot.web.admin_auth import admin_of
from bot.web.interactions import CONTEXT


async def create_key(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    asked = await json_model(request, NewKey, "invalid key")
    ctx = request.app[CONTEXT]
    record, key = await platform_keys.create(
        ctx.store, admin.tenant_id, asked, admin.actor, ctx.clock()
    )
    return web.json_response({**record.public(), "key": key}, status=201)


async def list_keys(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    found = await platform_keys.list_keys(request.app[CONTEXT].store, admin.tenant_id)
    return web.json_response({"keys": [k.public() for k in found]})


async def get_key(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    ctx = request.app[CONTEXT]
    record = await platform_keys.get(ctx.store, admin.tenant_id, request.match_info["keyId"])
    return web.json_response(record.public())


async def revoke_key(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    ctx = request.app[CONTEXT]
    await platform_keys.revoke(
        ctx.store, admin.tenant_id, request.match_info["keyId"], admin.actor, ctx.clock()
    )
    return web.Response(status=204)


def setup_admin_keys(app: web.Application) -> None:
    app.router.add_post("/api/admin/keys", create_key)
    app.router.add_get("/api/admin/keys", list_keys)
    app.router.add_get("/api/admin/keys/{keyId}", get_key)
    app.router.add_delete("/api/admin/keys/{keyId}", revoke_key)
