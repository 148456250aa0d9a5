"""The customer card's "Past tickets": a deep link into the Tickets tab for the caller."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.adapters.teams.app_package import package_id
from bot.domain.interactions import Interaction
from bot.services import keys
from bot.services.audit import Actor, Door
from bot.services.rendering import card_for
from bot.services.store import read_model
from bot.services.ticketing.past_tickets import TICKETS_TAB, tab_link
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from bot.web.tickets import TICKETING
from tests.tickets.fakes.zendesk_exports import ZendeskExports, zendesk_config

BOT_ID = "0b7c3c2e-6f4e-4a5b-9c1d-2e3f4a5b6c7d"
API = {"X-Api-Key": "demo-key"}


def event(interaction_id: str, customer: dict[str, str]) -> dict[str, Any]:
    return {
        "interactionId": interaction_id,
        "event": "assigned",
        "occurredAt": datetime(2026, 12, 1, 9, 0, tzinfo=UTC).isoformat(),
        "channel": "voice",
        "agent": {"aadObjectId": "agent-1"},
        "customer": customer,
    }


def past_tickets(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in card.get("actions", []) if a.get("url", "").find(TICKETS_TAB) >= 0]


def test_the_deep_link_names_the_app_the_tickets_tab_and_the_caller() -> None:
    link = tab_link(
        "11111111-2222-4333-8444-555555555555",
        "https://crm.example.com/tab/tickets",
        "email=edward%40example.com&phone=%2B15550100",
        "Frühere Tickets",
    )
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc) == ("https", "teams.microsoft.com")
    assert parts.path == "/l/entity/11111111-2222-4333-8444-555555555555/tickets"
    query = parse_qs(parts.query)
    assert query["label"] == ["Frühere Tickets"]
    context = json.loads(query["context"][0])
    # the tab reads subEntityId (page.subPageId) as a query string
    assert parse_qs(context["subEntityId"]) == {
        "email": ["edward@example.com"],
        "phone": ["+15550100"],
    }
    assert query["webUrl"] == [
        "https://crm.example.com/tab/tickets?email=edward%40example.com&phone=%2B15550100"
    ]
    # without a Teams app (development, the Playground): the page itself
    assert tab_link("", "http://127.0.0.1:3978/tab/tickets", "email=a%40b.c", "x") == (
        "http://127.0.0.1:3978/tab/tickets?email=a%40b.c"
    )


async def test_the_card_offers_past_tickets_when_ticketing_is_on_and_the_caller_is_known(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    fake = ZendeskExports(clock=lambda: datetime.now(UTC).timestamp())
    server = await aiohttp_server(fake.app())
    app = create_app(
        settings.model_copy(
            update={
                "ticket_sync_minutes": 0,
                "public_url": "https://crm.example.com",
                "teams_app_id": package_id(BOT_ID),  # as `crmcard package` derives it
            }
        )
    )
    client = await aiohttp_client(app)
    ctx = app[CONTEXT]

    async def card(interaction_id: str, customer: dict[str, str]) -> dict[str, Any]:
        posted = await client.post(
            "/api/interactions", json=event(interaction_id, customer), headers=API
        )
        assert posted.status == 202, await posted.text()
        key = keys.interaction("demo-tenant", interaction_id)
        interaction = await read_model(ctx.store, key, Interaction)
        assert interaction is not None
        return await card_for(ctx, interaction)

    assert past_tickets(await card("call-1", {"phone": "+1 555 0100"})) == []  # no ticketing

    await app[TICKETING].configs.create(
        zendesk_config(str(server.make_url(""))), Actor("test", Door.cli)
    )
    [action] = past_tickets(
        await card("call-2", {"phone": "+1 555 0100", "email": "Ed@Example.com"})
    )
    assert action["type"] == "Action.OpenUrl" and action["title"] == "Past tickets"
    parts = urlsplit(action["url"])
    assert parts.path == f"/l/entity/{package_id(BOT_ID)}/{TICKETS_TAB}"
    query = parse_qs(parts.query)
    contact = parse_qs(json.loads(query["context"][0])["subEntityId"])
    assert contact == {
        "email": ["ed@example.com"],
        "phone": ["+15550100"],
        "shown": ["+1 5550100, Ed@Example.com"],  # as the card shows them
    }
    assert query["webUrl"][0].startswith("https://crm.example.com/tab/tickets?email=")

    # a caller known only by a handle has no tickets to look up: no button
    assert past_tickets(await card("call-3", {"handle": "someone-123"})) == []
