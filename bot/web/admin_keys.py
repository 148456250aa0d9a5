"""Platform keys over the admin API: the tenant's admins issue the ``X-Api-Key`` their
contact-center platform sends (webhook, caller lookup, workflows).

* ``POST /api/admin/keys`` -- body ``{"name": ..., "expiresAt": ...?}``; 201 with the key
  (``key``), shown this once
* ``GET /api/admin/keys`` -- ``{"keys": [...]}``, revoked ones included, never a key
* ``GET /api/admin/keys/{keyId}``
* ``DELETE /api/admin/keys/{keyId}`` -- revoke, at once on every instance; 204
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import ConfigDict, Field

from bot.adapters.inbound import json_model
from bot.domain.api_model import ApiModel
from bot.i18n import t
from bot.services import platform_keys
from bot.services.platform_keys import NewKey, PlatformKey
from bot.web.admin_auth import admin_of
from bot.web.answers import model_response
from bot.web.interactions import CONTEXT


class PublicKey(ApiModel):
    """A platform key as the admin API shows it: never the key, not even its digest."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, record: PlatformKey) -> PublicKey:
        return cls.model_validate(record)


class IssuedKey(PublicKey):
    """``POST /api/admin/keys``: the new key's record and the key itself, shown this once."""

    key: str = Field(description="the key itself, shown this once")


class KeyList(ApiModel):
    keys: list[PublicKey]


async def create_key(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    asked = await json_model(request, NewKey, t("invalid key"))
    ctx = request.app[CONTEXT]
    record, key = await platform_keys.create(
        ctx.store, admin.tenant_id, asked, admin.actor, ctx.clock()
    )
    issued = IssuedKey.model_validate({**dict(PublicKey.of(record)), "key": key})
    return model_response(issued, status=201)


async def list_keys(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    found = await platform_keys.list_keys(request.app[CONTEXT].store, admin.tenant_id)
    return model_response(KeyList(keys=[PublicKey.of(k) for k in found]))


async def get_key(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    ctx = request.app[CONTEXT]
    record = await platform_keys.get(ctx.store, admin.tenant_id, request.match_info["keyId"])
    return model_response(PublicKey.of(record))


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
