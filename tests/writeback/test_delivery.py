"""Delivering the outbox: exactly once across instances, through outages, 429 storms,
crashes mid-delivery; poison parked with its reason."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.identifiers import Channel
from bot.domain.interactions import Direction, Interaction
from bot.domain.interactions import LifecycleEvent as E
from bot.domain.memorialization import FieldMapping, MemorializationMapping, SourceField
from bot.i18n import AgentLocale, localize
from bot.services import audit, keys, outbox, tenants
from bot.services.audit import AuditQuery, Door
from bot.services.context import Context
from bot.services.outbox import OutboxStatus
from bot.services.retry import RetryPolicy
from bot.services.store import Store, create_model, put_model
from bot.services.writeback import outbox_listener
from bot.settings import Settings
from tests.writeback.harness import (
    ACCOUNT,
    CONTACT,
    T0,
    TENANT,
    FaultyCrm,
    context,
    drain,
    interaction,
    store_due,
    worker,
)

MAPPING = MemorializationMapping(
    fields=[
        FieldMapping(source=SourceField.disposition, target="last_disposition"),
        FieldMapping(source=SourceField.notes, target="last_notes", max_length=20),
    ]
)


async def _configure(store: Store) -> None:
    await put_model(store, keys.memorialization(TENANT, "demo"), MAPPING)


async def test_two_instances_deliver_each_write_back_exactly_once(
    two_stores: tuple[Store, Store],
) -> None:
    crm = FaultyCrm()
    one, two = context(two_stores[0], crm), context(two_stores[1], crm)
    await _configure(one.store)
    count = 12
    for n in range(count):
        due = interaction(f"call-{n}", linked=(CONTACT, ACCOUNT), details={"notes": "n" * 40})
        await store_due(one if n % 2 else two, due)
    # A replayed trigger adds nothing.
    assert (
        await outbox.enqueue(
            two.store, two.crms, interaction("call-0", linked=(CONTACT, ACCOUNT)), one.clock()
        )
        == []
    )
    await drain(worker(one), worker(two), worker(one), worker(two))
    assert len(crm.updates) == 2 * count
    assert len(crm.creates) == 2 * count
    assert len(crm.tasks()) == 2 * count
    items = await outbox.list_items(one.store, TENANT)
    assert len(items) == 2 * count
    assert all(i.status is OutboxStatus.done and i.attempts == 1 for i in items)
    assert crm.inner._find("contact", "C-2001")["last_notes"].endswith("…[truncated]")
    lines = await outbox.card_status(one.store, TENANT, "call-3")
    assert lines == ["Written to 2 records ✓", "Truncated: Notes"]


async def test_crm_down_for_a_while_then_back(one_store: Store) -> None:
    crm = FaultyCrm(down=5)
    ctx = context(one_store, crm)
    await _configure(ctx.store)
    for n in range(3):
        await store_due(ctx, interaction(f"call-{n}", details={"disposition": "Sold"}))
    busy = worker(ctx)
    await busy.run_once()
    lines = await outbox.card_status(ctx.store, TENANT, "call-0")
    assert lines[0].startswith("Retrying…") and "down" in lines[0]
    await drain(busy)
    assert len(crm.updates) == 3 and len(crm.creates) == 3 and len(crm.tasks()) == 3
    items = await outbox.list_items(ctx.store, TENANT)
    assert {i.status for i in items} == {OutboxStatus.done}
    assert sum(i.attempts for i in items) == 3 + 5  # each outage answer cost one attempt


async def test_a_tenant_whose_consent_was_revoked_gets_nothing_written_until_it_consents_again(
    one_store: Store,
) -> None:
    """Write-backs queued before a tenant's consent was revoked wait, retried, instead of
    writing to its CRMs; once its administrator consents again they are delivered."""
    crm = FaultyCrm()
    ctx = context(one_store, crm)
    await _configure(ctx.store)
    gated = Settings(_env_file=None, app_id="app", tenant_gate=True)  # type: ignore[call-arg]

    async def gate(tenant_id: str) -> None:
        await tenants.check_tenant(ctx.store, gated, tenant_id)

    await tenants.record_consent(ctx.store, TENANT, at=ctx.clock(), by="admin")
    await store_due(ctx, interaction("call-1", details={"disposition": "Sold"}))
    await tenants.revoke(ctx.store, TENANT, at=ctx.clock(), by="the consent re-check")
    held = worker(ctx, tenant_gate=gate)
    await held.run_once()
    assert crm.updates == [] and crm.creates == []
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.pending
    assert item.last_error is not None and "grant admin consent again" in item.last_error
    await tenants.record_consent(ctx.store, TENANT, at=ctx.clock(), by="admin")
    await drain(held)
    assert len(crm.updates) == 1 and len(crm.creates) == 1
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.done


async def test_429_storm_honours_retry_after(one_store: Store) -> None:
    crm = FaultyCrm(throttled=4, retry_after=0.15)
    ctx = context(one_store, crm)
    await store_due(ctx, interaction("chat-1"))  # default mapping: timeline only
    started = asyncio.get_running_loop().time()
    await drain(worker(ctx, jitter=lambda: 0.0))
    assert len(crm.creates) == 1 and len(crm.tasks()) == 1
    gaps = [b - a for a, b in zip(crm.calls_at, crm.calls_at[1:], strict=False)]
    assert len(crm.calls_at) == 5
    assert all(gap >= 0.14 for gap in gaps), gaps
    assert asyncio.get_running_loop().time() - started >= 4 * 0.15


async def test_killed_after_crm_write_does_not_duplicate_the_task(one_store: Store) -> None:
    crm = FaultyCrm(hold_after_create=asyncio.Event())
    ctx = context(one_store, crm)
    await _configure(ctx.store)
    await store_due(ctx, interaction("call-1", details={"disposition": "Resolved"}))
    doomed = worker(ctx, lease=0.6)
    task = doomed.start()
    await asyncio.wait_for(crm.created_event.wait(), 5)
    task.cancel()  # the process dies after the CRM made the Task, before we recorded it
    await asyncio.gather(task, return_exceptions=True)
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.pending and item.lease_owner == doomed.owner
    assert [s.done for s in item.steps] == [True, False]  # fields step recorded, timeline not
    crm.hold_after_create = None
    # A second later by the injected clock, the dead worker's lease has expired.
    later = dataclasses.replace(ctx, clock=lambda: ctx.clock() + timedelta(seconds=1))
    await drain(worker(later))
    assert len(crm.tasks()) == 1  # found by its external id, not created again
    assert len(crm.creates) == 1
    assert len(crm.updates) == 1  # the finished fields step was not redone
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.done and item.attempts == 2


async def test_live_lease_keeps_other_workers_off(one_store: Store) -> None:
    crm = FaultyCrm(hold_after_create=asyncio.Event())
    ctx = context(one_store, crm)
    await store_due(ctx, interaction("call-1"))
    shown = asyncio.Event()  # the card is shown again once the item is saved as done

    async def show(ctx: Context, interaction: Interaction) -> bool:
        shown.set()
        return True

    first = worker(ctx, lease=5.0, publish_card=show)
    task = first.start()
    await asyncio.wait_for(crm.created_event.wait(), 5)
    assert await worker(ctx).run_once() == 0  # claimed and leased: hands off
    assert crm.hold_after_create is not None
    crm.hold_after_create.set()
    await asyncio.wait_for(shown.wait(), 5)
    [item] = await outbox.list_items(ctx.store, TENANT)
    await first.stop()
    assert task.done()
    assert item.status is OutboxStatus.done and item.attempts == 1
    assert len(crm.creates) == 1


async def test_poison_is_parked_with_reason_and_replayed(one_store: Store) -> None:
    crm = FaultyCrm()
    ctx = context(one_store, crm)
    await _configure(ctx.store)
    gone = interaction("call-1", linked=(CONTACT,))
    gone.shown.records[CONTACT.ref.key] = CONTACT
    missing = CONTACT.model_copy(update={"ref": CONTACT.ref.model_copy(update={"id": "C-404"})})
    bad = interaction("call-2", linked=(missing,))
    await store_due(ctx, bad)
    await drain(worker(ctx))
    [item] = await outbox.list_items(ctx.store, TENANT, OutboxStatus.parked)
    assert "C-404" in (item.parked_reason or "")
    assert not [k async for k in ctx.store.keys(keys.OUTBOX_DUE_PREFIX)]
    lines = await outbox.card_status(ctx.store, TENANT, "call-2")
    assert lines == [f"Not written to Edward Ferrars: {item.parked_reason}"]
    # The admin fixes the CRM and replays.
    crm.inner._tables["contact"].append({"id": "C-404", "name": "Edward Ferrars"})
    await outbox.replay(ctx.store, TENANT, "call-2", missing.ref.key, ctx.clock())
    await drain(worker(ctx))
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.done
    assert len(crm.tasks()) == 1
    # Both outcomes are in the audit stream, which outlives the outbox's recovery copies.
    parked, delivered = await audit.query(ctx.store, TENANT, AuditQuery(kind="writeback"))
    assert (parked.kind, parked.door, parked.target) == (
        "writeback.parked",
        Door.system,
        item.record.key,
    )
    assert "C-404" in parked.details["reason"]
    assert (
        delivered.kind == "writeback.delivered" and delivered.details["interactionId"] == "call-2"
    )


async def test_a_refused_field_update_still_logs_the_activity_and_is_parked(
    one_store: Store,
) -> None:
    """The mapping names a field the record lacks: the activity is logged all the same,
    the fields wait parked with the CRM's reason, and a replay writes only them."""
    crm = FaultyCrm(refuse_updates="Demo CRM: no column last_disposition on contact")
    ctx = context(one_store, crm)
    await _configure(ctx.store)
    await store_due(ctx, interaction("call-1", details={"disposition": "Resolved"}))
    await drain(worker(ctx))
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.parked
    assert item.parked_reason == "Demo CRM: no column last_disposition on contact"
    assert [(step.kind.value, step.done) for step in item.steps] == [
        ("fields", False),
        ("timeline", True),
    ]
    assert len(crm.tasks()) == 1
    crm.refuse_updates = None  # the admin fixed the field
    await outbox.replay(ctx.store, TENANT, "call-1", CONTACT.ref.key, ctx.clock())
    await drain(worker(ctx))
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.done
    assert crm.updates == [(CONTACT.ref.key, {"last_disposition": "Resolved"})]
    assert len(crm.tasks()) == 1


async def test_endless_outage_parks_after_max_attempts(one_store: Store) -> None:
    crm = FaultyCrm(down=1000)
    ctx = context(one_store, crm)
    await store_due(ctx, interaction("call-1"))
    await drain(worker(ctx, policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)))
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.parked
    assert item.parked_reason and item.parked_reason.startswith("gave up after 3 attempts")
    assert len(crm.calls_at) == 3


@pytest.mark.parametrize(
    ("language", "given_up"),
    [("de", "nach 3 Versuchen aufgegeben: "), ("fr", "abandon après 3 tentatives : ")],
)
async def test_a_write_back_given_up_says_so_in_the_agents_language(
    one_store: Store, language: str, given_up: str
) -> None:
    crm = FaultyCrm(down=1000)
    ctx = context(one_store, crm)
    await store_due(ctx, interaction("call-1"))
    await drain(worker(ctx, policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)))
    [line] = await outbox.card_status(ctx.store, TENANT, "call-1")
    shown = localize(line, AgentLocale.of(language))
    assert given_up in shown and "gave up" not in shown


async def test_crm_without_updates_or_timeline_is_parked_as_not_supported(
    one_store: Store,
) -> None:
    from bot.adapters.crm.restkit import not_supported

    class NoWrites(FaultyCrm):
        async def update(self, ref, fields):  # type: ignore[no-untyped-def]
            raise not_supported("Zendesk", "updating records")

        async def create_timeline_activity(self, ref, subject, description, **kw):  # type: ignore[no-untyped-def]
            raise not_supported("Zendesk", "timeline activities")

    ctx = context(one_store, NoWrites())
    await _configure(ctx.store)
    await store_due(ctx, interaction("call-1"))
    await drain(worker(ctx))
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.parked
    assert (item.parked_reason or "").startswith("not supported by this CRM")
    german = localize(item.parked_reason or "", AgentLocale.of("de-DE"))
    assert german.startswith("von diesem CRM nicht unterstützt ("), german


async def test_the_timeline_activity_tells_who_called(one_store: Store) -> None:
    """An outbound call (the agent called the customer) is logged as one: Dynamics writes
    the phone call as made, Salesforce the Task's CallType as Outbound."""
    crm = FaultyCrm()
    ctx = context(one_store, crm)
    await _configure(ctx.store)
    outbound = interaction("call-out").model_copy(update={"direction": Direction.outbound})
    await store_due(ctx, interaction("call-in"))
    await store_due(ctx, outbound)
    await drain(worker(ctx))
    assert sorted(crm.outbound) == [False, True]
    written = {
        item.interaction_id: item.payload.outbound
        for item in await outbox.list_items(ctx.store, TENANT)
    }
    assert written == {"call-in": False, "call-out": True}


async def test_unlinked_and_open_interactions_enqueue_nothing(one_store: Store) -> None:
    ctx = context(one_store, FaultyCrm())
    assert await store_due(ctx, interaction("call-1", linked=(), unlinked=(CONTACT,))) == []
    assert (
        await store_due(ctx, interaction("call-2", events=(E.assigned, E.connected, E.ended))) == []
    )
    assert [k async for k in ctx.store.keys(keys.OUTBOX_DUE_PREFIX)] == []


async def test_a_transfer_already_picked_up_again_is_still_written_back(
    one_store: Store,
) -> None:
    """The next agent's assignment was stored before the transfer's listener ran: the
    transfer's write-back is made from the transferred interaction."""
    ctx = context(one_store, FaultyCrm())
    transferred = interaction("chat-1", channel=Channel.chat, events=(E.assigned, E.transferred))
    picked_up = interaction(
        "chat-1", channel=Channel.chat, events=(E.assigned, E.transferred, E.assigned)
    )
    await create_model(ctx.store, keys.interaction(TENANT, "chat-1"), picked_up)
    await outbox_listener()(ctx, transferred, transferred.history[-1])
    items = await outbox.items_for(ctx.store, TENANT, "chat-1")
    assert [item.record for item in items] == [CONTACT.ref]


async def test_restart_resumes_pending_and_scheduled_retries(tmp_path: Path) -> None:
    from bot.adapters.storage.local import LocalStore

    crm = FaultyCrm(down=1)
    now = [T0]

    def on_clock(store: Store) -> Context:
        return dataclasses.replace(context(store, crm), clock=lambda: now[0])

    first = LocalStore(tmp_path / "state.sqlite3")
    ctx = on_clock(first)
    await store_due(ctx, interaction("call-1"))
    await store_due(ctx, interaction("call-2"))
    doomed = worker(ctx, concurrency=1, policy=RetryPolicy(base_delay=60.0, max_delay=60.0))
    await doomed.run_once()  # call-1 meets the outage and is scheduled; call-2 is written
    await first.close()  # the process goes away
    assert len(crm.tasks()) == 1

    second = LocalStore(tmp_path / "state.sqlite3")  # a new process on the same store
    try:
        ctx = on_clock(second)
        [retrying] = await outbox.list_items(ctx.store, TENANT, OutboxStatus.pending)
        assert retrying.last_error and retrying.next_attempt_at > now[0]
        await worker(ctx).run_once()  # not due yet: the retry keeps its schedule
        assert len(crm.tasks()) == 1
        now[0] = retrying.next_attempt_at
        await drain(worker(ctx))
        items = await outbox.list_items(ctx.store, TENANT)
        assert [i.status for i in items] == [OutboxStatus.done, OutboxStatus.done]
        assert len(crm.tasks()) == 2 and len(crm.creates) == 2
    finally:
        await second.close()


async def test_crm_without_updates_gets_the_fields_as_a_note(one_store: Store) -> None:
    from bot.adapters.crm.restkit import not_supported

    class NoUpdates(FaultyCrm):
        async def update(self, ref, fields):  # type: ignore[no-untyped-def]
            raise not_supported("Freshdesk", "updating records")

    crm = NoUpdates()
    ctx = context(one_store, crm)
    fields_only = MemorializationMapping.model_validate(
        {**MAPPING.model_dump(by_alias=True), "timeline": {"enabled": False}}
    )
    await put_model(ctx.store, keys.memorialization(TENANT, "demo"), fields_only)
    await store_due(ctx, interaction("call-1", details={"disposition": "Sold"}))
    await drain(worker(ctx))
    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.done
    [note] = crm.tasks()
    assert note["subject"] == "Call (inbound) with Edward Ferrars"
    assert note["description"].startswith("last_disposition: Sold")
    # With a timeline step as well, no second note: the activity carries the interaction.
    await put_model(ctx.store, keys.memorialization(TENANT, "demo"), MAPPING)
    await store_due(ctx, interaction("call-2", details={"disposition": "Sold"}))
    await drain(worker(ctx))
    assert len(crm.tasks()) == 2
    lines = await outbox.card_status(ctx.store, TENANT, "call-2")
    assert lines == [
        "Written to 1 record ✓",
        "Edward Ferrars: Freshdesk does not support updating records",
    ]
