"""The tenant's own settings over the admin API (``X-Admin-Key`` decides the tenant).

``GET /api/admin/tenant`` -> ``{"tenantId": ..., "defaultRegion": "DE", "defaultRegionSource":
"tenant" | "deployment"}``; ``PUT /api/admin/tenant`` with ``{"defaultRegion": "DE"}``
replaces the settings (422 with every field error when invalid) and answers like GET.
"""

from __future__ import annotations

from aiohttp import web

from bot.adapters.inbound import json_model
from bot.domain.tenant_settings import TenantSettings
from bot.services import tenant_settings
from bot.services.context import Context
from bot.web.admin_auth import admin_tenant
from bot.web.interactions import CONTEXT


async def _answer(ctx: Context, tenant_id: str) -> web.Response:
    stored = await tenant_settings.stored_settings(ctx.store, tenant_id)
    current = stored or TenantSettings(default_region=ctx.default_region)
    return web.json_response(
        {
            "tenantId": tenant_id,
            **current.model_dump(mode="json", by_alias=True),
            "defaultRegionSource": "tenant" if stored else "deployment",
        }
    )


async def get_tenant(request: web.Request) -> web.Response:
    return await _answer(request.app[CONTEXT], await admin_tenant(request))


async def put_tenant(request: web.Request) -> web.Response:
    tenant_id = await admin_tenant(request)
    chosen = await json_model(request, TenantSettings, "invalid tenant settings")
    ctx = request.app[CONTEXT]
    await tenant_settings.put_settings(ctx.store, tenant_id, chosen)
    return await _answer(ctx, tenant_id)


def setup_admin_tenant(app: web.Application) -> None:
    app.router.add_get("/api/admin/tenant", get_tenant)
    app.router.add_put("/api/admin/tenant", put_tenant)
