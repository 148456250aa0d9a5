"""``POST /api/interactions``: the contact-center platform's webhook for interaction events.

Authenticated by the tenant's API key (``X-Api-Key``): the key decides the tenant, the
payload cannot.
"""

from __future__ import annotations

from aiohttp import web

from bot.adapters.inbound import header, json_model
from bot.errors import Unauthorized
from bot.i18n import t
from bot.services import interactions, platform_keys
from bot.services.context import Context
from bot.services.platform_keys import KeyAuthenticator
from bot.settings import Settings

CONTEXT = web.AppKey("context", Context)
SETTINGS = web.AppKey("settings", Settings)


KEY_AUTH = web.AppKey("platform_keys", KeyAuthenticator)


async def tenant_for_key(request: web.Request, presented: str) -> str | None:
    """The tenant of a platform key: one its admins issued, or an operator's bootstrap key."""
    if not presented:
        return None
    configured = {t: k.get_secret_value() for t, k in request.app[SETTINGS].api_keys.items()}
    tenant_id = platform_keys.bootstrap_tenant(configured, presented)
    if tenant_id is not None:
        return tenant_id
    return await request.app[KEY_AUTH].tenant_of(presented, request.app[CONTEXT].clock())


async def api_key_tenant(request: web.Request) -> str:
    """The tenant whose platform key ``X-Api-Key`` carries; :class:`Unauthorized` otherwise."""
    tenant_id = await tenant_for_key(request, header(request, "X-Api-Key"))
    if tenant_id is None:
        raise Unauthorized(t("missing, unknown, expired or revoked X-Api-Key"))
    return tenant_id


async def post_interaction_event(request: web.Request) -> web.Response:
    tenant_id = await api_key_tenant(request)
    event = await json_model(
        request, interactions.InteractionEventIn, t("invalid interaction event")
    )
    interaction = await interactions.ingest(request.app[CONTEXT], tenant_id, event)
    return web.json_response(
        {
            "interactionId": interaction.id,
            "cardId": interaction.card_id,
            "state": interaction.state.value if interaction.state else None,
            "revision": interaction.revision,
            "writebackDue": interaction.writeback_due,
        },
        status=202,
    )
