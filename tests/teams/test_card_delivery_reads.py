"""A card's update goes to the conversation its first delivery found, without reading it
again: on Blob Storage each read of the agent's conversation is a request of its own, and
an interaction's first card and its late CRMs' update are one card. Another card reads it
afresh (the agent may have reinstalled since)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.domain.interactions import Interaction
from bot.services import keys
from bot.services.publisher import Reached
from bot.services.rendering import card_for
from bot.services.store import Document, read_model
from bot.web.interactions import CONTEXT
from tests.bot.test_customer_card_flow import install, start_call
from tests.connector import FakeConnector

Client = TestClient[Any, Any]


async def test_a_cards_update_reads_the_agents_conversation_no_more(
    bot_client: Client, connector: tuple[FakeConnector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = connector
    await install(bot_client, url)
    await start_call(bot_client)
    assert bot_client.app is not None
    ctx = bot_client.app[CONTEXT]
    interaction = await read_model(
        ctx.store, keys.interaction("demo-tenant", "call-1"), Interaction
    )
    assert interaction is not None
    conversation = keys.agent_conversation("demo-tenant", interaction.agent.aad_object_id)
    store = getattr(ctx.store, "_inner", ctx.store)  # under the tab's ObservedStore
    reads: list[str] = []
    read = store.read

    async def counted(key: str) -> Document | None:
        reads.append(key)
        return await read(key)

    monkeypatch.setattr(store, "read", counted)
    card = await card_for(ctx, interaction)
    sent = len(fake.cards())
    reached = Reached()
    assert await ctx.delivery.deliver(interaction, card, reached)  # the first paint
    assert await ctx.delivery.deliver(interaction, card, reached)  # its late CRMs' update
    assert reads.count(conversation) == 1
    assert await ctx.delivery.deliver(interaction, card, Reached())  # another card
    assert reads.count(conversation) == 2
    assert len(fake.cards()) == sent + 3
