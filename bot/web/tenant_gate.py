"""The tenant gate for key-authenticated routes (the platform's API and the admin API).

Those routes learn their tenant from the key they are given (``X-Api-Key`` for
``/api/interactions``, ``/api/workflows/...``; ``X-Admin-Key`` for ``/api/admin/...``), so
the gate can decide before the handler runs: a valid key of a tenant without admin
consent gets a 401 that says so, and the handler never sees the request. Unknown keys
pass through to the handler, which refuses them itself. The tab checks the gate in
``tab_identity`` and the bot in ``CrmCardBot.on_turn``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.adapters.inbound import header
from bot.services.tenants import check_tenant
from bot.web.admin_auth import admin_key_tenant
from bot.web.interactions import CONTEXT, SETTINGS, tenant_for_key


async def key_tenant(request: web.Request) -> str | None:
    """The tenant a gated route's key names, or None (not a gated route, or no known key).

    ``/api/admin/...`` is decided by ``X-Admin-Key``; every other ``/api/...`` route but the
    Bot Framework's (``/api/messages``, JWT) and the tab's (``/api/tab/...``, SSO) by
    ``X-Api-Key``: the platform webhook, workflow execution and whatever joins them.
    """
    settings = request.app[SETTINGS]
    path = request.path
    if path == "/api/admin" or path.startswith("/api/admin/"):
        return admin_key_tenant(settings, header(request, "X-Admin-Key"))
    if not path.startswith("/api/") or path == "/api/messages" or path.startswith("/api/tab/"):
        return None
    return await tenant_for_key(request, header(request, "X-Api-Key"))


@web.middleware
async def tenant_gate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if settings.tenant_gate_enabled:
        tenant_id = await key_tenant(request)
        if tenant_id is not None:
            await check_tenant(request.app[CONTEXT].store, settings, tenant_id)
    return await handler(request)
