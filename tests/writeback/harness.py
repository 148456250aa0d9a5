"""A write-back test rig: a demo CRM that counts writes and misbehaves on demand, and
contexts (one per "process") over one shared store."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.adapters.crm.demo import DemoCrm
from bot.domain import identifiers
from bot.domain.cards import CardIdentity
from bot.domain.identifiers import Channel
from bot.domain.interactions import (
    Agent,
    EventRecord,
    Interaction,
    LifecycleEvent,
    LinkState,
    ShownRecords,
)
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.services import keys, outbox
from bot.services.context import Context
from bot.services.crm import (
    AgentNotSignedIn,
    CrmClient,
    CrmThrottled,
    CrmUnavailable,
    InvalidRecord,
    SearchCriteria,
)
from bot.services.retry import RetryPolicy
from bot.services.store import Store, create_model
from bot.services.tenants import TenantNotConsented
from bot.services.writeback import WritebackWorker

TENANT = "t-writeback"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
AGENT = Agent(aad_object_id="agent-1", name="Elinor Dashwood")


@dataclass
class FaultyCrm:
    """The demo CRM behind a switchboard of faults, counting the writes that reached it."""

    inner: DemoCrm = field(default_factory=DemoCrm)
    updates: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)
    down: int = 0  # the next N write calls fail as an outage
    throttled: int = 0  # the next N write calls answer 429
    signed_out: int = 0  # the next N write calls find no sign-in of the agent (delegated)
    retry_after: float | None = 0.05
    refuse_updates: str | None = None  # set: record updates are refused (a 4xx) with it
    calls_at: list[float] = field(default_factory=list)
    hold_after_create: asyncio.Event | None = None  # set: block after the Task is created
    created_event: asyncio.Event = field(default_factory=asyncio.Event)
    outbound: list[bool] = field(default_factory=list)  # each timeline activity's direction

    @property
    def settings_id(self) -> str:
        return self.inner.settings_id

    @property
    def display_name(self) -> str:
        return self.inner.display_name

    def _gate(self) -> None:
        self.calls_at.append(asyncio.get_running_loop().time())
        if self.down > 0:
            self.down -= 1
            raise CrmUnavailable("Demo CRM is down (503)")
        if self.throttled > 0:
            self.throttled -= 1
            raise CrmThrottled("Demo CRM: too many requests (429)", self.retry_after)
        if self.signed_out > 0:
            self.signed_out -= 1
            raise AgentNotSignedIn("Demo CRM: sign in to it in the crmcard tab")

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        return await self.inner.search(criteria)

    async def get(self, ref: RecordRef) -> CrmRecord:
        return await self.inner.get(ref)

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        return await self.inner.related(ref)

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        return await self.inner.create(record_type, record, related_to)

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        self._gate()
        if self.refuse_updates is not None:
            raise InvalidRecord(self.refuse_updates)
        self.updates.append((ref.key, fields))
        return await self.inner.update(ref, fields)

    async def find_timeline_activity(self, ref: RecordRef, external_id: str) -> CrmRecord | None:
        return await self.inner.find_timeline_activity(ref, external_id)

    async def create_timeline_activity(
        self,
        ref: RecordRef,
        subject: str,
        description: str,
        *,
        activity_type: str = "task",
        outbound: bool = False,
        external_id: str | None = None,
    ) -> CrmRecord:
        self._gate()
        created = await self.inner.create_timeline_activity(
            ref,
            subject,
            description,
            activity_type=activity_type,
            outbound=outbound,
            external_id=external_id,
        )
        self.creates.append(ref.key)
        self.outbound.append(outbound)
        self.created_event.set()
        if self.hold_after_create is not None:
            await self.hold_after_create.wait()  # "killed" here: cancelled before marking done
        return created

    def tasks(self) -> list[dict[str, str]]:
        return list(self.inner._tables.get("task", []))[1:]  # the seed has one task


class Crms:
    def __init__(self, *clients: Any) -> None:
        self._clients = list(clients)

    async def clients(self, tenant_id: str) -> list[CrmClient]:
        return self._clients


class NoDelivery:
    def __init__(self) -> None:
        self.cards: list[dict[str, Any]] = []

    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        self.cards.append(card)
        return True

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


def context(store: Store, *clients: Any) -> Context:
    return Context(store=store, crms=Crms(*clients), delivery=NoDelivery())


def worker(ctx: Context, **overrides: Any) -> WritebackWorker:
    options: dict[str, Any] = {
        "poll_interval": 0.02,
        "lease": 5.0,
        "policy": RetryPolicy(max_attempts=8, base_delay=0.02, max_delay=0.2),
        "publish_card": _no_publish,
    }
    options.update(overrides)
    return WritebackWorker(ctx, **options)


async def _no_publish(ctx: Context, interaction: Interaction) -> bool:
    return True


def crm_record(type_: str, id_: str, title: str) -> CrmRecord:
    return CrmRecord(ref=RecordRef(crm="demo", type=type_, id=id_), title=title)


CONTACT = crm_record("contact", "C-2001", "Edward Ferrars")
ACCOUNT = crm_record("account", "A-1001", "Norland Park Estates")
CASE = crm_record("case", "CS-3001", "Broken gate")


def event(name: LifecycleEvent, minute: int) -> EventRecord:
    return EventRecord(event=name, occurred_at=T0 + timedelta(minutes=minute), agent=AGENT)


def interaction(
    interaction_id: str = "call-1",
    channel: Channel = Channel.voice,
    events: tuple[LifecycleEvent, ...] = (
        LifecycleEvent.assigned,
        LifecycleEvent.connected,
        LifecycleEvent.ended,
        LifecycleEvent.acw_completed,
    ),
    linked: tuple[CrmRecord, ...] = (CONTACT,),
    unlinked: tuple[CrmRecord, ...] = (),
    pinned: tuple[CrmRecord, ...] = (),
    details: dict[str, str] | None = None,
) -> Interaction:
    shown = [*linked, *unlinked, *pinned]
    links = {
        r.ref.key: LinkState(linked=r not in unlinked, rev=1, by="agent-1", at=T0) for r in shown
    }
    return Interaction(
        id=interaction_id,
        tenant_id=TENANT,
        card_id=f"card-{interaction_id}",
        channel=channel,
        agent=AGENT,
        queue="Support",
        customer_name="Edward Ferrars",
        identities=[CardIdentity(channel=channel, identifier=identifiers.phone("+15550100"))],
        history=[event(name, minute) for minute, name in enumerate(events)],
        links=links,
        shown=ShownRecords(
            records={r.ref.key: r for r in shown},
            person=[r.ref.key for r in (*linked, *unlinked) if r.ref.type == "contact"],
            current=[r.ref.key for r in pinned],
        ),
        details=details or {},
    )


async def store_due(ctx: Context, due: Interaction) -> list[outbox.OutboxItem]:
    """Store the interaction and enqueue its write-back, as the event listener does."""
    await create_model(ctx.store, keys.interaction(due.tenant_id, due.id), due)
    return await outbox.enqueue(ctx.store, ctx.crms, due, ctx.clock())


async def drain(*workers: WritebackWorker, timeout: float = 10.0) -> None:
    """Run the workers until no due marker is left."""
    store = workers[0].ctx.store
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await asyncio.gather(*(w.run_once() for w in workers))
        if not [key async for key in store.keys(keys.OUTBOX_DUE_PREFIX)]:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("write-backs still due after the deadline")
        await asyncio.sleep(0.01)


async def store_every_wait(store: Store) -> None:
    """Four write-backs of ``TENANT`` in ``store``, as the worker leaves them: ``call-sign-in``
    waits for its agent's sign-in, ``call-consent`` for the tenant's admin consent,
    ``call-outage`` is retried after an outage (it waits for its backoff only), and
    ``call-signed-in-since`` waited for the sign-in, which came: it is delivered. The clock
    stands still at ``T0``, so none falls due again."""
    crm = FaultyCrm()
    ctx = dataclasses.replace(context(store, crm), clock=lambda: T0)
    plain = worker(ctx)

    async def refused(tenant_id: str) -> None:
        raise TenantNotConsented(tenant_id, revoked=True)

    async def attempt(interaction_id: str, by: WritebackWorker = plain) -> None:
        await store_due(ctx, interaction(interaction_id))
        assert await by.run_once() == 1

    crm.signed_out = 1
    await attempt("call-signed-in-since")
    assert await outbox.due_at_sign_in(store, TENANT, AGENT.aad_object_id, T0)
    assert await plain.run_once() == 1
    crm.signed_out = 1
    await attempt("call-sign-in")
    await attempt("call-consent", worker(ctx, tenant_gate=refused))
    crm.down = 1
    await attempt("call-outage")
