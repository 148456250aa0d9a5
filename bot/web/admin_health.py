"""``GET /api/admin/health``: the admin's overview of how crmcard fares for their tenant.

Read-only. Answers :class:`bot.services.health.TenantHealth` (camelCase): the consent
state, each CRM connection's last test, circuit state and recent error rate, and the
share of recent interactions whose caller was identified. Circuits are the answering
instance's; error rates and the identification rate add up every instance's counts
(:mod:`bot.services.instance_counts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from bot.services import health, instance_counts
from bot.web.admin_auth import admin_tenant
from bot.web.admin_crm import CRM_CONFIGS, CRM_DIRECTORY
from bot.web.interactions import CONTEXT, SETTINGS

COUNTS = web.AppKey("instance_counts", instance_counts.Publisher)
log = logging.getLogger(__name__)


async def get_health(request: web.Request) -> web.Response:
    tenant_id = await admin_tenant(request)
    ctx = request.app[CONTEXT]
    directory = request.app[CRM_DIRECTORY]
    now = ctx.clock()
    window = timedelta(seconds=ctx.callers.bucket_seconds * ctx.callers.buckets)  # the longest
    answer = await health.tenant_health(
        ctx.store,
        request.app[SETTINGS],
        tenant_id,
        await request.app[CRM_CONFIGS].list(tenant_id),
        directory.live(tenant_id),
        ctx.callers,
        now,
        await instance_counts.of_others(ctx.store, tenant_id, ctx.instance_id, now, window),
    )
    return web.json_response(answer.model_dump(mode="json", by_alias=True))


def setup_admin_health(app: web.Application) -> None:
    app.router.add_get("/api/admin/health", get_health)
    app.cleanup_ctx.append(share_counts)


async def share_counts(app: web.Application) -> AsyncIterator[None]:
    """Share this instance's counts with the others (:mod:`bot.services.instance_counts`),
    once a minute and once more at shutdown, so a restart loses none of them."""
    ctx, directory = app[CONTEXT], app[CRM_DIRECTORY]
    counts = instance_counts.Publisher(
        ctx.store,
        lambda: {*ctx.callers.tenants(), *directory.tenants()},
        lambda tenant_id, at: health.counted_here(
            ctx.instance_id, ctx.callers, directory.live(tenant_id), tenant_id, at
        ),
        ctx.clock,
    )
    app[COUNTS] = counts
    task = asyncio.create_task(counts.keep_publishing(), name="instance counts")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    try:
        await counts.publish()
    except Exception:  # the store going away: this instance's last minute is not shared
        log.warning("sharing this instance's counts at shutdown failed", exc_info=True)
