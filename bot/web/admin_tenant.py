"""The tenant's own settings over the admin API (``X-Admin-Key`` decides the tenant).

``GET /api/admin/tenant`` -> ``{"tenantId": ..., "defaultRegion": "DE", "defaultRegionSource":
"tenant" | "deployment"}``; ``PUT /api/admin/tenant`` with ``{"defaultRegion": "DE"}``
replaces the settings (422 with every field error when invalid; audited as
``tenant.settings``) and answers like GET.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from bot.adapters.inbound import json_model
from bot.domain.tenant_settings import TenantSettings
from bot.i18n import t
from bot.services import tenant_settings
from bot.services.context import Context
from bot.web.admin_auth import admin_of, admin_tenant
from bot.web.answers import model_response
from bot.web.interactions import CONTEXT


class TenantAnswer(TenantSettings):
    """``GET|PUT /api/admin/tenant``: the settings in force, and where they come from."""

    tenant_id: str
    default_region_source: Literal["tenant", "deployment"] = Field(
        description="tenant: the tenant chose; deployment: CRMCARD_DEFAULT_REGION"
    )


async def _answer(ctx: Context, tenant_id: str) -> web.Response:
    stored = await tenant_settings.stored_settings(ctx.store, tenant_id)
    current = stored or TenantSettings(default_region=ctx.default_region)
    answer = TenantAnswer(
        **dict(current),
        tenant_id=tenant_id,
        default_region_source="tenant" if stored else "deployment",
    )
    return model_response(answer)


async def get_tenant(request: web.Request) -> web.Response:
    return await _answer(request.app[CONTEXT], await admin_tenant(request))


async def put_tenant(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    chosen = await json_model(request, TenantSettings, t("invalid tenant settings"))
    ctx = request.app[CONTEXT]
    await tenant_settings.put_settings(ctx.store, admin.tenant_id, chosen, admin.actor, ctx.clock())
    ctx.regions.forget(admin.tenant_id)  # the next event here reads it again
    return await _answer(ctx, admin.tenant_id)


def setup_admin_tenant(app: web.Application) -> None:
    app.router.add_get("/api/admin/tenant", get_tenant)
    app.router.add_put("/api/admin/tenant", put_tenant)
