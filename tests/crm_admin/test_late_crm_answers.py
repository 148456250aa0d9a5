"""Progressive cards: the fast CRMs' records first, the slow CRM's when it answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.crm.directory import SameForEveryTenant
from bot.adapters.storage.local import LocalStore
from bot.domain.interactions import EventRecord, Interaction
from bot.domain.records import CrmRecord, RecordRef
from bot.services import interactions, keys, name_index
from bot.services.cards import get_card
from bot.services.context import Context, EventListener
from bot.services.crm import CrmClient, CrmUnavailable, SearchCriteria
from bot.services.publisher import Reached
from bot.services.store import Document, StoreError, read_model, update
from tests.services.test_click_store_calls import Recording

from .test_mappings_card import EVENT


class TimedCrm:
    """A CRM answering every search after ``latency`` seconds with one contact."""

    def __init__(self, settings_id: str, latency: float, fail: bool = False) -> None:
        self.settings_id = settings_id
        self.display_name = settings_id.capitalize()
        self.latency = latency
        self.fail = fail
        self.cancelled = False
        self.answered = False

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        try:
            await asyncio.sleep(self.latency)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.answered = True
        if self.fail:
            raise CrmUnavailable(f"{self.display_name} unavailable, retrying")
        ref = RecordRef(crm=self.settings_id, type="contact", id="1")
        return [CrmRecord(ref=ref, title=f"Edward in {self.display_name}")]

    async def get(self, ref: RecordRef) -> CrmRecord:
        raise NotImplementedError

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        return []

    async def create(self, *args: Any, **kwargs: Any) -> CrmRecord:
        raise NotImplementedError

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        raise NotImplementedError

    async def create_timeline_activity(self, *args: Any, **kwargs: Any) -> CrmRecord:
        raise NotImplementedError


class Recorded:
    def __init__(self) -> None:
        self.cards: list[Interaction] = []
        self.reached: list[object] = []

    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        self.cards.append(interaction)
        self.reached.append(reached)
        return True

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalStore]:
    store = LocalStore(tmp_path / "progressive.sqlite3")
    yield store
    await store.close()


def context(store: LocalStore, crms: list[Any], *, deadline: float = 1.0) -> Context:
    clients: list[CrmClient] = crms
    return Context(
        store=store,
        crms=SameForEveryTenant(clients),
        delivery=Recorded(),
        crm_deadline=deadline,
        crm_first_paint=0.1,
    )


async def start(ctx: Context) -> Interaction:
    event = interactions.InteractionEventIn.model_validate(EVENT)
    return await interactions.ingest(ctx, "t1", event)


async def settle(ctx: Context) -> None:
    await asyncio.gather(*list(ctx.background))


def crms_shown(interaction: Interaction) -> list[str]:
    return [interaction.shown.records[key].ref.crm for key in interaction.shown.person]


async def test_fast_crms_first_then_the_slow_one(store: LocalStore):
    slow = TimedCrm("slow", 0.4)
    ctx = context(store, [TimedCrm("fast", 0.0), slow, TimedCrm("quick", 0.02)])
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    answered = await start(ctx)
    assert not slow.answered  # the webhook was answered without waiting for the slow CRM
    [first] = delivery.cards
    assert crms_shown(first) == ["fast", "quick"]
    assert first.shown.problems == {"slow": "Slow is still answering…"}
    await settle(ctx)
    [_, second] = delivery.cards
    assert crms_shown(second) == ["fast", "quick", "slow"]
    assert second.shown.problems == {}
    assert second.revision == first.revision + 1
    assert answered.revision == first.revision


async def test_a_crm_past_the_deadline_is_marked_and_cancelled(store: LocalStore):
    dead = TimedCrm("dead", 5.0)
    ctx = context(store, [TimedCrm("fast", 0.0), dead], deadline=0.4)
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    await start(ctx)
    await settle(ctx)
    [_, second] = delivery.cards
    assert not dead.answered  # the card was completed at the deadline, not by the dead CRM
    assert second.shown.problems == {"dead": "Dead did not answer in time; Refresh to try again"}
    assert crms_shown(second) == ["fast"]
    assert dead.cancelled


async def test_late_failure_replaces_still_answering(store: LocalStore):
    ctx = context(store, [TimedCrm("fast", 0.0), TimedCrm("flaky", 0.2, fail=True)])
    await start(ctx)
    await settle(ctx)
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    assert delivery.cards[-1].shown.problems == {"flaky": "Flaky unavailable, retrying"}


async def test_all_fast_means_one_card_and_no_background_work(store: LocalStore):
    ctx = context(store, [TimedCrm("a", 0.0), TimedCrm("b", 0.01)])
    await start(ctx)
    assert not ctx.background
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    [only] = delivery.cards
    assert crms_shown(only) == ["a", "b"] and only.shown.problems == {}


async def test_replayed_start_event_does_not_look_up_twice(store: LocalStore):
    ctx = context(store, [TimedCrm("fast", 0.0), TimedCrm("slow", 0.3)])
    await start(ctx)
    await start(ctx)  # the same event again: already started, nothing new
    await settle(ctx)
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    assert crms_shown(delivery.cards[-1]) == ["fast", "slow"]


def interaction_calls(counted: Recording) -> list[str]:
    key = keys.interaction("t1", "call-1")
    return [name for name, called in counted.calls if called == key]


async def started_with(store: LocalStore, listener: EventListener) -> tuple[Context, Recording]:
    """A fast and a slow CRM's interaction started with ``listener``, its late update done;
    its store calls counted."""
    ctx = context(store, [TimedCrm("fast", 0.0), TimedCrm("slow", 0.2)])
    counted = Recording(store)
    ctx.store = counted
    ctx.event_listeners.append(listener)
    await start(ctx)
    await settle(ctx)
    return ctx, counted


async def test_the_late_update_starts_from_the_interaction_the_first_card_showed(
    store: LocalStore,
):
    """The event's listeners may change the interaction, and another writer may have since
    it was written, so it is read once after them for its first card; the late CRMs'
    compare-and-swap starts from that read."""

    async def listener(ctx: Context, interaction: Interaction, record: EventRecord) -> None:
        pass

    ctx, counted = await started_with(store, listener)
    assert interaction_calls(counted) == [
        "read",  # is it new?
        "create",
        "read",  # after the listeners
        "replace",  # the late CRMs' records
    ]
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    assert crms_shown(delivery.cards[-1]) == ["fast", "slow"]


async def test_what_a_listener_wrote_is_on_the_first_card(store: LocalStore):
    """A listener's write to the interaction (record creation's pin) is on the first card,
    and the late update keeps it."""

    async def listener(ctx: Context, interaction: Interaction, record: EventRecord) -> None:
        key = keys.interaction(interaction.tenant_id, interaction.id)
        await update(
            ctx.store, key, Interaction, lambda it: it.bumped(customer_name="Elinor Dashwood")
        )

    ctx, _ = await started_with(store, listener)
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    assert [card.customer_name for card in delivery.cards] == ["Elinor Dashwood"] * 2
    stored = await read_model(store, keys.interaction("t1", "call-1"), Interaction)
    assert stored is not None
    assert stored.customer_name == "Elinor Dashwood" and crms_shown(stored) == ["fast", "slow"]


async def test_a_late_update_from_a_stale_document_keeps_the_write_it_missed(
    store: LocalStore,
):
    """Without listeners the late CRMs' compare-and-swap starts from the interaction as
    created; a write it did not see fails that swap, which reads again and keeps it: a
    stale document costs a request, never an update."""
    ctx = context(store, [TimedCrm("fast", 0.0), TimedCrm("slow", 0.2)])
    interaction = await start(ctx)
    key = keys.interaction("t1", "call-1")
    await update(store, key, Interaction, lambda it: it.bumped(customer_name="Elinor Dashwood"))
    assert interaction.customer_name != "Elinor Dashwood"
    await settle(ctx)
    stored = await read_model(store, key, Interaction)
    assert stored is not None
    assert stored.customer_name == "Elinor Dashwood" and crms_shown(stored) == ["fast", "slow"]


class AskedCrm(TimedCrm):
    """A :class:`TimedCrm` that says when it was asked (``asked``) and when its search was
    cancelled (``given_up``)."""

    def __init__(self, settings_id: str, latency: float) -> None:
        super().__init__(settings_id, latency)
        self.asked = asyncio.Event()
        self.given_up = asyncio.Event()

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        self.asked.set()
        try:
            return await super().search(criteria)
        except asyncio.CancelledError:
            self.given_up.set()
            raise


async def test_the_crms_are_asked_while_the_card_and_the_agents_language_are_read(
    store: LocalStore,
):
    """A new interaction's CRMs are asked before its card and its agent's language are
    read, not after: on Blob Storage those reads are round trips the first paint would
    otherwise wait for on top of the CRMs. Here those reads wait until a CRM was asked."""
    fast = AskedCrm("fast", 0.0)

    class ReadsAfterTheCrms(Recording):
        async def read(self, key: str) -> Document | None:
            if "/card-index/" in key or key.endswith("/language"):
                await asyncio.wait_for(fast.asked.wait(), 5)  # before: never, a TimeoutError
            return await super().read(key)

    ctx = context(store, [fast])
    ctx.store = ReadsAfterTheCrms(store)
    interaction = await start(ctx)
    assert crms_shown(interaction) == ["fast"]


async def test_the_card_and_the_agents_inbox_are_written_at_once(store: LocalStore):
    """A new interaction goes on its card and in its agent's inbox at once, two documents
    the first paint waits for. Here the card's write (the attach; a new card is created
    before) waits until the inbox was read."""
    inbox_read = asyncio.Event()

    class CardAfterInbox(Recording):
        async def read(self, key: str) -> Document | None:
            if key == keys.agent_inbox("t1", "agent-1"):
                inbox_read.set()
            return await super().read(key)

        async def replace(self, key: str, data: bytes, etag: str) -> str:
            if "/cards/" in key:
                await asyncio.wait_for(inbox_read.wait(), 5)  # before: never, a TimeoutError
            return await super().replace(key, data, etag)

    ctx = context(store, [TimedCrm("fast", 0.0)])
    ctx.store = CardAfterInbox(store)
    interaction = await start(ctx)
    card = await get_card(store, "t1", interaction.card_id)
    assert card is not None and card.interaction_ids == ["call-1"]
    inbox = await read_model(store, keys.agent_inbox("t1", "agent-1"), interactions.AgentInbox)
    assert inbox is not None and inbox.interaction_ids == ["call-1"]


async def test_a_start_that_failed_leaves_no_crm_asking(store: LocalStore):
    """The CRMs asked for an interaction whose card could not be read are cancelled."""
    slow = AskedCrm("slow", 30.0)
    ctx = context(store, [TimedCrm("fast", 0.0), slow], deadline=60.0)

    class Broken(Recording):
        async def read(self, key: str) -> Document | None:
            if "/card-index/" in key:
                await asyncio.wait_for(slow.asked.wait(), 5)  # the CRMs are under way
                raise StoreError("the store is down")
            return await super().read(key)

    ctx.store = Broken(store)
    with pytest.raises(StoreError):
        await start(ctx)
    for _ in range(10):  # a few turns of the loop for the cancellation to reach the CRM
        if slow.cancelled:
            break
        await asyncio.sleep(0)
    assert slow.cancelled


class FailsAfterTheCrms(Recording):
    """A store whose ``call`` ("read" or "replace") of keys containing ``part`` fails: the
    screen pop's read of its lookup, the attach's write of the card, both made once the
    first CRMs answered (the slow one still asked)."""

    def __init__(self, inner: LocalStore, call: str, part: str) -> None:
        super().__init__(inner)
        self.call, self.part = call, part

    def _fails(self, call: str, key: str) -> None:
        if call == self.call and self.part in key:
            raise StoreError("the store is down")

    async def read(self, key: str) -> Document | None:
        self._fails("read", key)
        return await super().read(key)

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        self._fails("replace", key)
        return await super().replace(key, data, etag)


@pytest.mark.parametrize(
    ("call", "part"),
    [("read", "/caller-lookups/"), ("replace", "/cards/")],
    ids=["screen-pop", "attach"],
)
async def test_a_start_that_failed_after_the_crms_answered_leaves_no_crm_asking(
    store: LocalStore, call: str, part: str
):
    """The slow CRMs of an interaction whose screen pop or attach failed, after the first
    CRMs answered, are cancelled: no late update runs on, outside the background work."""
    slow = AskedCrm("slow", 30.0)
    ctx = context(store, [TimedCrm("fast", 0.0), slow], deadline=60.0)
    ctx.store = FailsAfterTheCrms(store, call, part)
    event = interactions.InteractionEventIn.model_validate({**EVENT, "lookupId": "lookup-1"})
    with pytest.raises(StoreError):
        await interactions.ingest(ctx, "t1", event)
    await asyncio.wait_for(slow.given_up.wait(), 5)  # before: never, a TimeoutError
    assert not ctx.background


async def test_a_failed_attach_stops_the_agents_inbox_write(store: LocalStore):
    """The card's write and the agent inbox's run at once; when the card's fails, the
    inbox's is cancelled before the start fails (no write after the request failed)."""
    inbox_written = asyncio.Event()
    cancelled: list[str] = []

    class CardFailsWhileTheInboxIsWritten(Recording):
        async def create(self, key: str, data: bytes) -> str:
            if key == keys.agent_inbox("t1", "agent-1"):
                inbox_written.set()
                try:
                    await asyncio.Event().wait()  # a write still under way
                except asyncio.CancelledError:
                    cancelled.append(key)
                    raise
            return await super().create(key, data)

        async def replace(self, key: str, data: bytes, etag: str) -> str:
            if "/cards/" in key:
                await asyncio.wait_for(inbox_written.wait(), 5)
                raise StoreError("the store is down")
            return await super().replace(key, data, etag)

    ctx = context(store, [TimedCrm("fast", 0.0)])
    ctx.store = CardFailsWhileTheInboxIsWritten(store)
    with pytest.raises(StoreError):
        await start(ctx)
    assert cancelled == [keys.agent_inbox("t1", "agent-1")]  # before: still waiting


async def test_the_late_update_follows_when_a_listener_failed(store: LocalStore):
    """A listener that failed fails the webhook (the platform sends it again); the slow CRMs
    still complete the card."""
    ctx = context(store, [TimedCrm("fast", 0.0), TimedCrm("slow", 0.2)])

    async def broken(ctx: Context, interaction: Interaction, record: EventRecord) -> None:
        raise RuntimeError("listener broke")

    ctx.event_listeners.append(broken)
    with pytest.raises(RuntimeError):
        await start(ctx)
    await settle(ctx)
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    [card] = delivery.cards
    assert crms_shown(card) == ["fast", "slow"] and card.shown.problems == {}


class FilingWatched(Recorded):
    """Notes, at each card sent, which CRM records' reference documents exist already."""

    def __init__(self, store: LocalStore, refs: list[RecordRef]) -> None:
        super().__init__()
        self.store, self.refs = store, refs
        self.filed_at_send: list[list[str]] = []

    async def filed(self) -> list[str]:
        found = []
        for ref in self.refs:
            if await name_index.lookup_crm(self.store, "t1", ref.key):
                found.append(ref.crm)
        return found

    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        self.filed_at_send.append(await self.filed())
        return await super().deliver(interaction, card)


async def test_the_late_update_goes_where_the_first_card_found_the_agent(store: LocalStore):
    """The first card and its late CRMs' update are one card: the update is delivered
    with the first delivery's ``Reached`` (the agent's conversation is not read again);
    the interaction's next event is another card, with its own."""
    ctx = context(store, [TimedCrm("fast", 0.0), TimedCrm("slow", 0.2)])
    delivery = ctx.delivery
    assert isinstance(delivery, Recorded)
    await start(ctx)
    await settle(ctx)
    first, update = delivery.reached
    assert isinstance(first, Reached) and update is first
    connected = {**EVENT, "event": "connected", "occurredAt": "2026-11-23T08:00:05Z"}
    await interactions.ingest(ctx, "t1", interactions.InteractionEventIn.model_validate(connected))
    assert len(delivery.reached) == 3
    assert isinstance(delivery.reached[2], Reached) and delivery.reached[2] is not first


async def test_each_card_goes_out_before_its_records_are_filed(store: LocalStore):
    """The agent waits for the card; the name and CRM-reference indexes can wait for it."""
    ctx = context(store, [TimedCrm("fast", 0.0), TimedCrm("slow", 0.3)])
    refs = [RecordRef(crm=crm, type="contact", id="1") for crm in ("fast", "slow")]
    ctx.delivery = watched = FilingWatched(store, refs)
    await start(ctx)
    assert watched.filed_at_send == [[]]  # the first card went out before any filing
    assert await watched.filed() == ["fast"]  # and the webhook answered once it was filed
    await settle(ctx)
    assert watched.filed_at_send == [[], ["fast"]]  # the late card before the late record
    assert await watched.filed() == ["fast", "slow"]


async def test_a_failed_listener_still_leaves_the_card_filed(store: LocalStore):
    """The platform's retry of a failed webhook is a replay, which files nothing: the first
    attempt files the new card whatever its listeners did."""
    ctx = context(store, [TimedCrm("fast", 0.0), TimedCrm("slow", 0.2)])
    refs = [RecordRef(crm=crm, type="contact", id="1") for crm in ("fast", "slow")]
    ctx.delivery = watched = FilingWatched(store, refs)

    async def broken(ctx: Context, interaction: Interaction, record: EventRecord) -> None:
        raise RuntimeError("listener broke")

    ctx.event_listeners.append(broken)
    with pytest.raises(RuntimeError):
        await start(ctx)
    assert await watched.filed() == ["fast"]
    await settle(ctx)
    assert await watched.filed() == ["fast", "slow"]
