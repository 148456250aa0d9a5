"""Record creation over HTTP: policies from the admin API, events from the platform's
webhook, records in the (demo or Zendesk-kind) CRM and pinned on the agent's card."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.interactions import Interaction
from bot.domain.record_policies import RecordPolicy
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.services import keys, outbox, record_creation
from bot.services.crm import CrmUnavailable
from bot.services.store import create_model, read_model
from bot.services.tenant_cache import DEFAULT_TTL, PerTenant
from tests.activities import interaction_event
from tests.workflows.conftest import (
    ADMIN,
    API,
    Client,
    CountingDemo,
    Directory,
    ZendeskKind,
    context,
)

AGENT_A = "00000000-0000-0000-0000-0000000000a1"
AGENT_B = "00000000-0000-0000-0000-0000000000b2"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


async def policy(client: Client, queue: str, body: dict[str, Any]) -> Any:
    response = await client.put(f"/api/admin/policies/{queue}", json=body, headers=ADMIN)
    return response.status, await response.json()


async def event(
    client: Client,
    interaction_id: str,
    name: str,
    second: int,
    *,
    agent: str = AGENT_A,
    channel: str = "voice",
    queue: str = "Support",
    messages: int | None = None,
    session: dict[str, str] | None = None,
    customer: dict[str, str] | None = None,
) -> dict[str, Any]:
    payload = interaction_event(
        interaction_id,
        name,
        channel=channel,
        agent=agent,
        customer=customer
        or ({"phone": "+1 555 0100"} if channel == "voice" else None)
        or {"phone": "+1 555 0100", "handle": "web-visitor-1"},
        occurred_at=(START + timedelta(seconds=second)).isoformat(),
    )
    payload["queue"] = queue
    if messages is not None:
        payload["customerMessages"] = messages
    if session:
        payload["session"] = session
    response = await client.post("/api/interactions", json=payload, headers=API)
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def stored(client: Client, interaction_id: str) -> Interaction:
    found = await read_model(
        context(client).store, keys.interaction("demo-tenant", interaction_id), Interaction
    )
    assert found is not None
    return found


async def test_policies_admin_api(client: Client) -> None:
    status, body = await policy(client, "_default", {"titleTemplate": "{CALL_TYPE} {CALLER}"})
    assert status == 422 and "{CALLER}" in body["detail"]
    status, body = await policy(client, "_default", {"appendClosedWithinDays": 2})
    assert status == 422 and "appendToOpen" in body["detail"]
    assert (await policy(client, "_default", {}))[0] == 200
    status, body = await policy(client, "Billing", {"delayCallUntilConnected": True})
    assert status == 200 and body["delayCallUntilConnected"] is True
    listed = await (await client.get("/api/admin/policies", headers=ADMIN)).json()
    assert sorted(listed["policies"]) == ["Billing", "_default"]
    got = await client.get("/api/admin/policies/Billing", headers=ADMIN)
    assert (await got.json())["titleTemplate"] == "{CALL_TYPE} {PHONE_NUMBER} {TIMESTAMP}"
    assert (await client.delete("/api/admin/policies/Billing", headers=ADMIN)).status == 204
    assert (await client.get("/api/admin/policies/Billing", headers=ADMIN)).status == 404
    assert (await client.get("/api/admin/policies", headers=API)).status == 401


async def test_without_a_policy_no_record_is_created(client: Client, demo: CountingDemo) -> None:
    await event(client, "call-1", "assigned", 0)
    await event(client, "call-1", "connected", 1)
    assert demo.created == []


async def test_saving_an_empty_policy_does_not_switch_record_creation_on(
    client: Client, demo: CountingDemo
) -> None:
    status, body = await policy(client, "_default", {})
    assert (status, body["createRecords"]) == (200, False)
    await event(client, "call-1", "assigned", 0)
    await event(client, "call-1", "connected", 1)
    assert demo.created == []


async def test_call_record_created_at_assignment_and_pinned(
    client: Client, demo: CountingDemo
) -> None:
    await policy(
        client,
        "_default",
        {"createRecords": True, "titleTemplate": "{CALL_TYPE} {CALL_ID} from {PHONE_NUMBER}"},
    )
    body = await event(client, "call-1", "assigned", 0, session={"callId": "77"})
    [record] = demo.created
    assert record.title == "IVR call 77 from +15550100"
    assert record.ref.type == "case"
    interaction = await stored(client, "call-1")
    assert interaction.shown.current == [record.ref.key]
    assert interaction.linked_keys() == [record.ref.key]
    assert body["revision"] == interaction.revision  # the webhook answers the pinned state
    await event(client, "call-1", "connected", 1)
    await event(client, "call-1", "assigned", 0)  # a replay
    assert len(demo.created) == 1


async def test_policies_are_listed_every_few_seconds_and_at_once_after_a_change_here(
    client: Client, demo: CountingDemo
) -> None:
    """Every event asks for its queue's policy: the tenant's are listed once and kept a
    few seconds; another instance's policy (written straight to the store) counts from
    then on (within twice the cache's TTL: for one more TTL the policies kept are used
    while they are listed again), one written through this instance at once."""
    ctx = context(client)
    now = [0.0]
    ctx.record_policies = PerTenant(clock=lambda: now[0])
    await event(client, "call-1", "assigned", 0)
    elsewhere = RecordPolicy.model_validate({"createRecords": True})
    await create_model(ctx.store, keys.record_policy("demo-tenant", "_default"), elsewhere)
    await event(client, "call-2", "assigned", 1)
    assert demo.created == []
    now[0] += 2 * DEFAULT_TTL
    await event(client, "call-3", "assigned", 2)
    assert len(demo.created) == 1
    await policy(client, "_default", {"createRecords": False})
    await event(client, "call-4", "assigned", 3)
    assert len(demo.created) == 1


async def test_queue_policy_overrides_the_default(client: Client, demo: CountingDemo) -> None:
    await policy(client, "_default", {"createRecords": False})
    await policy(client, "Billing", {"createRecords": True, "delayCallUntilConnected": True})
    await event(client, "call-1", "assigned", 0, queue="Support")
    await event(client, "call-2", "assigned", 0, queue="Billing")
    assert demo.created == []
    await event(client, "call-2", "connected", 3, queue="Billing")
    assert len(demo.created) == 1


async def test_hang_up_before_connection_with_the_delay(client: Client, demo: CountingDemo) -> None:
    await policy(client, "_default", {"createRecords": True, "delayCallUntilConnected": True})
    await event(client, "call-1", "assigned", 0)
    await event(client, "call-1", "abandoned", 3)
    assert demo.created == []
    await policy(
        client,
        "_default",
        {"createRecords": True, "delayCallUntilConnected": True, "abandonedCalls": True},
    )
    await event(client, "call-2", "assigned", 10)
    await event(client, "call-2", "abandoned", 13)
    assert len(demo.created) == 1


async def test_warm_transfer_keeps_the_first_record(client: Client, demo: CountingDemo) -> None:
    await policy(client, "_default", {"createRecords": True})
    await event(client, "call-1", "assigned", 0)
    await event(client, "call-1", "connected", 2)
    await event(client, "call-1", "transferred", 30)
    await event(client, "call-1", "assigned", 31, agent=AGENT_B)
    await event(client, "call-1", "connected", 32, agent=AGENT_B)
    [record] = demo.created
    interaction = await stored(client, "call-1")
    assert interaction.agent.aad_object_id == AGENT_B
    assert interaction.shown.current == [record.ref.key]  # the second agent sees it pinned


async def test_cold_transfer_keeps_the_first_record(client: Client, demo: CountingDemo) -> None:
    await policy(client, "_default", {"createRecords": True, "delayCallUntilConnected": True})
    await event(client, "call-1", "assigned", 0)
    await event(client, "call-1", "transferred", 3)  # before the first agent answered
    await event(client, "call-1", "assigned", 4, agent=AGENT_B)
    assert demo.created == []
    await event(client, "call-1", "connected", 6, agent=AGENT_B)
    await event(client, "call-1", "transferred", 40, agent=AGENT_B)
    await event(client, "call-1", "assigned", 41)
    await event(client, "call-1", "connected", 42)
    assert len(demo.created) == 1
    assert (await stored(client, "call-1")).shown.current == [demo.created[0].ref.key]


async def test_chat_waits_for_customer_messages(client: Client, demo: CountingDemo) -> None:
    await policy(client, "_default", {"createRecords": True, "chatMinCustomerMessages": 2})
    await event(client, "chat-1", "assigned", 0, channel="chat", messages=0)
    await event(client, "chat-1", "connected", 1, channel="chat", messages=1)
    assert demo.created == []
    await event(client, "chat-1", "ended", 90, channel="chat", messages=2)
    assert len(demo.created) == 1
    assert demo.created[0].title.startswith("Web chat")


@pytest.mark.parametrize("last", ["transferred", "unassigned"])
async def test_a_chat_record_made_by_its_last_event_is_written_back(
    client: Client, demo: CountingDemo, last: str
) -> None:
    """The customer's messages reach the threshold only as the chat is handed on: the
    record made then is pinned, so linked, and written back with the interaction."""
    await policy(client, "_default", {"createRecords": True, "chatMinCustomerMessages": 2})
    await event(client, "chat-1", "assigned", 0, channel="chat", messages=0)
    await event(client, "chat-1", "connected", 1, channel="chat", messages=1)
    answer = await event(client, "chat-1", last, 90, channel="chat", messages=2)
    # the server's write-back worker may already have logged its timeline Task
    [created] = [record for record in demo.created if record.ref.type != "task"]
    assert answer["writebackDue"]
    assert (await stored(client, "chat-1")).linked_keys() == [created.ref.key]
    items = await outbox.items_for(context(client).store, "demo-tenant", "chat-1")
    assert [item.record for item in items] == [created.ref]


async def test_abandoned_chat_policies(client: Client, demo: CountingDemo) -> None:
    await policy(
        client,
        "_default",
        {
            "createRecords": True,
            "chatMinCustomerMessages": 5,
            "abandonedChats": "min-messages",
            "abandonedChatMinMessages": 2,
            "shortAbandonSeconds": 30,
        },
    )
    await event(client, "chat-1", "assigned", 0, channel="chat")
    await event(client, "chat-1", "abandoned", 10, channel="chat", messages=3)  # short
    await event(client, "chat-2", "assigned", 0, channel="chat")
    await event(client, "chat-2", "abandoned", 60, channel="chat", messages=1)  # too few
    assert demo.created == []
    await event(client, "chat-3", "assigned", 0, channel="chat")
    await event(client, "chat-3", "abandoned", 60, channel="chat", messages=2)
    assert len(demo.created) == 1


async def test_zendesk_tags_and_product_tag(client: Client, zendesk: ZendeskKind) -> None:
    await policy(
        client,
        "_default",
        {"createRecords": True, "settingsId": "zd", "sessionTypeTags": True, "productTag": True},
    )
    await event(client, "call-1", "assigned", 0, session={"callType": "ivr"})
    [record] = zendesk.records_sent
    assert record.tags == ("voice_inbound_ivr", "crmcard")
    assert (await stored(client, "call-1")).shown.current == [zendesk.created[0].ref.key]


async def test_append_to_the_last_open_record_of_the_queue(
    client: Client, demo: CountingDemo
) -> None:
    await policy(client, "_default", {"createRecords": True, "appendToOpen": True})
    await event(client, "call-1", "assigned", 0)
    [first] = demo.created
    await event(client, "call-2", "assigned", 100)
    assert len(demo.created) == 1
    assert (await stored(client, "call-2")).shown.current == [first.ref.key]
    await event(client, "call-3", "assigned", 200, queue="Sales")  # another queue
    assert len(demo.created) == 2
    await demo.update(first.ref, {"status": "Closed"})
    await event(client, "call-4", "assigned", 300)
    assert len(demo.created) == 3  # closed, and closed records are not appended to


async def test_append_reopens_a_record_closed_within_the_window(
    client: Client, demo: CountingDemo
) -> None:
    ctx = context(client)
    now = [START]
    ctx.clock = lambda: now[0]
    await policy(
        client,
        "_default",
        {"createRecords": True, "appendToOpen": True, "appendClosedWithinDays": 3},
    )
    await event(client, "call-1", "assigned", 0)
    [first] = demo.created
    await demo.update(first.ref, {"status": "Closed"})  # the demo CRM has no close date
    now[0] = START + timedelta(days=2)  # the last session was 2 days ago: closed since
    await event(client, "call-2", "assigned", 100)
    assert len(demo.created) == 1
    assert (await demo.get(first.ref)).fields["status"] == "Open"
    assert (await stored(client, "call-2")).shown.current == [first.ref.key]
    await demo.update(first.ref, {"status": "Closed"})
    now[0] = START + timedelta(days=6)  # last session 4 days ago: out of the window
    await event(client, "call-3", "assigned", 200)
    assert len(demo.created) == 2


class Flaky(CountingDemo):
    """Down for the first ``failures`` creates."""

    def __init__(self, failures: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failures = failures

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        if self.failures:
            self.failures -= 1
            raise CrmUnavailable("Demo CRM is down")
        return await super().create(record_type, record, related_to)


async def test_crm_outage_never_fails_the_webhook_and_a_later_event_retries(
    client: Client, tmp_path: Any
) -> None:
    flaky = Flaky(1, data_file=tmp_path / "flaky.json")
    context(client).crms = Directory([flaky])
    await policy(client, "_default", {"createRecords": True})
    await event(client, "call-1", "assigned", 0)  # 202 although the CRM is down
    assert flaky.created == []
    await event(client, "call-1", "connected", 2)
    assert len(flaky.created) == 1


async def test_concurrent_events_create_one_record(client: Client, demo: CountingDemo) -> None:
    await policy(client, "_default", {"createRecords": True})
    await event(client, "call-1", "assigned", 0)
    ctx = context(client)
    interaction = await stored(client, "call-1")
    await ctx.store.delete(keys.record_creation_state("demo-tenant", "call-1"))
    record = interaction.history[-1]
    await asyncio.gather(*(record_creation.on_event(ctx, interaction, record) for _ in range(5)))
    assert len(demo.created) == 2  # the first assignment's, and exactly one more


async def test_title_preview_renders_missing_values_cleanly(client: Client) -> None:
    template = "{CALL_TYPE} from {PHONE_NUMBER} ({MENU_PATH})"
    response = await client.post(
        "/api/admin/policies/title-preview", json={"titleTemplate": template}, headers=ADMIN
    )
    body = await response.json()
    assert response.status == 200
    assert body["title"] == "IVR call from +49 30 901820"
    assert body["values"]["MENU_PATH"] == ""
    assert "TIMESTAMP" in body["variables"]
    given = {"CALL_TYPE": "Chat", "PHONE_NUMBER": "", "MENU_PATH": "Billing"}
    response = await client.post(
        "/api/admin/policies/title-preview",
        json={"titleTemplate": template, "values": given},
        headers=ADMIN,
    )
    assert (await response.json())["title"] == "Chat from (Billing)"
    refused = await client.post(
        "/api/admin/policies/title-preview", json={"titleTemplate": "{CALLER}"}, headers=ADMIN
    )
    assert refused.status == 422
    assert (await refused.json())["errors"][0]["loc"] == ["titleTemplate"]
    unauthenticated = await client.post(
        "/api/admin/policies/title-preview", json={"titleTemplate": template}
    )
    assert unauthenticated.status == 401
