"""A card click renders in the agent's language without reading it: the interaction keeps
a copy, refreshed when the agent's language changes (chosen in the chat, or a Teams
client in another language)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from bot.domain.interactions import Interaction
from bot.i18n import AgentLocale
from bot.services import keys
from bot.services.store import read_model
from bot.web.interactions import CONTEXT
from tests.activities import TENANT, message
from tests.bot.test_customer_card_flow import call_card, invoke, record_action, texts
from tests.connector import FakeConnector

Client = TestClient[Any, Any]

LINKED = {
    "en": "Linked: this interaction is written here when it ends.",
    "de": "Verknüpft: Diese Interaktion wird bei ihrem Ende hierhin geschrieben.",
    "fr": "Associée : cette interaction sera écrite ici à sa fin.",
}


async def _stored(client: Client) -> Interaction:
    ctx = client.app[CONTEXT]
    found = await read_model(ctx.store, keys.interaction(TENANT, "call-1"), Interaction)
    assert found is not None
    return found


async def _say(client: Client, url: str, text: str, **fields: Any) -> None:
    response = await client.post("/api/messages", json={**message(url, text), **fields})
    assert response.status in (200, 201), await response.text()


async def _link_toggle(client: Client, url: str, card: dict[str, Any]) -> dict[str, Any]:
    """Link the contact (or unlink it when linked): the answer card."""
    for verb in ("link", "unlink"):
        try:
            action = record_action(card, verb, "contact:C-2001")
        except AssertionError:
            continue
        answer: dict[str, Any] = (await invoke(client, url, verb, action["data"]))["value"]
        return answer
    raise AssertionError("neither link nor unlink on the card")


async def test_the_interaction_keeps_the_agents_locale_from_its_start(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await call_card(bot_client, url, fake)
    assert (await _stored(bot_client)).agent_locale == AgentLocale.of("en-US")


async def test_a_language_chosen_in_the_chat_reaches_the_open_cards_next_click(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    card = await call_card(bot_client, url, fake)
    revision = (await _stored(bot_client)).revision

    await _say(bot_client, url, "language de")
    stored = await _stored(bot_client)
    assert stored.agent_locale is not None and stored.agent_locale.language == "de"
    assert stored.revision == revision  # the card shown is not stale for it
    german = await _link_toggle(bot_client, url, card)
    assert LINKED["de"] in texts(german)

    await _say(bot_client, url, "language fr")
    french = await _link_toggle(bot_client, url, german)
    assert "Dissociée : rien ne sera écrit ici." in texts(french)  # it unlinked


async def test_a_teams_client_in_another_language_reaches_the_open_cards_next_click(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    card = await call_card(bot_client, url, fake)
    await _say(bot_client, url, "help", locale="fr-FR")
    assert (await _stored(bot_client)).agent_locale == AgentLocale.of("fr-FR")
    assert LINKED["fr"] in texts(await _link_toggle(bot_client, url, card))
