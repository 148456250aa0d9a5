"""Authentication of the admin API: a per-tenant admin key in ``X-Admin-Key``.

The key decides the tenant, so an admin of tenant A can never name tenant B. Kept apart
from the contact-center platform's webhook key: the platform cannot reconfigure CRMs.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.settings import Settings
from bot.web.errors import problem

SETTINGS_KEY = web.AppKey("admin_settings", Settings)


def admin_tenant(request: web.Request) -> str:
    """The tenant whose admin key the request carries; raises a 401 response otherwise."""
    presented = request.headers.get("X-Admin-Key", "").encode()
    settings: Settings = request.app[SETTINGS_KEY]
    for tenant_id, key in settings.admin_keys.items():
        if presented and hmac.compare_digest(key.get_secret_value().encode(), presented):
            return tenant_id
    refusal = problem(401, "missing or unknown X-Admin-Key")
    raise web.HTTPUnauthorized(text=refusal.text, content_type="application/json")
