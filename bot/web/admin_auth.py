"""Authentication of the admin API: who the admin is, of which tenant, through which door.

The credential decides the tenant, so an admin of tenant A can never name tenant B. Kept
apart from the contact-center platform's webhook key: the platform cannot reconfigure CRMs.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.adapters.inbound import header
from bot.errors import Unauthorized
from bot.services.audit import Actor, Door
from bot.services.platform_keys import bootstrap_tenant
from bot.settings import Settings

SETTINGS_KEY = web.AppKey("admin_settings", Settings)


@dataclass(frozen=True)
class Admin:
    """An authenticated tenant admin: the tenant they administer and who they are."""

    tenant_id: str
    actor: Actor


def admin_of(request: web.Request) -> Admin:
    """The admin the request is from; raises :class:`Unauthorized` otherwise."""
    tenant_id = admin_key_tenant(request.app[SETTINGS_KEY], header(request, "X-Admin-Key"))
    if tenant_id is None:
        raise Unauthorized("missing or unknown X-Admin-Key")
    named = header(request, "X-Admin-Actor").strip()[:200]
    actor = f"admin-key:{tenant_id}" + (f":{named}" if named else "")
    return Admin(tenant_id, Actor(actor, Door.api))


def admin_tenant(request: web.Request) -> str:
    """The tenant whose admin the request is from; raises :class:`Unauthorized` otherwise."""
    return admin_of(request).tenant_id


def admin_key_tenant(settings: Settings, presented: str) -> str | None:
    """The tenant an operator's bootstrap admin key belongs to (compared as digests), or None."""
    configured = {t: k.get_secret_value() for t, k in settings.admin_keys.items()}
    return bootstrap_tenant(configured, presented)
