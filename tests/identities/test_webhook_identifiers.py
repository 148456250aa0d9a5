"""Identifiers as European contact centers send them, through the real webhook route:
read with the tenant's default region and per channel, kept as typed when unreadable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.domain.cards import CustomerCard
from bot.services import keys
from bot.services.store import read_model
from bot.web.interactions import CONTEXT
from tests.activities import installed, interaction_event
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
KEY = {"X-Api-Key": "demo-key"}
ADMIN = {"X-Admin-Key": "demo-admin-key"}


async def set_region(client: Client, region: str) -> None:
    response = await client.put("/api/admin/tenant", json={"defaultRegion": region}, headers=ADMIN)
    assert response.status == 200, await response.text()


async def post_event(
    client: Client, interaction_id: str, channel: str, customer: dict[str, str]
) -> dict[str, Any]:
    payload = interaction_event(interaction_id, "assigned", channel=channel, customer=customer)
    response = await client.post("/api/interactions", json=payload, headers=KEY)
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def card_of(client: Client, card_id: str) -> CustomerCard:
    store = client.server.app[CONTEXT].store
    card = await read_model(store, keys.card("demo-tenant", card_id), CustomerCard)
    assert card is not None
    return card


@pytest.mark.parametrize(
    ("region", "channel", "typed", "e164"),
    [
        ("DE", "voice", "030 1234567", "+49301234567"),
        ("DE", "voice", "0151 23456789", "+4915123456789"),
        ("DE", "whatsapp", "4915123456789", "+4915123456789"),
        ("DE", "voice", "+49 (0)30 123456", "+4930123456"),
        ("FR", "voice", "01 23 45 67 89", "+33123456789"),
        ("FR", "sms", "33612345678", "+33612345678"),
        ("GB", "voice", "020 7946 0958", "+442079460958"),
        ("GB", "whatsapp", "447911123456", "+447911123456"),
        ("US", "voice", "(415) 555-0100", "+14155550100"),
        ("US", "sms", "14155550100", "+14155550100"),
        ("US", "whatsapp", "4915123456789", "+4915123456789"),
    ],
)
async def test_numbers_are_read_with_the_tenant_region_and_the_channel(
    bot_client: Client, region: str, channel: str, typed: str, e164: str
) -> None:
    await set_region(bot_client, region)
    body = await post_event(bot_client, "i-1", channel, {"phone": typed, "name": "Anna Weber"})
    card = await card_of(bot_client, body["cardId"])
    assert [i.identifier.value for i in card.identities] == [e164]


async def test_national_and_international_forms_find_one_card(bot_client: Client) -> None:
    await set_region(bot_client, "DE")
    first = await post_event(bot_client, "i-1", "voice", {"phone": "030 1234567"})
    again = await post_event(bot_client, "i-2", "voice", {"phone": "+49 30 1234567"})
    assert first["cardId"] == again["cardId"]


async def test_region_change_applies_to_the_next_event(bot_client: Client) -> None:
    us = await post_event(bot_client, "i-1", "voice", {"phone": "020 7946 0958"})
    await set_region(bot_client, "GB")
    gb = await post_event(bot_client, "i-2", "voice", {"phone": "020 7946 0958"})
    assert us["cardId"] != gb["cardId"]
    card = await card_of(bot_client, gb["cardId"])
    assert card.identities[0].identifier.value == "+442079460958"


async def test_an_unreadable_number_is_kept_flagged_and_shown_on_the_card(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await bot_client.post("/api/messages", json=installed(url))
    body = await post_event(bot_client, "i-1", "voice", {"phone": "ask for Mr. Dubois"})
    assert body["state"] == "assigned"
    [identity] = (await card_of(bot_client, body["cardId"])).identities
    assert (identity.identifier.readable, identity.identifier.shown) == (
        False,
        "ask for Mr. Dubois",
    )
    again = await post_event(bot_client, "i-2", "voice", {"phone": "ask for Mr. Dubois "})
    assert again["cardId"] == body["cardId"]
    card = fake.cards()[-1].card
    assert "ask for Mr. Dubois (unreadable)" in json.dumps(card, ensure_ascii=False)


async def test_email_variants_of_one_mailbox_find_one_card_shown_as_given(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await bot_client.post("/api/messages", json=installed(url))
    first = await post_event(bot_client, "i-1", "email", {"email": "Ann.Lee+orders@GoogleMail.com"})
    again = await post_event(bot_client, "i-2", "email", {"email": "annlee@gmail.com"})
    assert first["cardId"] == again["cardId"]
    card = await card_of(bot_client, first["cardId"])
    assert [i.identifier.shown for i in card.identities] == ["Ann.Lee+orders@GoogleMail.com"]
    assert "Ann.Lee+orders@GoogleMail.com" in json.dumps(fake.cards()[-1].card)
