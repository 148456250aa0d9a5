"""``POST /api/interactions``: the contact-center platform's webhook for interaction events.

Authenticated by the tenant's API key (``X-Api-Key``): the key decides the tenant, the
payload cannot.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.adapters.inbound import header, json_model
from bot.errors import Unauthorized
from bot.services import interactions
from bot.services.context import Context
from bot.settings import Settings

CONTEXT = web.AppKey("context", Context)
SETTINGS = web.AppKey("settings", Settings)


def tenant_for_key(settings: Settings, presented: str) -> str | None:
    for tenant_id, key in settings.api_keys.items():
        if hmac.compare_digest(key.get_secret_value().encode(), presented.encode()):
            return tenant_id
    return None


def api_key_tenant(request: web.Request) -> str:
    """The tenant whose platform key ``X-Api-Key`` carries; :class:`Unauthorized` otherwise."""
    tenant_id = tenant_for_key(request.app[SETTINGS], header(request, "X-Api-Key"))
    if tenant_id is None:
        raise Unauthorized("missing or unknown X-Api-Key")
    return tenant_id


async def post_interaction_event(request: web.Request) -> web.Response:
    tenant_id = api_key_tenant(request)
    event = await json_model(request, interactions.InteractionEventIn, "invalid interaction event")
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
