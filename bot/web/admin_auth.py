"""Authentication of the admin API: a per-tenant admin key in ``X-Admin-Key``.

The key decides the tenant, so an admin of tenant A can never name tenant B. Kept apart
from the contact-center platform's webhook key: the platform cannot reconfigure CRMs.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.adapters.inbound import header
from bot.errors import Unauthorized
from bot.settings import Settings

SETTINGS_KEY = web.AppKey("admin_settings", Settings)


def admin_tenant(request: web.Request) -> str:
    """The tenant whose admin key the request carries; raises :class:`Unauthorized` otherwise."""
    tenant_id = admin_key_tenant(request.app[SETTINGS_KEY], header(request, "X-Admin-Key"))
    if tenant_id is None:
        raise Unauthorized("missing or unknown X-Admin-Key")
    return tenant_id


def admin_key_tenant(settings: Settings, presented: str) -> str | None:
    """The tenant an admin key belongs to, or None."""
    for tenant_id, key in settings.admin_keys.items():
        if presented and hmac.compare_digest(key.get_secret_value().encode(), presented.encode()):
            return tenant_id
    return None
