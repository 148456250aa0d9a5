"""The customer card end to end over real HTTP: activities in, cards out to a connector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.storage.local import LocalStore
from bot.web.interactions import CONTEXT
from tests import activities
from tests.activities import card_action, installed, interaction_event, message
from tests.cards import actions
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
KEY = {"X-Api-Key": "demo-key"}


def texts(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def record_action(card: dict[str, Any], verb: str, title_key: str) -> dict[str, Any]:
    for action in actions(card, verb):
        if title_key in action["data"].get("record", ""):
            return action
    raise AssertionError(f"no {verb} action for {title_key} in card")


async def install(client: Client, service_url: str) -> None:
    response = await client.post("/api/messages", json=installed(service_url))
    assert response.status in (200, 201)


async def start_call(client: Client, interaction_id: str = "call-1") -> dict[str, Any]:
    for second, event in enumerate(("assigned", "connected")):
        payload = interaction_event(
            interaction_id, event, occurred_at=f"2026-11-23T08:00:0{second}Z"
        )
        response = await client.post("/api/interactions", json=payload, headers=KEY)
        assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def call_card(client: Client, url: str, fake: FakeConnector) -> dict[str, Any]:
    """Install the bot, start a call from Edward Ferrars: the customer card it posts."""
    await install(client, url)
    await start_call(client)
    card = fake.cards()[-1].card
    assert card is not None
    return card


async def invoke(
    client: Client, service_url: str, verb: str, data: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/api/messages", json=card_action(service_url, verb, data))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_install_sends_welcome_card(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    [welcome] = fake.cards()
    assert "Welcome to crmcard" in texts(welcome.card)


async def test_message_answers_with_help(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    response = await bot_client.post("/api/messages", json=message(url, "help"))
    assert response.status in (200, 201)
    assert "Welcome to crmcard" in texts(fake.cards()[-1].card)


async def test_interaction_posts_customer_card_proactively(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    body = await start_call(bot_client)
    assert body["state"] == "connected"
    posted = [s for s in fake.cards() if "Current interaction" in texts(s.card)]
    assert posted[0].method == "POST"
    assert posted[0].conversation_id == activities.CONVERSATION
    # The second event updates the same message in place.
    assert [s.method for s in posted] == ["POST", "PUT"]
    assert posted[1].activity_id == posted[0].activity_id
    card = posted[-1].card
    assert card is not None
    assert "Current interaction" in texts(card) and "Related interactions" in texts(card)
    assert "Norland Park Estates" in texts(card)  # the contact's account, person-level
    assert card["refresh"]["userIds"] == [activities.AGENT_USER_ID]


async def test_link_answers_with_updated_card_in_place(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    card = await call_card(bot_client, url, fake)
    link = record_action(card, "link", "contact:C-2001")
    body = await invoke(bot_client, url, "link", link["data"])
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    updated = body["value"]
    unlink = record_action(updated, "unlink", "contact:C-2001")
    assert unlink["title"] == "Linked"
    # Retried invoke (Teams retries unanswered ones): same answer, no notice.
    again = await invoke(bot_client, url, "link", link["data"])
    assert record_action(again["value"], "unlink", "contact:C-2001")
    assert "changed by someone else" not in texts(again["value"])
    # And unlink toggles back.
    back = await invoke(bot_client, url, "unlink", unlink["data"])
    assert record_action(back["value"], "link", "contact:C-2001")["title"] == "Link"


async def test_stale_card_gets_current_card_and_notice(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    old_card = await call_card(bot_client, url, fake)
    link = record_action(old_card, "link", "contact:C-2001")
    linked = await invoke(bot_client, url, "link", link["data"])
    unlink = record_action(linked["value"], "unlink", "contact:C-2001")
    await invoke(bot_client, url, "unlink", unlink["data"])
    # A second device still shows the card where the contact was linked: its unlink is
    # already satisfied; its stale "link" click must not undo the newer unlink silently.
    replay = await invoke(bot_client, url, "link", link["data"])
    assert "changed by someone else" in texts(replay["value"])
    assert record_action(replay["value"], "link", "contact:C-2001")  # still unlinked


async def test_refresh_loads_related_and_expand_shows_children(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    card = await call_card(bot_client, url, fake)
    assert "Pianoforte delivery delayed" not in texts(card)
    [refresh] = actions(card, "refresh")
    refreshed = (await invoke(bot_client, url, "refresh", refresh["data"]))["value"]
    assert "Pianoforte delivery delayed" in texts(refreshed)  # a case of Edward's
    expand = record_action(refreshed, "expand", "account:A-1001")
    expanded = (await invoke(bot_client, url, "expand", expand["data"]))["value"]
    assert "Norland renovation" in texts(expanded)
    assert record_action(expanded, "collapse", "account:A-1001")


async def test_created_record_is_pinned_under_current_interaction(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    card = await call_card(bot_client, url, fake)
    [create] = actions(card, "createRecord")
    data = {**create["data"], "subject": "Harp tuning request"}
    body = (await invoke(bot_client, url, "createRecord", data))["value"]
    assert "Created “Harp tuning request”" in texts(body)
    unlink = [a for a in actions(body, "unlink") if "case:" in a["data"]["record"]]
    assert unlink, "a created record is pinned, and pinned records are linked"
    # The retried invoke does not create a second case.
    again = (await invoke(bot_client, url, "createRecord", data))["value"]
    assert texts(again).count("Harp tuning request") == 1


async def test_unknown_verb_gets_card_with_notice(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    await install(bot_client, url)
    await start_call(bot_client)
    body = await invoke(bot_client, url, "teleport", {"interactionId": "call-1", "rev": 0})
    assert body["statusCode"] == 200
    assert "does not know the action “teleport”" in texts(body["value"])


async def test_bad_invoke_is_typed_error_not_500(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    body = await invoke(bot_client, url, "link", {"interactionId": "nope", "rev": 0, "record": "x"})
    assert body["statusCode"] == 422
    assert body["type"] == "application/vnd.microsoft.error"
    assert "does not exist" in body["value"]["message"]
    missing = await invoke(bot_client, url, "link", {"rev": "not a number"})
    assert missing["statusCode"] == 422
    assert missing["value"]["errors"]


async def test_malformed_activity_is_400(bot_client: Client) -> None:
    response = await bot_client.post(
        "/api/messages", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "not JSON" in (await response.json())["detail"]
    response = await bot_client.post("/api/messages", json={"type": "message"})
    assert response.status == 422
    assert "serviceUrl" in (await response.json())["detail"]
    response = await bot_client.post(
        "/api/messages", data="x", headers={"Content-Type": "text/plain"}
    )
    assert response.status == 415


async def test_interaction_webhook_validation(bot_client: Client) -> None:
    response = await bot_client.post(
        "/api/interactions", json=interaction_event("x", "assigned"), headers={"X-Api-Key": "wrong"}
    )
    assert response.status == 401
    bad = interaction_event("x", "assigned")
    bad["event"] = "exploded"
    response = await bot_client.post("/api/interactions", json=bad, headers=KEY)
    assert response.status == 422
    assert "event" in json.dumps(await response.json())
    # An unreadable number never loses the interaction (kept as typed, flagged on the card:
    # tests/identities/test_webhook_identifiers.py).
    response = await bot_client.post(
        "/api/interactions",
        json=interaction_event("x", "assigned", customer={"phone": "banana"}),
        headers=KEY,
    )
    assert response.status == 202


async def test_lifecycle_is_validated_and_reflected(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    await start_call(bot_client)
    response = await bot_client.post(
        "/api/interactions",
        json=interaction_event("call-1", "assigned", occurred_at="2026-11-23T08:05:00Z"),
        headers=KEY,
    )
    assert response.status == 409  # a connected call is not assigned again
    for event, at in (("ended", "08:05"), ("acw-completed", "08:06")):
        response = await bot_client.post(
            "/api/interactions",
            json=interaction_event("call-1", event, occurred_at=f"2026-11-23T{at}:00Z"),
            headers=KEY,
        )
        assert response.status == 202
    body = await response.json()
    assert body["writebackDue"] is True
    assert "Completed" in texts(fake.cards()[-1].card)
    # Replaying an applied event changes nothing.
    replay = await bot_client.post(
        "/api/interactions",
        json=interaction_event("call-1", "ended", occurred_at="2026-11-23T08:05:00Z"),
        headers=KEY,
    )
    assert replay.status == 202
    assert (await replay.json())["revision"] == body["revision"]


async def test_two_channels_make_two_cards(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    await install(bot_client, url)
    phone = await start_call(bot_client, "call-1")
    response = await bot_client.post(
        "/api/interactions",
        json=interaction_event(
            "mail-1", "assigned", channel="email", customer={"email": "Edward.Ferrars@example.com"}
        ),
        headers=KEY,
    )
    email = await response.json()
    assert email["cardId"] != phone["cardId"]
    again = await start_call(bot_client, "call-2")
    assert again["cardId"] == phone["cardId"]


async def test_demo_chat_command_starts_a_call(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await bot_client.post("/api/messages", json=message(url, "call +1 555 0100"))
    assert any("Edward Ferrars" in texts(s.card) for s in fake.cards())


async def test_one_welcome_per_install(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    members = activities.activity(
        url,
        "conversationUpdate",
        membersAdded=[{"id": activities.AGENT_USER_ID}, {"id": activities.BOT_ID}],
    )
    await bot_client.post("/api/messages", json=members)
    assert len(fake.cards()) == 1  # personal chat: installationUpdate already welcomed
    group = {
        **members,
        "conversation": {
            "id": "19:group",
            "conversationType": "groupChat",
            "tenantId": activities.TENANT,
        },
    }
    await bot_client.post("/api/messages", json=group)
    assert len(fake.cards()) == 2


async def test_teams_429_is_honoured_and_the_card_still_arrives(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    fake.throttle_next = 2  # the connector answers 429 + Retry-After twice
    await start_call(bot_client)
    posted = [s for s in fake.cards() if "Current interaction" in texts(s.card)]
    assert [s.method for s in posted] == ["POST", "PUT"]
    assert fake.throttle_next == 0


async def test_an_unknown_caller_can_become_a_contact(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await install(bot_client, url)
    event = interaction_event("call-9", "assigned", customer={"phone": "+1 555 0999"})
    assert (await bot_client.post("/api/interactions", json=event, headers=KEY)).status == 202
    card = fake.cards()[-1].card
    assert card is not None
    assert "New contact or lead" in texts(card) and "New case" not in texts(card)
    assert _creatable(card) == ["contact", "lead", "case"]  # what the demo CRM can create
    [create] = actions(card, "createRecord")
    data = {**create["data"], "subject": "Jane Roe", "recordType": "contact"}
    body = (await invoke(bot_client, url, "createRecord", data))["value"]
    assert "Created “Jane Roe”" in texts(body)
    [unlink] = [a for a in actions(body, "unlink") if "contact:" in a["data"]["record"]]
    assert unlink, "the new contact is pinned and linked"
    refused = await invoke(bot_client, url, "createRecord", {**data, "recordType": "planet"})
    assert 400 <= refused["statusCode"] < 500  # refused, nothing created


def _creatable(card: dict[str, Any]) -> list[str]:
    """The record types the unknown caller's "New contact or lead" form offers."""
    found: list[str] = []
    if isinstance(card, dict):
        if card.get("id") == "recordType":
            return [choice["value"] for choice in card["choices"]]
        for value in card.values():
            found += _creatable(value) if isinstance(value, dict | list) else []
    elif isinstance(card, list):
        for item in card:
            found += _creatable(item)
    return found


async def test_an_unknown_caller_is_offered_only_what_the_crm_can_create(
    bot_client: Client, connector: tuple[FakeConnector, str], tmp_path: Path
) -> None:
    """Zendesk has users (contacts) and tickets (cases), no leads: no lead is offered."""
    from bot.adapters.crm.zendesk import ZendeskCrm
    from tests.workflows.conftest import Directory, ZendeskKind

    fake, url = connector
    zendesk = ZendeskKind(settings_id="zd", data_file=tmp_path / "zd.json")
    zendesk.creatable = ZendeskCrm.creatable  # what the Zendesk adapter declares
    bot_client.server.app[CONTEXT].crms = Directory([zendesk])
    await install(bot_client, url)
    event = interaction_event("call-9", "assigned", customer={"phone": "+1 555 0999"})
    assert (await bot_client.post("/api/interactions", json=event, headers=KEY)).status == 202
    assert _creatable(fake.cards()[-1].card) == ["contact", "case"]


async def test_the_instance_that_posted_a_card_updates_it_without_asking_the_store(
    bot_client: Client, connector: tuple[FakeConnector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = connector
    await install(bot_client, url)
    asked: list[str] = []
    read, create = LocalStore.read, LocalStore.create

    async def counted_read(self: LocalStore, key: str) -> Any:
        if key.endswith("/teams-message"):
            asked.append("read")
        return await read(self, key)

    async def counted_create(self: LocalStore, key: str, data: bytes) -> str:
        if key.endswith("/teams-message"):
            asked.append("create")
        return await create(self, key, data)

    monkeypatch.setattr(LocalStore, "read", counted_read)
    monkeypatch.setattr(LocalStore, "create", counted_create)
    await start_call(bot_client)  # assigned: the card posted; connected: updated
    posted = [s for s in fake.cards() if "Current interaction" in texts(s.card)]
    assert [s.method for s in posted] == ["POST", "PUT"]
    assert posted[1].activity_id == posted[0].activity_id
    # the first post's claim, completed from the claim as written: nothing more
    assert asked == ["create"]
    store = bot_client.server.app[CONTEXT].store
    [record] = [key async for key in store.keys("tenants/") if key.endswith("/teams-message")]
    document = await store.read(record)
    assert document is not None
    assert json.loads(document.data)["activity_id"] == posted[0].activity_id
