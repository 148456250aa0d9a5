"""The tab's API over real HTTP: current card, live events, actions, identity, tenants."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from bot.settings import Settings
from bot.web.app import create_app
from bot.web.tab import HEARTBEAT_SECONDS
from tests.activities import AGENT, interaction_event
from tests.bot.test_customer_card_flow import (
    KEY,
    install,
    invoke,
    record_action,
    start_call,
    texts,
)
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
OTHER_KEY = {"X-Api-Key": "other-key"}


async def next_card(stream: ClientResponse, timeout: float = 5.0) -> dict[str, Any]:
    """The data of the next ``card`` event on an open event stream."""

    async def read() -> dict[str, Any]:
        event = None
        while True:
            line = (await stream.content.readline()).decode()
            if not line:
                raise AssertionError("the event stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "card":
                data: dict[str, Any] = json.loads(line[6:])
                return data

    return await asyncio.wait_for(read(), timeout)


async def test_card_is_empty_before_any_interaction_and_says_development(
    bot_client: Client,
) -> None:
    response = await bot_client.get("/api/tab/card")
    assert response.status == 200
    body = await response.json()
    assert body["mode"] == "development"
    assert body["tenantId"] == "demo-tenant" and body["agentId"] == AGENT
    assert body["card"] is None


async def test_card_shows_the_agents_current_interaction(bot_client: Client) -> None:
    await start_call(bot_client)
    body = await (await bot_client.get("/api/tab/card")).json()
    assert body["interactionId"] == "call-1"
    assert "Current interaction" in texts(body["card"])
    assert "Norland Park Estates" in texts(body["card"])


async def test_events_stream_a_card_when_an_interaction_event_arrives(
    bot_client: Client,
) -> None:
    async with bot_client.get("/api/tab/events") as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        first = await next_card(stream)
        assert first["card"] is None
        payload = interaction_event("call-9", "assigned")
        response = await bot_client.post("/api/interactions", json=payload, headers=KEY)
        assert response.status == 202
        update = await next_card(stream)
        while update["card"] is None:  # the interaction is stored before the inbox names it
            update = await next_card(stream)
        assert update["interactionId"] == "call-9"
        assert "Current interaction" in texts(update["card"])


async def test_events_send_heartbeats(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    app = create_app(settings)
    app[HEARTBEAT_SECONDS] = 0.05
    client: Client = await aiohttp_client(app)
    async with client.get("/api/tab/events") as stream:
        await next_card(stream)
        line = await asyncio.wait_for(stream.content.readline(), 2)
        while line == b"\n":
            line = await asyncio.wait_for(stream.content.readline(), 2)
        assert line == b": heartbeat\n"


async def test_action_links_a_record_and_updates_the_teams_message(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    await start_call(bot_client)
    card = (await (await bot_client.get("/api/tab/card")).json())["card"]
    link = record_action(card, "link", "contact:C-2001")
    sent_before = len(fake.cards())
    response = await bot_client.post(
        "/api/tab/actions", json={"verb": "link", "data": link["data"]}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert record_action(body["card"], "unlink", "contact:C-2001")["title"] == "Linked"
    # The agent's Teams message is updated in place with the same state.
    teams = fake.cards()[sent_before:]
    assert teams and teams[-1].method == "PUT"
    teams_card = teams[-1].card
    assert teams_card is not None
    assert record_action(teams_card, "unlink", "contact:C-2001")


async def test_a_change_made_in_the_bot_reaches_the_tab_live(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    await install(bot_client, url)
    await start_call(bot_client)
    async with bot_client.get("/api/tab/events") as stream:
        first = await next_card(stream)
        link = record_action(first["card"], "link", "contact:C-2001")
        await invoke(bot_client, url, "link", link["data"])
        update = await next_card(stream)
        assert record_action(update["card"], "unlink", "contact:C-2001")


async def test_bad_action_bodies_are_refused(bot_client: Client) -> None:
    await start_call(bot_client)
    response = await bot_client.post(
        "/api/tab/actions", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    response = await bot_client.post("/api/tab/actions", json={"verb": "link"})
    assert response.status == 422
    response = await bot_client.post(
        "/api/tab/actions",
        json={"verb": "link", "data": {"interactionId": "call-1", "rev": "x", "record": "y"}},
    )
    assert response.status == 422


async def test_an_agent_cannot_act_on_another_agents_interaction(bot_client: Client) -> None:
    await start_call(bot_client)
    card = (await (await bot_client.get("/api/tab/card")).json())["card"]
    link = record_action(card, "link", "contact:C-2001")
    response = await bot_client.post(
        "/api/tab/actions?agent=someone-else", json={"verb": "link", "data": link["data"]}
    )
    assert response.status == 403
    card = (await (await bot_client.get("/api/tab/card")).json())["card"]
    assert record_action(card, "link", "contact:C-2001")  # still not linked


async def test_tenants_are_isolated(bot_client: Client) -> None:
    # Tenant B's agent (same object id, other tenant) has a call; tenant A's agent none.
    payload = interaction_event("call-b", "assigned")
    assert (
        await bot_client.post("/api/interactions", json=payload, headers=OTHER_KEY)
    ).status == 202
    b_card = (await (await bot_client.get("/api/tab/card?tenant=other-tenant")).json())["card"]
    assert "Current interaction" in texts(b_card)
    link = record_action(b_card, "link", "contact:C-2001")

    a_view = await (await bot_client.get("/api/tab/card?tenant=demo-tenant")).json()
    assert a_view["card"] is None
    response = await bot_client.post(
        "/api/tab/actions?tenant=demo-tenant", json={"verb": "link", "data": link["data"]}
    )
    assert response.status == 404
    # ... and nothing changed for tenant B.
    after = (await (await bot_client.get("/api/tab/card?tenant=other-tenant")).json())["card"]
    assert record_action(after, "link", "contact:C-2001")

    # Tenant A's event stream hears nothing of tenant B's changes.
    async with bot_client.get("/api/tab/events?tenant=demo-tenant") as stream:
        assert (await next_card(stream))["card"] is None
        more = interaction_event("call-b", "connected", occurred_at="2026-11-23T08:00:05Z")
        await bot_client.post("/api/interactions", json=more, headers=OTHER_KEY)
        with pytest.raises(TimeoutError):
            await next_card(stream, timeout=0.5)


@pytest.fixture
def sso_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "app_id": "11111111-2222-3333-4444-555555555555",
            "app_password": SecretStr("secret"),
            "app_tenant_id": "demo-tenant",
        }
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/tab/card"), ("GET", "/api/tab/events"), ("POST", "/api/tab/actions")],
)
async def test_with_an_app_id_every_tab_route_needs_a_valid_token(
    aiohttp_client: Callable[..., Any], sso_settings: Settings, method: str, path: str
) -> None:
    client: Client = await aiohttp_client(create_app(sso_settings))
    body = {"verb": "link", "data": {"interactionId": "call-1", "rev": 0}}
    no_token = await client.request(method, path, json=body)
    assert no_token.status == 401
    assert no_token.headers["WWW-Authenticate"].startswith("Bearer")
    # Development-mode query parameters mean nothing once an app id is configured,
    # and a token that cannot be validated is refused.
    spoof = await client.request(
        method,
        path + "?tenant=demo-tenant&agent=" + AGENT,
        json=body,
        headers={"Authorization": "Bearer not-a-real-token"},
    )
    assert spoof.status == 401


async def test_pages_and_vendor_scripts_are_served(bot_client: Client) -> None:
    for path in ("/tab", "/tab/config", "/privacy", "/terms"):
        response = await bot_client.get(path)
        assert response.status == 200, path
        assert "text/html" in response.headers["Content-Type"]
        assert "frame-ancestors" in response.headers["Content-Security-Policy"]
    tab = await (await bot_client.get("/tab")).text()
    assert "Development mode — not signed in" in tab
    config = await (await bot_client.get("/tab/config")).text()
    assert "pages.config.setConfig" in config
    for path in (
        "/tab/vendor/adaptivecards.min.js",
        "/tab/vendor/teams-js.min.js",
        "/tab/static/tab.js",
        "/tab/static/tab.css",
        "/icons/link.svg",
    ):
        response = await bot_client.get(path)
        assert response.status == 200, path
    assert (await bot_client.get("/tab/vendor/../../etc/passwd")).status == 404
    assert (await bot_client.get("/tab/vendor/other.js")).status == 404


async def test_the_tab_speaks_the_language_of_its_teams_context(bot_client: Client) -> None:
    await start_call(bot_client)
    query = "/api/tab/card?locale=de-DE&timeZone=Europe/Berlin"
    body = await (await bot_client.get(query)).json()
    assert body["texts"]["lang"] == "de" and body["texts"]["heading"] == "Kundenkarte"
    assert "Aktuelle Interaktion" in texts(body["card"])
    # Remembered for the agent: the next card (here without a locale) stays German.
    again = await (await bot_client.get("/api/tab/card")).json()
    assert "Aktuelle Interaktion" in texts(again["card"]) and "Current interaction" not in texts(
        again["card"]
    )
    french = await (await bot_client.get("/api/tab/card?locale=fr-CH")).json()
    assert french["texts"]["offline"] == "hors ligne"
    assert "Interaction en cours" in texts(french["card"])
