"""The tenant gate for key-authenticated routes (the platform's API and the admin API).

Those routes learn their tenant from the key they are given (``X-Api-Key`` for
``/api/interactions``, ``/api/workflows/...``; ``X-Admin-Key`` for ``/api/admin/...``), so
the gate can decide before the handler runs: a valid key of a tenant without admin
consent gets a 401 that says so, and the handler never sees the request. Unknown keys
pass through to the handler, which refuses them itself. The tab checks the gate in
``tab_identity`` and the bot in ``CrmCardBot.on_turn``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.services.tenants import TenantNotConsented, check_tenant
from bot.settings import Settings
from bot.web.errors import problem
from bot.web.interactions import CONTEXT, SETTINGS, tenant_for_key


def _admin_key_tenant(settings: Settings, presented: str) -> str | None:
    for tenant_id, key in settings.admin_keys.items():
        if presented and hmac.compare_digest(key.get_secret_value().encode(), presented.encode()):
            return tenant_id
    return None


def key_tenant(request: web.Request) -> str | None:
    """The tenant a gated route's key names, or None (not a gated route, or no known key).

    ``/api/admin/...`` is decided by ``X-Admin-Key``; every other ``/api/...`` route but the
    Bot Framework's (``/api/messages``, JWT) and the tab's (``/api/tab/...``, SSO) by
    ``X-Api-Key``: the platform webhook, workflow execution and whatever joins them.
    """
    settings = request.app[SETTINGS]
    path = request.path
    if path == "/api/admin" or path.startswith("/api/admin/"):
        return _admin_key_tenant(settings, request.headers.get("X-Admin-Key", ""))
    if not path.startswith("/api/") or path == "/api/messages" or path.startswith("/api/tab/"):
        return None
    presented = request.headers.get("X-Api-Key", "")
    return tenant_for_key(settings, presented) if presented else None


@web.middleware
async def tenant_gate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if settings.tenant_gate_enabled:
        tenant_id = key_tenant(request)
        if tenant_id is not None:
            try:
                await check_tenant(request.app[CONTEXT].store, settings, tenant_id)
            except TenantNotConsented as refused:
                return problem(401, str(refused))
    return await handler(request)
