"""Merging Edward's phone and email cards from the card, and undoing it, over HTTP."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from bot.services import audit, keys
from bot.services.audit import AuditQuery, Door
from bot.web.app import CONTEXT
from tests.activities import TENANT, interaction_event
from tests.bot.test_customer_card_flow import KEY, actions, install, invoke, start_call, texts
from tests.connector import FakeConnector

Client = TestClient[Any, Any]


async def start_email(client: Client, interaction_id: str = "mail-1") -> dict[str, Any]:
    response = await client.post(
        "/api/interactions",
        json=interaction_event(
            interaction_id,
            "assigned",
            channel="email",
            customer={"email": "edward.ferrars@example.com"},
        ),
        headers=KEY,
    )
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def documents(client: Client, prefix: str) -> dict[str, Any]:
    """Every stored document under ``prefix`` of the demo tenant, parsed."""
    store = client.app[CONTEXT].store
    found: dict[str, Any] = {}
    async for key in store.keys(keys.tenant_prefix(TENANT) + prefix):
        document = await store.read(key)
        assert document is not None
        found[key] = json.loads(document.data)
    return found


async def cards_and_index(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    return await documents(client, "cards/"), await documents(client, "card-index/")


async def open_merge(client: Client, url: str, card: dict[str, Any]) -> dict[str, Any]:
    """From the customer card to a merged card: Merge, pick the top candidate, confirm."""
    [merge] = actions(card, "merge")
    listed = (await invoke(client, url, "merge", merge["data"]))["value"]
    pick = actions(listed, "mergeConfirm")[0]
    confirm = (await invoke(client, url, "mergeConfirm", pick["data"]))["value"]
    [do] = actions(confirm, "mergeDo")
    return do


async def test_merge_edward_cards_then_undo(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    phone = await start_call(bot_client, "call-1")
    email = await start_email(bot_client)
    assert phone["cardId"] != email["cardId"]
    before = await cards_and_index(bot_client)
    assert len(before[0]) == 2
    phone_card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    [merge] = actions(phone_card, "merge")

    listed = (await invoke(bot_client, url, "merge", merge["data"]))["value"]
    assert "Possible duplicates" in texts(listed)
    [pick] = actions(listed, "mergeConfirm")
    assert pick["data"]["otherCardId"] == email["cardId"]
    assert "Same CRM contact: Edward Ferrars" in texts(listed)

    confirm = (await invoke(bot_client, url, "mergeConfirm", pick["data"]))["value"]
    assert "edward.ferrars@example.com" in texts(confirm)
    assert "The open card is kept" in texts(confirm)
    [do] = actions(confirm, "mergeDo")

    done = (await invoke(bot_client, url, "mergeDo", do["data"]))["value"]
    merged = "Merged Edward Ferrars (Channels: Email; Email: edward.ferrars@example.com"
    assert merged in texts(done)
    [undo] = actions(done, "mergeUndo")
    assert "+1 5550100" in texts(done) and "edward.ferrars@example.com" in texts(done)
    # Teams retries the invoke: same answer, no second merge.
    again = (await invoke(bot_client, url, "mergeDo", do["data"]))["value"]
    assert actions(again, "mergeUndo")[0]["data"]["auditId"] == undo["data"]["auditId"]

    merged_cards, merged_index = await cards_and_index(bot_client)
    assert all(e["card_id"] == phone["cardId"] for e in merged_index.values())
    survivor = merged_cards[keys.card(TENANT, phone["cardId"])]
    assert survivor["interaction_ids"] == ["call-1", "mail-1"]
    mail_interaction = (await documents(bot_client, "interactions/"))[
        keys.interaction(TENANT, "mail-1")
    ]
    assert mail_interaction["card_id"] == phone["cardId"]

    undone = (await invoke(bot_client, url, "mergeUndo", undo["data"]))["value"]
    assert "Merge undone" in texts(undone)
    assert "edward.ferrars@example.com" not in texts(undone)
    retried = (await invoke(bot_client, url, "mergeUndo", undo["data"]))["value"]
    assert "Merge undone" in texts(retried)
    # Two cards again, exactly as before, index and all, except that a merge has held
    # them: their markers are read from now on.
    before_cards, before_index = before
    assert all(card["never_merged"] for card in before_cards.values())
    held = {key: {**card, "never_merged": False} for key, card in before_cards.items()}
    assert await cards_and_index(bot_client) == (held, before_index)
    assert (await documents(bot_client, "interactions/"))[keys.interaction(TENANT, "mail-1")][
        "card_id"
    ] == email["cardId"]
    mail3 = await start_email(bot_client, "mail-3")
    assert mail3["cardId"] == email["cardId"]
    # The merge and its undo are in the audit stream once each, retries or not.
    assert bot_client.app is not None
    merges = await audit.query(bot_client.app[CONTEXT].store, TENANT, AuditQuery(kind="card"))
    assert [(e.kind, e.door, e.target) for e in merges] == [
        ("card.merge", Door.teams, phone["cardId"]),
        ("card.mergeUndo", Door.teams, phone["cardId"]),
    ]
    assert merges[0].details["absorbedCardId"] == email["cardId"]


async def test_interaction_after_merge_stays_on_survivor_after_undo(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    phone = await start_call(bot_client, "call-1")
    email = await start_email(bot_client)
    phone_card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    do = await open_merge(bot_client, url, phone_card)
    done = (await invoke(bot_client, url, "mergeDo", do["data"]))["value"]
    [undo] = actions(done, "mergeUndo")
    mail2 = await start_email(bot_client, "mail-2")  # reaches the merged card
    assert mail2["cardId"] == phone["cardId"]
    await invoke(bot_client, url, "mergeUndo", undo["data"])
    cards, _ = await cards_and_index(bot_client)
    assert cards[keys.card(TENANT, phone["cardId"])]["interaction_ids"] == ["call-1", "mail-2"]
    assert cards[keys.card(TENANT, email["cardId"])]["interaction_ids"] == ["mail-1"]


async def test_search_finds_any_card_by_email(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    await start_call(bot_client, "call-1")
    email = await start_email(bot_client)
    phone_card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    [merge] = actions(phone_card, "merge")
    data = {**merge["data"], "query": "Edward.Ferrars@example.com"}
    found = (await invoke(bot_client, url, "mergeSearch", data))["value"]
    [pick] = actions(found, "mergeConfirm")
    assert pick["data"]["otherCardId"] == email["cardId"]
    nothing = await invoke(bot_client, url, "mergeSearch", {**data, "query": "nobody"})
    assert actions(nothing["value"], "mergeConfirm") == []
    assert "No card matches" in texts(nothing["value"])


async def test_undo_from_the_cards_merge_history(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    phone = await start_call(bot_client, "call-1")
    email = await start_email(bot_client)
    phone_card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    do = await open_merge(bot_client, url, phone_card)
    done = (await invoke(bot_client, url, "mergeDo", do["data"]))["value"]
    [merge] = actions(done, "merge")
    listed = (await invoke(bot_client, url, "merge", merge["data"]))["value"]
    assert "Recent merges into this card" in texts(listed)
    assert actions(listed, "mergeConfirm") == []  # the email card is part of this one now
    [undo] = actions(listed, "mergeUndo")
    undone = (await invoke(bot_client, url, "mergeUndo", undo["data"]))["value"]
    assert "Merge undone" in texts(undone)
    again = (await invoke(bot_client, url, "merge", merge["data"]))["value"]
    assert "Recent merges into this card" not in texts(again)
    [pick] = actions(again, "mergeConfirm")
    assert pick["data"]["otherCardId"] == email["cardId"] != phone["cardId"]


async def test_stale_confirm_of_a_merged_card_gets_a_notice(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    await start_call(bot_client, "call-1")
    await start_email(bot_client)
    phone_card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    do = await open_merge(bot_client, url, phone_card)
    await invoke(bot_client, url, "mergeDo", do["data"])
    # Another device still shows the confirmation of a second, separate merge attempt.
    other = {**do["data"], "mergeId": "merge-" + "0" * 32}
    body = await invoke(bot_client, url, "mergeDo", other)
    assert body["statusCode"] == 200
    assert "already merged" in texts(body["value"])
    assert actions(body["value"], "mergeUndo") == []


async def test_anonymous_open_card_merges_into_the_crm_customer(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    phone = await start_call(bot_client, "call-1")  # Edward, found in the CRM
    response = await bot_client.post(
        "/api/interactions",
        json=interaction_event(
            "chat-1", "assigned", channel="chat", customer={"handle": "web-visitor-42"}
        ),
        headers=KEY,
    )
    chat = await response.json()
    chat_card = [s.card for s in fake.cards() if "chat-1" in texts(s.card)][-1]
    [merge] = actions(chat_card, "merge")
    found = await invoke(bot_client, url, "mergeSearch", {**merge["data"], "query": "555 0100"})
    [pick] = actions(found["value"], "mergeConfirm")
    assert pick["data"]["otherCardId"] == phone["cardId"]
    confirm = (await invoke(bot_client, url, "mergeConfirm", pick["data"]))["value"]
    assert "The other card is kept" in texts(confirm)
    [do] = actions(confirm, "mergeDo")
    done = (await invoke(bot_client, url, "mergeDo", do["data"]))["value"]
    # The open chat's card went into Edward's: it says so, offers Undo, and its header
    # still follows the open interaction (the chat), not the phone call's.
    assert "Merged into the card of Edward Ferrars" in texts(done)
    assert actions(done, "mergeUndo") and "Chat · Assigned" in texts(done)
    cards, index = await cards_and_index(bot_client)
    survivor = cards[keys.card(TENANT, phone["cardId"])]
    assert survivor["interaction_ids"] == ["call-1", "chat-1"]
    assert all(entry["card_id"] == phone["cardId"] for entry in index.values())
    interactions = await documents(bot_client, "interactions/")
    assert interactions[keys.interaction(TENANT, "chat-1")]["card_id"] == phone["cardId"]
    assert chat["cardId"] != phone["cardId"]


async def test_the_merged_away_card_says_where_it_went_and_offers_undo(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    await start_call(bot_client, "call-1")
    await start_email(bot_client)
    phone_card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    do = await open_merge(bot_client, url, phone_card)
    await invoke(bot_client, url, "mergeDo", do["data"])
    # The email's own message is updated: not silently the phone card, but where it went.
    mail_card = [s.card for s in fake.cards() if '"mail-1"' in texts(s.card)][-1]
    assert "Merged into the card of Edward Ferrars (Channels: Voice, Email)." in texts(mail_card)
    [undo] = actions(mail_card, "mergeUndo")
    await invoke(bot_client, url, "mergeUndo", undo["data"])
    shown = await invoke(bot_client, url, "refreshCard", {"interactionId": "mail-1", "rev": 0})
    assert "Merged into" not in texts(shown["value"])


async def test_every_interaction_of_the_merged_card_shows_its_new_face_on_the_next_click(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """A click renders the card from the face its interaction keeps: the merge and its undo
    refresh the faces of the card's interactions, the survivor's own ones included."""
    fake, url = connector
    await install(bot_client, url)
    await start_call(bot_client, "call-1")
    await start_email(bot_client)
    phone_card = [s.card for s in fake.cards() if "call-1" in texts(s.card)][-1]
    done = (
        await invoke(
            bot_client, url, "mergeDo", (await open_merge(bot_client, url, phone_card))["data"]
        )
    )["value"]
    [undo] = actions(done, "mergeUndo")

    async def refreshed(interaction_id: str) -> str:
        stored = (await documents(bot_client, "interactions/"))[
            keys.interaction(TENANT, interaction_id)
        ]
        data = {"interactionId": interaction_id, "rev": stored["revision"]}
        return texts((await invoke(bot_client, url, "refreshCard", data))["value"])

    faces = await documents(bot_client, "interactions/")
    assert "edward.ferrars@example.com" in json.dumps(
        faces[keys.interaction(TENANT, "call-1")]["card_face"]
    )
    assert "edward.ferrars@example.com" in await refreshed("call-1")  # the survivor's own
    assert "+1 5550100" in await refreshed("mail-1")  # the one that moved over

    await invoke(bot_client, url, "mergeUndo", undo["data"])
    assert "edward.ferrars@example.com" not in await refreshed("call-1")
    assert "+1 5550100" not in await refreshed("mail-1")
