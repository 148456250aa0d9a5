"""``GET /api/admin/health``: the admin's overview of how crmcard fares for their tenant.

Read-only. Answers :class:`bot.services.health.TenantHealth` (camelCase): the consent
state, each CRM connection's last test, circuit state and recent error rate, and the
share of recent interactions whose caller was identified. Circuits, error rates and the
identification rate are the answering instance's; the last test is the tenant's.
"""

from __future__ import annotations

from aiohttp import web

from bot.services import health
from bot.web.admin_auth import admin_tenant
from bot.web.admin_crm import CRM_CONFIGS, CRM_DIRECTORY
from bot.web.interactions import CONTEXT, SETTINGS


async def get_health(request: web.Request) -> web.Response:
    tenant_id = await admin_tenant(request)
    ctx = request.app[CONTEXT]
    directory = request.app[CRM_DIRECTORY]
    answer = await health.tenant_health(
        ctx.store,
        request.app[SETTINGS],
        tenant_id,
        await request.app[CRM_CONFIGS].list(tenant_id),
        directory.live(tenant_id),
        ctx.callers,
        ctx.clock(),
    )
    return web.json_response(answer.model_dump(mode="json", by_alias=True))


def setup_admin_health(app: web.Application) -> None:
    app.router.add_get("/api/admin/health", get_health)
