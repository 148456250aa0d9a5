"""What the bot's speed relies on inside the SDK, pinned: each test fails if a workaround
stops working (the SDK's slow path comes back silently otherwise).

* connector clients are built once per identity and service URL (a proactive card finds
  its own without the SDK's connector factory), never the SDK's msrest
  ``ConnectorClient``; user token clients once per identity;
* inbound activities and stored conversation references are read without msrest's
  generic ``Deserializer``, their timestamps by the standard library (pinned in
  ``tests/teams/test_activity_json.py``);
* outgoing activities (turn replies and proactive cards) are written without msrest's
  generic ``Serializer``, and equal what it would write; a customer card's message is
  written without the SDK's ``Activity`` at all, and equals what that would be written as;
* an invoke answer reaches the adapter without the SDK's deep copy;
* msrest's ``ClientRetryPolicy`` is cheap;
* botbuilder's jsonpickle is imported without PyYAML (:mod:`bot.adapters.teams`), and
  still encodes JSON; PyYAML stays importable.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from botbuilder.core import CardFactory, MessageFactory, turn_context
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount, Entity, Mention
from botframework.connector.auth import _connector_factory_impl
from msrest.serialization import Deserializer, Serializer
from msrest.universal_http import requests as msrest_requests

from bot.adapters.teams import activity_json
from bot.adapters.teams.connector import Connector
from bot.adapters.teams.routes import ADAPTER
from bot.services import keys
from bot.services.store import put_model
from tests.bot.test_customer_card_flow import call_card, invoke, record_action, start_call
from tests.connector import FakeConnector

Client = TestClient[Any, Any]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the SDK's slow paths; the bot's turns must not take any of them."""
    calls = {
        "msrest_serializer": 0,
        "msrest_activity_reads": 0,
        "sdk_connector_client": 0,
        "deepcopy": 0,
        "connectors": 0,
    }

    def spy(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(Serializer, "body", spy("msrest_serializer", Serializer.body))
    deserialize = Deserializer.__call__

    def reads(self: Deserializer, target: Any, *args: Any, **kwargs: Any) -> Any:
        if target in ("Activity", "ConversationReference"):  # ``Model().deserialize(...)``
            calls["msrest_activity_reads"] += 1
        return deserialize(self, target, *args, **kwargs)

    monkeypatch.setattr(Deserializer, "__call__", reads)
    monkeypatch.setattr(
        _connector_factory_impl,
        "ConnectorClient",
        spy("sdk_connector_client", _connector_factory_impl.ConnectorClient),
    )
    monkeypatch.setattr(turn_context, "deepcopy", spy("deepcopy", turn_context.deepcopy))
    monkeypatch.setattr(Connector, "__init__", spy("connectors", Connector.__init__))
    return calls


async def test_a_call_and_clicks_take_none_of_the_sdk_slow_paths(
    bot_client: Client, connector: tuple[FakeConnector, str], counted: dict[str, int]
) -> None:
    fake, url = connector
    card = await call_card(bot_client, url, fake)  # welcome reply + card posted + updated
    link = record_action(card, "link", "contact:")
    counted["deepcopy"] = 0  # the welcome reply was a turn reply: the SDK copies those
    for _ in range(3):
        answer = await invoke(bot_client, url, "link", link["data"])
        assert answer["type"] == "application/vnd.microsoft.card.adaptive"
        link = record_action(answer["value"], "unlink", "contact:")
        link = {**link, "verb": "link"}

    assert len(fake.cards()) >= 2, "the welcome and the customer card reached the connector"
    assert counted == {
        "msrest_serializer": 0,
        "msrest_activity_reads": 0,
        "sdk_connector_client": 0,
        "deepcopy": 0,
        # one for the turns (the channel's audience), one for proactive sends
        "connectors": 2,
    }


async def test_connector_clients_are_reused_across_turns(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    assert bot_client.app is not None
    clients = bot_client.app[ADAPTER].bot_framework_authentication
    await call_card(bot_client, url, fake)
    before = dict(clients.connectors)
    await call_card(bot_client, url, fake)
    assert clients.connectors == before
    assert len(before) == 2 and all(isinstance(c, Connector) for c in before.values())


async def test_proactive_cards_find_their_connector_without_the_sdk_factory(
    bot_client: Client, connector: tuple[FakeConnector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every card sent asks for its connector; the SDK's claims and connector factory
    (``create_connector_factory``) are gone through once per bot and service URL."""
    fake, url = connector
    assert bot_client.app is not None
    inner = bot_client.app[ADAPTER].bot_framework_authentication._inner
    factories: list[Any] = []
    create = inner.create_connector_factory

    def counted(claims_identity: Any) -> Any:
        factories.append(create(claims_identity))
        return factories[-1]

    monkeypatch.setattr(inner, "create_connector_factory", counted)
    await call_card(bot_client, url, fake)  # the card posted, then updated
    await start_call(bot_client, "call-2")  # another card posted and updated
    sent = [s for s in fake.cards() if s.method in ("POST", "PUT") and "Current" in str(s.card)]
    assert len(sent) >= 4
    assert len(factories) == 1


async def test_user_token_clients_are_reused_across_turns(
    bot_client: Client, connector: tuple[FakeConnector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``CloudAdapter`` asks for a user token client on every turn; the SDK builds a new
    one each time (msrest configuration, session, retry policy) unless it is reused."""
    fake, url = connector
    assert bot_client.app is not None
    inner = bot_client.app[ADAPTER].bot_framework_authentication._inner
    built: list[Any] = []
    create = inner.create_user_token_client

    async def counted(claims_identity: Any) -> Any:
        built.append(await create(claims_identity))
        return built[-1]

    monkeypatch.setattr(inner, "create_user_token_client", counted)
    card = await call_card(bot_client, url, fake)
    link = record_action(card, "link", "contact:")
    await invoke(bot_client, url, "link", link["data"])
    await call_card(bot_client, url, fake)
    assert len(built) == 1, "one user token client for every turn of the channel's identity"


def test_the_route_reads_activities_without_msrest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The activity the route hands the SDK is the one msrest would build, read by
    :mod:`bot.adapters.teams.activity_json` (msrest's generic reader is ten times slower)."""
    from bot.adapters.teams import routes

    body = activity_json.activity_to_json(_rich_activity())
    body |= {"type": "message", "serviceUrl": "https://smba.example", "from": {"id": "29:a"}}
    reads: list[Any] = []
    monkeypatch.setattr(Deserializer, "__call__", lambda *args, **kwargs: reads.append(args))
    ours = routes._checked_activity(body)
    monkeypatch.undo()
    assert reads == []
    assert ours.serialize() == Activity().deserialize(body).serialize()


def test_stored_conversation_references_read_as_msrest_reads_them() -> None:
    from botbuilder.schema import ConversationReference

    from bot.adapters.teams.conversations import AgentConversation

    stored = {
        "activityId": "activity-1",
        "user": {"id": "29:agent", "name": "Avery", "aadObjectId": "a1", "role": "user"},
        "bot": {"id": "28:bot", "name": "crmcard"},
        "conversation": {"id": "a:1", "conversationType": "personal", "tenantId": "t"},
        "channelId": "msteams",
        "locale": "de-DE",
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "unknown": {"kept": True},
    }
    ours = AgentConversation(user_id="29:agent", reference=stored).conversation_reference()
    assert ours.serialize() == ConversationReference().deserialize(stored).serialize()


async def test_a_stored_conversation_reference_is_parsed_once_per_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every card sent reads its agent's conversation; an unchanged one is not parsed
    again, a changed one (the agent reinstalled, another instance wrote it) is."""
    from bot.adapters.storage.local import LocalStore
    from bot.adapters.teams import conversations

    reads: list[Any] = []
    read = activity_json.model_from_json
    monkeypatch.setattr(
        conversations, "model_from_json", lambda cls, data: reads.append(cls) or read(cls, data)
    )
    store = LocalStore(tmp_path / "state.sqlite3")
    try:
        references = conversations.References(store)
        assert await references.find("t", "a1") is None
        key = keys.agent_conversation("t", "a1")
        reference = {"conversation": {"id": "a:1"}, "serviceUrl": "https://smba.example/"}
        await put_model(
            store, key, conversations.AgentConversation(user_id="29:a", reference=reference)
        )
        first = await references.find("t", "a1")
        again = await references.find("t", "a1")
        assert first is not None and again is not None and again[1] is first[1]
        assert len(reads) == 1
        moved = {**reference, "conversation": {"id": "a:2"}}
        await put_model(
            store, key, conversations.AgentConversation(user_id="29:a", reference=moved)
        )
        changed = await references.find("t", "a1")
        assert changed is not None and changed[1].conversation.id == "a:2"
        assert len(reads) == 2
    finally:
        await store.close()


def _rich_activity() -> Activity:
    activity = MessageFactory.attachment(
        CardFactory.adaptive_card({"type": "AdaptiveCard", "body": [{"type": "TextBlock"}]})
    )
    activity.timestamp = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    activity.from_property = ChannelAccount(id="28:bot", name="crmcard")
    activity.recipient = ChannelAccount(id="29:user", aad_object_id="a1")
    activity.conversation = ConversationAccount(id="a:1", conversation_type="personal")
    activity.entities = [Mention(text="<at>x</at>", type="mention"), Entity(type="clientInfo")]
    activity.channel_data = {"tenant": {"id": "t"}, "notification": {"alert": True}}
    activity.reply_to_id = "activity-7"
    activity.additional_properties = {"unknown": [1, 2]}
    return activity


def test_outgoing_activity_json_equals_msrest() -> None:
    activity = _rich_activity()
    ours = orjson.loads(activity_json.dumps(activity_json.activity_to_json(activity)))
    theirs = Serializer({"Activity": Activity}).body(activity, "Activity")
    theirs_timestamp, ours_timestamp = theirs.pop("timestamp"), ours.pop("timestamp")
    assert datetime.fromisoformat(ours_timestamp) == datetime.fromisoformat(theirs_timestamp)
    assert ours == orjson.loads(orjson.dumps(theirs))


def test_msrest_retry_policy_is_cheap(bot_client: Client) -> None:
    assert isinstance(msrest_requests.ClientRetryPolicy.safe_codes, frozenset)


JSONPICKLE_WITHOUT_YAML = """
import sys
import bot.adapters.teams
import jsonpickle
assert "yaml" not in sys.modules, "jsonpickle imported PyYAML"
assert jsonpickle.encode({"a": [1]}) == '{"a": [1]}'
import yaml
print(yaml.safe_load("a: 1"))
"""


def test_jsonpickle_is_imported_without_yaml_and_still_encodes() -> None:
    done = subprocess.run(
        [sys.executable, "-c", JSONPICKLE_WITHOUT_YAML], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'a': 1}"


@pytest.mark.parametrize(
    ("reference", "replace"),
    [
        ({"activityId": "activity-1", "locale": "de-DE", "unknown": {"kept": True}}, None),
        ({"activityId": "activity-1", "locale": "de-DE"}, "message-7"),
        ({}, None),
        ({}, "message-7"),
    ],
)
def test_a_card_message_is_written_as_the_sdk_activity_would_be(
    reference: dict[str, Any], replace: str | None
) -> None:
    """What a card's delivery sends (:func:`bot.adapters.teams.delivery.card_message`) is,
    byte for byte, the SDK's message for the card addressed to the conversation reference,
    written as an activity (its id set when it replaces a message)."""
    from botbuilder.core import TurnContext
    from botbuilder.schema import ConversationReference

    from bot.adapters.teams.delivery import card_message
    from bot.adaptive_cards.customer_card import RenderedCard

    stored = {
        "user": {"id": "29:agent", "name": "Avery", "aadObjectId": "a1", "role": "user"},
        "bot": {"id": "28:bot", "name": "crmcard"},
        "conversation": {"id": "a:1", "conversationType": "personal", "tenantId": "t"},
        "channelId": "msteams",
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        **reference,
    }
    parsed = activity_json.model_from_json(ConversationReference, stored)
    body = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Ada"}]}
    card = RenderedCard(body, orjson.dumps(body))
    activity = TurnContext.apply_conversation_reference(
        MessageFactory.attachment(CardFactory.adaptive_card(card)), parsed
    )
    if replace is not None:
        activity.id = replace
    ours = activity_json.dumps(card_message(parsed, card, replace))
    assert ours == activity_json.dumps(activity_json.activity_to_json(activity))
