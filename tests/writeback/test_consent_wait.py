"""Write-backs of a tenant the gate refuses (no admin consent, or a revoked one) wait for
consent: no attempt used up, never parked for it, and due at once when it is granted."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.i18n import AgentLocale, Text, localize
from bot.services import outbox, tenants
from bot.services.context import Context
from bot.services.outbox import OutboxItem, OutboxStatus
from bot.services.retry import RetryPolicy
from bot.services.store import Store, put, read_model
from bot.settings import Settings
from tests.writeback.harness import (
    T0,
    TENANT,
    FaultyCrm,
    context,
    drain,
    interaction,
    store_due,
    worker,
)

GATED = Settings(_env_file=None, app_id="app", tenant_gate=True)  # type: ignore[call-arg]
WAITING = "Waiting for admin consent; written as soon as it is granted: {reason}"


class Clock:
    """The injected clock: moved by the test, never slept on."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def gated(store: Store, crm: FaultyCrm, clock: Clock) -> Context:
    return dataclasses.replace(context(store, crm), clock=clock)


def gate_of(ctx: Context) -> Callable[[str], Awaitable[None]]:
    async def gate(tenant_id: str) -> None:
        await tenants.check_tenant(ctx.store, GATED, tenant_id)

    return gate


async def revoked(ctx: Context) -> None:
    await tenants.record_consent(ctx.store, TENANT, at=ctx.clock(), by="admin")
    await tenants.revoke(ctx.store, TENANT, at=ctx.clock(), by="the consent re-check")


async def the_item(ctx: Context, interaction_id: str = "call-1") -> OutboxItem:
    [item] = await outbox.items_for(ctx.store, TENANT, interaction_id)
    return item


async def test_a_gate_refusal_costs_no_attempt_and_never_parks_the_write_back(
    one_store: Store,
) -> None:
    """The CRM was never called, so no attempt is used up: refused far more often than
    the policy's attempts, the item still waits, its waits growing to the policy's cap."""
    clock, crm = Clock(), FaultyCrm()
    ctx = gated(one_store, crm, clock)
    await revoked(ctx)
    await store_due(ctx, interaction("call-1", details={"disposition": "Sold"}))
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0)
    held = worker(ctx, tenant_gate=gate_of(ctx), policy=policy, jitter=lambda: 1.0)
    waits: list[float] = []
    for _ in range(3 * policy.max_attempts):
        assert await held.run_once() == 1
        item = await the_item(ctx)
        assert item.status is OutboxStatus.pending and item.attempts == 0
        assert item.waiting_for_consent and not item.waiting_for_sign_in
        assert item.lease_owner is None and item.parked_reason is None
        waits.append((item.next_attempt_at - clock.now).total_seconds())
        clock.now = item.next_attempt_at
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    assert crm.calls_at == [] and crm.updates == []

    # The admin console and the card tell why, in the reader's language.
    error = item.last_error
    assert isinstance(error, Text) and error.msgid == WAITING
    assert "grant admin consent again" in error
    german = localize(error, AgentLocale.of("de-DE"))
    assert german.startswith("Wartet auf die Administratorzustimmung")
    assert "Administratorzustimmung erneut erteilen" in german
    french = localize(error, AgentLocale.of("fr-FR"))
    assert french.startswith("En attente du consentement administrateur")
    [line] = await outbox.card_status(ctx.store, TENANT, "call-1")
    assert line.startswith("Retrying… (1 record: Waiting for admin consent")

    # Consented again, the first CRM call is the item's first attempt; an outage then is
    # retried as ever, from the policy's first wait.
    await tenants.record_consent(ctx.store, TENANT, at=clock.now, by="admin")
    crm.down = 1
    await held.run_once()
    item = await the_item(ctx)
    assert item.attempts == 1 and not item.waiting_for_consent
    assert (item.next_attempt_at - clock.now).total_seconds() == 1.0
    clock.now = item.next_attempt_at
    await held.run_once()
    item = await the_item(ctx)
    assert item.status is OutboxStatus.done and item.attempts == 2


async def test_a_refusal_after_crm_failures_keeps_their_count_and_their_backoff(
    one_store: Store,
) -> None:
    clock, crm = Clock(), FaultyCrm(down=2)
    ctx = gated(one_store, crm, clock)
    await tenants.record_consent(ctx.store, TENANT, at=clock.now, by="admin")
    await store_due(ctx, interaction("call-1"))
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=64.0)
    held = worker(ctx, tenant_gate=gate_of(ctx), policy=policy, jitter=lambda: 1.0)
    for _ in range(2):  # two outages: two attempts of three
        await held.run_once()
        clock.now = (await the_item(ctx)).next_attempt_at
    await tenants.revoke(ctx.store, TENANT, at=clock.now, by="the consent re-check")
    waits = []
    for _ in range(4):
        await held.run_once()
        item = await the_item(ctx)
        assert item.status is OutboxStatus.pending and item.attempts == 2
        waits.append((item.next_attempt_at - clock.now).total_seconds())
        clock.now = item.next_attempt_at
    assert waits == [4.0, 8.0, 16.0, 32.0]  # going on from the outages' waits (1, 2)


async def test_granting_consent_makes_the_tenants_waiting_write_backs_due_at_once(
    one_store: Store,
) -> None:
    """Mirrors an agent's sign-in: only the items waiting for this tenant's consent are
    made due; others keep their backoff."""
    clock, crm = Clock(), FaultyCrm(down=1)
    ctx = gated(one_store, crm, clock)
    policy = RetryPolicy(max_attempts=3, base_delay=600.0, max_delay=3600.0)
    held = worker(ctx, tenant_gate=gate_of(ctx), policy=policy)
    await tenants.record_consent(ctx.store, TENANT, at=clock.now, by="admin")
    await store_due(ctx, interaction("call-outage"))
    await held.run_once()  # meets the outage: waits its backoff, not for consent
    outage = await the_item(ctx, "call-outage")
    assert outage.attempts == 1 and not outage.waiting_for_consent

    await tenants.revoke(ctx.store, TENANT, at=clock.now, by="the consent re-check")
    other = interaction("call-other").model_copy(update={"tenant_id": "t-other"})
    for due in (interaction("call-1"), interaction("call-2"), other):
        await store_due(ctx, due)
    await held.run_once()
    await held.run_once()  # their backoff holds them: nothing is attempted
    waiting = [await the_item(ctx, i) for i in ("call-1", "call-2")]
    assert all(i.waiting_for_consent and i.next_attempt_at > clock.now for i in waiting)
    [elsewhere] = await outbox.items_for(ctx.store, "t-other", "call-other")
    assert elsewhere.waiting_for_consent
    assert len(crm.calls_at) == 1

    await tenants.record_consent(ctx.store, TENANT, at=clock.now, by="admin")
    made_due = await outbox.due_at_consent(ctx.store, TENANT, clock.now)
    assert sorted(made_due) == sorted(i.key for i in waiting)
    assert [(await the_item(ctx, i)).next_attempt_at for i in ("call-1", "call-2")] == [
        clock.now,
        clock.now,
    ]
    assert (await the_item(ctx, "call-outage")).next_attempt_at == outage.next_attempt_at
    [still] = await outbox.items_for(ctx.store, "t-other", "call-other")
    assert still.next_attempt_at == elsewhere.next_attempt_at

    assert await held.run_once() == 2  # no time passed: the grant alone made them due
    for name in ("call-1", "call-2"):
        item = await the_item(ctx, name)
        assert item.status is OutboxStatus.done and item.attempts == 1
    assert (await the_item(ctx, "call-outage")).status is OutboxStatus.pending
    assert await outbox.due_at_consent(ctx.store, TENANT, clock.now) == []


async def test_the_running_worker_delivers_as_soon_as_consent_is_granted(
    one_store: Store,
) -> None:
    """The worker's ``consent_granted`` (what the consent callback calls) wakes it: no
    waiting out the backoff nor the next poll."""
    crm = FaultyCrm()
    ctx = context(one_store, crm)
    await revoked(ctx)
    await store_due(ctx, interaction("call-1"))
    policy = RetryPolicy(max_attempts=3, base_delay=3600.0, max_delay=3600.0)
    running = worker(ctx, tenant_gate=gate_of(ctx), policy=policy, poll_interval=3600.0)
    running.start()
    try:
        await until(lambda item: item.waiting_for_consent, ctx)
        await tenants.record_consent(ctx.store, TENANT, at=ctx.clock(), by="admin")
        await running.consent_granted(TENANT)
        item = await until(lambda item: item.status is OutboxStatus.done, ctx)
        assert item.attempts == 1 and len(crm.creates) == 1
    finally:
        await running.stop()


async def until(
    condition: Callable[[OutboxItem], bool], ctx: Context, timeout: float = 5.0
) -> OutboxItem:
    """The item once ``condition`` holds for it (looked at as the worker goes)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        items = await outbox.items_for(ctx.store, TENANT, "call-1")
        if items and condition(items[0]):
            return items[0]
        assert asyncio.get_running_loop().time() < deadline, items
        await asyncio.sleep(0.01)


async def test_an_item_stored_before_the_consent_wait_existed_loads_and_is_delivered(
    one_store: Store,
) -> None:
    ctx = context(one_store, FaultyCrm())
    [item] = await store_due(ctx, interaction("call-1"))
    stored = json.loads(item.model_dump_json())
    for new in ("waiting_for_consent", "consent_refusals"):
        del stored[new]
    stored.update(attempts=2, last_error="Demo CRM is down (503)", waiting_for_sign_in=False)
    await put(ctx.store, item.key, json.dumps(stored).encode())
    loaded = await read_model(ctx.store, item.key, OutboxItem)
    assert loaded is not None and loaded.attempts == 2
    assert not loaded.waiting_for_consent and loaded.consent_refusals == 0
    await drain(worker(ctx))
    delivered = await the_item(ctx)
    assert delivered.status is OutboxStatus.done and delivered.attempts == 3


async def test_a_replayed_write_back_waits_for_nothing_until_it_is_tried(one_store: Store) -> None:
    """An admin's replay makes a waiting item due now: it no longer says it waits for
    consent (the console's badge) until the worker has tried it; a finished one neither."""
    clock, crm = Clock(), FaultyCrm()
    ctx = gated(one_store, crm, clock)
    await revoked(ctx)
    await store_due(ctx, interaction("call-1", details={"disposition": "Sold"}))
    held = worker(ctx, tenant_gate=gate_of(ctx))
    await held.run_once()
    waiting = await the_item(ctx)
    assert waiting.waiting_for is outbox.WaitingFor.consent
    replayed = await outbox.replay(ctx.store, TENANT, "call-1", waiting.record.key, clock.now)
    assert replayed.waiting_for is None
    assert not replayed.waiting_for_consent and not replayed.waiting_for_sign_in
    await tenants.record_consent(ctx.store, TENANT, at=clock.now, by="admin")
    await held.run_once()
    done = await the_item(ctx)
    assert done.status is OutboxStatus.done
    assert not done.waiting_for_consent and not done.waiting_for_sign_in
