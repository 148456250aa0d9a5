"""Authentication of the admin API: who the admin is, of which tenant, through which door.

A tenant admin is an Entra user of their tenant: the request carries ``Authorization:
Bearer <access token>`` for crmcard's multi-tenant tab/SSO app (audience
``api://<host>/<client id>``, validated like the tab's SSO tokens), from a tenant that
granted admin consent, and the user holds the app role ``crmcard.Admin`` (assigned in
the tenant's enterprise application) or one of the directory roles in
:data:`ADMIN_DIRECTORY_ROLES` (the token's ``wids``). An agent's token gets a 403.

``X-Admin-Key`` remains as the operator's bootstrap (``CRMCARD_ADMIN_KEYS``, compared as
digests, no built-in default outside the demo). The credential decides the tenant, so an
admin of tenant A can never name tenant B; the platform's key cannot reconfigure CRMs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from pydantic import Field

from bot.adapters.inbound import header
from bot.adapters.teams.openid import OpenIdMetadataUnavailable
from bot.adapters.teams.sso import InvalidSsoToken, SsoIdentity
from bot.domain.api_model import ApiModel
from bot.errors import Forbidden, Unauthorized, Unavailable
from bot.i18n import t
from bot.services.audit import Actor, Door
from bot.services.platform_keys import bootstrap_tenant
from bot.services.tenants import check_tenant
from bot.settings import Settings
from bot.web.answers import model_response
from bot.web.interactions import CONTEXT, SETTINGS
from bot.web.tab import SSO_VALIDATOR

log = logging.getLogger(__name__)


ADMIN_APP_ROLE = "crmcard.Admin"
ADMIN_DIRECTORY_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "69091246-20e8-4a56-aa4d-066075b2a7a8": "Teams Administrator",
}


@dataclass(frozen=True)
class Admin:
    """An authenticated tenant admin: the tenant they administer and who they are."""

    tenant_id: str
    actor: Actor
    via: Literal["entra", "bootstrapKey"] = "bootstrapKey"
    name: str | None = None
    roles: tuple[str, ...] = field(default=())
    """Why they are an admin: ``crmcard.Admin`` and/or directory role names."""


def admin_roles(sso: SsoIdentity) -> tuple[str, ...]:
    """The roles in the token that make its user a crmcard admin (empty: an agent)."""
    held = [ADMIN_APP_ROLE] if ADMIN_APP_ROLE in sso.roles else []
    held += [ADMIN_DIRECTORY_ROLES[w] for w in sso.directory_roles if w in ADMIN_DIRECTORY_ROLES]
    return tuple(held)


async def _entra_admin(request: web.Request, token: str) -> Admin:
    try:
        sso = await request.app[SSO_VALIDATOR].validate(token)
    except InvalidSsoToken as error:
        log.info("refused an admin token: %s", error)
        raise Unauthorized(
            t("the Entra token was refused: {error}", error=str(error)), challenge="Bearer"
        ) from None
    except OpenIdMetadataUnavailable as error:
        log.warning("cannot validate admin tokens: %s", error)
        raise Unavailable(t("sign-in cannot be checked just now; try again"), 30) from None
    await check_tenant(request.app[CONTEXT].store, request.app[SETTINGS], sso.tenant_id)
    roles = admin_roles(sso)
    if not roles:
        raise Forbidden(
            t(
                "{who} is not a crmcard admin of this tenant: an administrator assigns the app "
                "role {role} in the tenant's enterprise application (Global and Teams "
                "Administrators are admins already)",
                who=sso.username or sso.object_id,
                role=ADMIN_APP_ROLE,
            )
        )
    who = sso.username or sso.object_id
    return Admin(
        sso.tenant_id, Actor(who, Door.api), via="entra", name=sso.name or who, roles=roles
    )


async def admin_of(request: web.Request) -> Admin:
    """The admin the request is from; :class:`Unauthorized` (or :class:`Forbidden`) if not."""
    authorization = header(request, "Authorization")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return await _entra_admin(request, token.strip())
    tenant_id = admin_key_tenant(request.app[SETTINGS], header(request, "X-Admin-Key"))
    if tenant_id is None:
        raise Unauthorized(
            t(
                "sign in as a tenant admin (Authorization: Bearer <Entra token>) or give the "
                "operator's X-Admin-Key"
            ),
            challenge="Bearer",
        )
    named = header(request, "X-Admin-Actor").strip()[:200]
    actor = f"admin-key:{tenant_id}" + (f":{named}" if named else "")
    return Admin(tenant_id, Actor(actor, Door.api), name=named or None, roles=("operator",))


async def admin_tenant(request: web.Request) -> str:
    """The tenant whose admin the request is from; :class:`Unauthorized` otherwise."""
    return (await admin_of(request)).tenant_id


def admin_key_tenant(settings: Settings, presented: str) -> str | None:
    """The tenant an operator's bootstrap admin key belongs to (compared as digests), or None."""
    configured = {t: k.get_secret_value() for t, k in settings.admin_keys.items()}
    return bootstrap_tenant(configured, presented)


class Me(ApiModel):
    """``GET /api/admin/me``: who the console is signed in as, and why they are an admin."""

    tenant_id: str
    name: str
    actor: str
    via: Literal["entra", "bootstrapKey"]
    roles: list[str] = Field(description="why they are an admin: crmcard.Admin, directory roles")


async def get_me(request: web.Request) -> web.Response:
    """``GET /api/admin/me``: who the console is signed in as, and why they are an admin."""
    admin = await admin_of(request)
    me = Me(
        tenant_id=admin.tenant_id,
        name=admin.name or admin.actor.id,
        actor=admin.actor.id,
        via=admin.via,
        roles=list(admin.roles),
    )
    return model_response(me)
