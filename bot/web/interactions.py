"""``POST /api/interactions``: the contact-center platform's webhook for interaction events.

Authenticated by the tenant's API key (``X-Api-Key``): the key decides the tenant, the
payload cannot.
"""

from __future__ import annotations

import hmac
import json

from aiohttp import web
from pydantic import ValidationError

from bot.domain.errors import DomainError, InvalidTransition
from bot.services import interactions
from bot.services.context import Context
from bot.settings import Settings
from bot.web.errors import invalid_input, problem

CONTEXT = web.AppKey("context", Context)
SETTINGS = web.AppKey("settings", Settings)


def tenant_for_key(settings: Settings, presented: str) -> str | None:
    for tenant_id, key in settings.api_keys.items():
        if hmac.compare_digest(key.get_secret_value().encode(), presented.encode()):
            return tenant_id
    return None


async def post_interaction_event(request: web.Request) -> web.Response:
    tenant_id = tenant_for_key(request.app[SETTINGS], request.headers.get("X-Api-Key", ""))
    if tenant_id is None:
        return problem(401, "missing or unknown X-Api-Key")
    try:
        payload = await request.json()
        event = interactions.InteractionEventIn.model_validate(payload)
    except json.JSONDecodeError as error:
        return problem(400, f"body is not JSON: {error}")
    except ValidationError as error:
        return invalid_input(error, "invalid interaction event")
    try:
        interaction = await interactions.ingest(request.app[CONTEXT], tenant_id, event)
    except InvalidTransition as error:
        return problem(409, str(error))
    except DomainError as error:
        return problem(400, str(error))
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
