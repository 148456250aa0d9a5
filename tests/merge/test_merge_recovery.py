"""A merge or undo whose process dies between any two of its writes is settled.

Fault injection: :class:`DyingStore` lets a merge (or undo) make its first ``n`` writes and
raises :class:`ProcessDied` at the next one, for every ``n`` from the first write to the
last, on SQLite and on Azurite. Then another instance, later than the stale-hold bound,
runs the recovery sweep, and the test checks what a crash must never leave: every
identity and interaction on exactly one live card, no card held, and an undo that still
gives back both cards exactly as they were.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.identifiers import Channel
from bot.domain.interactions import Agent, Interaction
from bot.domain.merge import MarkerRole, MergeAudit, MergeMarker, MergeState
from bot.services import keys, merge
from bot.services.cards import attach_interaction, get_card, live_card, resolve_card
from bot.services.context import Context
from bot.services.store import Document, Store, StoreError, create_model, read_model
from tests.merge.instances import (
    NOW,
    TENANT,
    assert_consistent,
    assert_markers_flagged,
    make_card,
)
from tests.store_wrapper import StoreWrapper

EVERYTHING = {"voice/phone:+15550100", "email/email:edward@example.com"}
INTERACTIONS = {"call-1", "mail-1"}
LATER = NOW + merge.STALE_LOCK  # when another instance may take over a dead merge


class ProcessDied(Exception):
    """The process stopped here: no write after this one happens."""


class DyingStore(StoreWrapper):
    """A store that allows ``writes`` more writes (create, replace, delete), then dies;
    or, with ``dies_at``, dies at its first write of a key starting so."""

    def __init__(self, inner: Store, writes: int = 10_000, dies_at: str | None = None) -> None:
        super().__init__(inner)
        self.writes_left = writes
        self.dies_at = dies_at
        self.writes = 0

    async def before(self, call: str, key: str) -> None:
        if call != "read":
            self._write(key)

    def _write(self, key: str) -> None:
        if self.writes_left == 0 or (self.dies_at is not None and key.startswith(self.dies_at)):
            raise ProcessDied
        self.writes_left -= 1
        self.writes += 1

    async def close(self) -> None:
        """The shared store stays open."""


class FailingOnce(DyingStore):
    """A store whose first write of ``key`` fails with a store error; the process lives on."""

    def __init__(self, inner: Store, key: str) -> None:
        super().__init__(inner)
        self.failing = key

    def _write(self, key: str) -> None:
        if key == self.failing:
            self.failing = ""
            raise StoreError("the store is down")
        super()._write(key)


class LandsThenFails(StoreWrapper):
    """A store whose first create of ``key`` lands, then fails with a store error, as a
    request whose answer was lost through every retry."""

    def __init__(self, inner: Store, key: str) -> None:
        super().__init__(inner)
        self.landing = key

    async def create(self, key: str, data: bytes) -> str:
        etag = await self.inner.create(key, data)
        if key != self.landing:
            return etag
        self.landing = ""
        raise StoreError("the store is down")


class Pausing(DyingStore):
    """A store that, at its first write of ``key`` (its first ``only`` call: "create",
    "replace" or "delete"), says so (``reached``) and waits for ``go``; with
    ``then_fails`` that write then fails with a store error."""

    def __init__(
        self, inner: Store, key: str, then_fails: bool = False, only: str | None = None
    ) -> None:
        super().__init__(inner)
        self.pause_at = key
        self.then_fails = then_fails
        self.only = only
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    async def before(self, call: str, key: str) -> None:
        if call != "read" and call == (self.only or call) and key == self.pause_at:
            self.pause_at = ""
            self.reached.set()
            await self.go.wait()
            if self.then_fails:
                raise StoreError("the store is down")
        await super().before(call, key)


def on(ctx: Context, store: Store, at: datetime = NOW) -> Context:
    return Context(store=store, crms=ctx.crms, delivery=ctx.delivery, clock=lambda: at)


async def writes_of(ctx: Context, action: Callable[[Context], Awaitable[object]]) -> int:
    """How many writes ``action`` makes when nothing dies."""
    counting = DyingStore(ctx.store)
    await action(on(ctx, counting))
    return counting.writes


async def two_cards(ctx: Context) -> tuple[str, str, CustomerCard, CustomerCard]:
    a = await make_card(ctx, "call-1", Channel.voice, "+1 555 0100")
    b = await make_card(ctx, "mail-1", Channel.email, "edward@example.com")
    card_a, card_b = await get_card(ctx.store, TENANT, a), await get_card(ctx.store, TENANT, b)
    assert card_a is not None and card_b is not None
    return a, b, card_a, card_b


async def clear(ctx: Context) -> None:
    async for key in ctx.store.keys(keys.tenant_prefix(TENANT)):
        await ctx.store.delete(key)
    async for key in ctx.store.keys(keys.UNFINISHED_MERGES_PREFIX):
        await ctx.store.delete(key)


async def assert_nothing_unfinished(ctx: Context) -> None:
    assert [key async for key in ctx.store.keys(keys.UNFINISHED_MERGES_PREFIX)] == []


async def assert_held_for(ctx: Context, card_id: str, merge_id: str) -> None:
    """The card still held and the merge's entry still filed, for the call relying on them."""
    assert await read_model(ctx.store, keys.card_merge(TENANT, card_id), MergeMarker)
    assert await ctx.store.read(keys.unfinished_merge(TENANT, merge_id))


async def assert_merged_cleanly(ctx: Context, audit: MergeAudit) -> None:
    """The merge done, the cards consistent, nothing left unfinished."""
    assert audit.state is MergeState.done
    await assert_consistent(ctx, EVERYTHING, INTERACTIONS)
    await assert_nothing_unfinished(ctx)


async def assert_restored(ctx: Context, before: tuple[CustomerCard, CustomerCard]) -> None:
    """Both cards as they were before the merge, except that a merge has held them: their
    markers are read from now on (``never_merged``)."""
    for card in before:
        held = card.model_copy(update={"never_merged": False})
        assert await live_card(ctx.store, TENANT, card.id) == held
        for interaction_id in card.interaction_ids:
            stored = await read_model(
                ctx.store, keys.interaction(TENANT, interaction_id), Interaction
            )
            assert stored is not None and stored.card_id == card.id


async def test_a_merge_dying_after_any_write_is_settled(instances: tuple[Context, Context]) -> None:
    one, two = instances
    merge_id = "merge-dies"
    cards: list[str] = []

    async def merge_them(ctx: Context) -> object:
        return await merge.merge(ctx, TENANT, cards[0], cards[1], "agent", merge_id)

    cards[:] = (await two_cards(one))[:2]
    total = await writes_of(one, merge_them)
    assert total >= 8  # entry, two holds, audit, marker, card, index, interaction...
    await clear(one)

    for allowed in range(total):
        a, b, card_a, card_b = await two_cards(one)
        cards[:] = [a, b]
        with pytest.raises(ProcessDied):
            await merge_them(on(one, DyingStore(one.store, allowed)))
        await assert_markers_flagged(two)  # whatever it held, readers still see the holds
        # Too early for another instance to take over: a merge may just be slow.
        assert await merge.sweep(on(two, two.store, LATER - timedelta(seconds=1))) == 0
        await merge.sweep(on(two, two.store, LATER))
        await assert_consistent(two, EVERYTHING, INTERACTIONS)
        await assert_nothing_unfinished(two)
        audit = await merge.merge_of(two, TENANT, merge_id)
        if audit is not None:  # it got as far as its audit entry: it was carried through
            assert audit.state is MergeState.done, allowed
            assert await live_card(two.store, TENANT, audit.absorbed_id) is None
            await merge.undo(on(two, two.store, LATER), TENANT, merge_id, "agent")
        else:  # it died before: nothing moved and the cards are free to merge again
            again = await merge.merge(two, TENANT, a, b, "agent", "merge-again")
            await merge.undo(two, TENANT, again.id, "agent")
        await assert_restored(two, (card_a, card_b))
        await assert_consistent(two, EVERYTHING, INTERACTIONS)
        await clear(one)


async def test_an_undo_dying_after_any_write_is_settled(instances: tuple[Context, Context]) -> None:
    one, two = instances
    cards: list[str] = []

    async def merged() -> tuple[str, CustomerCard, CustomerCard]:
        a, b, card_a, card_b = await two_cards(one)
        cards[:] = [a, b]
        audit = await merge.merge(one, TENANT, a, b, "agent", merge.new_merge_id())
        return audit.id, card_a, card_b

    merge_id, *_ = await merged()
    total = await writes_of(one, lambda c: merge.undo(c, TENANT, merge_id, "agent"))
    await clear(one)

    for allowed in range(total):
        merge_id, card_a, card_b = await merged()
        with pytest.raises(ProcessDied):
            await merge.undo(on(one, DyingStore(one.store, allowed)), TENANT, merge_id, "agent")
        await merge.sweep(on(two, two.store, LATER))
        await assert_nothing_unfinished(two)
        audit = await merge.merge_of(two, TENANT, merge_id)
        assert audit is not None
        if audit.state is MergeState.done:  # it died before the undo started: undo again
            assert audit.undone_by is None, allowed
            await merge.undo(on(two, two.store, LATER), TENANT, merge_id, "agent")
        else:
            assert audit.state is MergeState.undone, allowed
        await assert_restored(two, (card_a, card_b))
        await assert_consistent(two, EVERYTHING, INTERACTIONS)
        await clear(one)


async def test_the_next_merge_that_meets_a_dead_merge_finishes_it(
    instances: tuple[Context, Context],
) -> None:
    one, two = instances
    a, b, *_ = await two_cards(one)
    # Its entry, each card's flag and hold, its audit entry; then nothing.
    dying = DyingStore(one.store, writes=6)
    with pytest.raises(ProcessDied):
        await merge.merge(on(one, dying), TENANT, a, b, "agent", "merge-dies")
    with pytest.raises(merge.MergeBusy):  # still within the bound: it may be alive
        await merge.merge(two, TENANT, b, a, "agent", "merge-new")
    # Past the bound the new merge settles the dead one, then finds B already merged.
    with pytest.raises(merge.MergeRefused, match="already merged"):
        await merge.merge(on(two, two.store, LATER), TENANT, b, a, "agent", "merge-new")
    audit = await read_model(two.store, keys.audit(TENANT, "merge-dies"), MergeAudit)
    assert audit is not None and audit.state is MergeState.done
    await assert_consistent(two, EVERYTHING, INTERACTIONS)


async def test_a_hold_without_its_entry_is_let_go(instances: tuple[Context, Context]) -> None:
    """A marker can outlive its entry's removal only in data from before entries existed."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    with pytest.raises(ProcessDied):  # the entry, the first card's flag and hold, then nothing
        await merge.merge(on(one, DyingStore(one.store, 3)), TENANT, a, b, "agent", "m-old")
    await two.store.delete(keys.unfinished_merge(TENANT, "m-old"))
    audit = await merge.merge(on(two, two.store, LATER), TENANT, a, b, "agent", "m-new")
    assert audit.state is MergeState.done
    await assert_consistent(two, EVERYTHING, INTERACTIONS)


def second_hold(a: str, b: str, step: str) -> str:
    """The write of the second card a merge of ``a`` and ``b`` holds (they are held by card
    id): its flag cleared (``card``), or its marker created (``marker``)."""
    second = max(a, b)
    return keys.card(TENANT, second) if step == "card" else keys.card_merge(TENANT, second)


@pytest.mark.parametrize("step", ["card", "marker"])
async def test_a_merge_whose_second_hold_failed_lets_go_of_the_first(
    instances: tuple[Context, Context], step: str
) -> None:
    """Nothing moved yet: the first card's hold goes at once, not at the sweep, and the
    next merge of the same cards needs no wait for the stale-hold bound."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    failing = FailingOnce(one.store, second_hold(a, b, step))
    with pytest.raises(StoreError):
        await merge.merge(on(one, failing), TENANT, a, b, "agent", "merge-failed")
    assert await read_model(two.store, keys.card_merge(TENANT, min(a, b)), MergeMarker) is None
    await assert_nothing_unfinished(two)
    audit = await merge.merge(two, TENANT, a, b, "agent", "merge-again")  # before: MergeBusy
    assert audit.state is MergeState.done
    await assert_consistent(two, EVERYTHING, INTERACTIONS)


async def test_a_hold_whose_create_landed_unanswered_is_let_go_at_once(
    instances: tuple[Context, Context],
) -> None:
    """The second card's marker was written but its answer lost (a store error): the
    merge fails, and lets go of both cards at once, that one too, as it is this call's."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    landing = LandsThenFails(one.store, second_hold(a, b, "marker"))
    with pytest.raises(StoreError):
        await merge.merge(on(one, landing), TENANT, a, b, "agent", "merge-failed")
    for card_id in (a, b):  # before: the second stayed held until the sweep
        assert await read_model(two.store, keys.card_merge(TENANT, card_id), MergeMarker) is None
    await assert_nothing_unfinished(two)


async def test_a_retried_merge_whose_second_hold_failed_leaves_the_first_to_recovery(
    instances: tuple[Context, Context],
) -> None:
    """A hold found under the same merge id is another call's (here one whose process
    died; or the same merge sent twice at once): a call whose hold fails lets go only of
    those it took itself, so this one stays, and so does the entry, for the sweep to
    settle once it is stale."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    with pytest.raises(ProcessDied):  # the entry, the first card's flag and hold, then nothing
        await merge.merge(on(one, DyingStore(one.store, 3)), TENANT, a, b, "agent", "m-1")
    failing = FailingOnce(two.store, second_hold(a, b, "marker"))
    with pytest.raises(StoreError):
        await merge.merge(on(two, failing), TENANT, a, b, "agent", "m-1")
    assert await read_model(two.store, keys.card_merge(TENANT, min(a, b)), MergeMarker)
    assert await merge.sweep(on(two, two.store, LATER)) == 1
    await assert_nothing_unfinished(two)
    audit = await merge.merge(on(two, two.store, LATER), TENANT, a, b, "agent", "m-2")
    assert audit.state is MergeState.done
    await assert_consistent(two, EVERYTHING, INTERACTIONS)


async def test_a_call_whose_hold_failed_keeps_the_hold_its_twin_relies_on(
    instances: tuple[Context, Context],
) -> None:
    """The same merge sent twice at once: call A holds the first card, B finds it held
    under its own merge id and holds the second, then A's hold of the second fails on a
    store error. A lets go of nothing B relies on: B merges with both cards held."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    first, second = sorted((a, b))
    merge_id = "merge-twice"
    at_second = Pausing(one.store, keys.card_merge(TENANT, second), then_fails=True)
    at_audit = Pausing(two.store, keys.audit(TENANT, merge_id))
    call_a = asyncio.create_task(merge.merge(on(one, at_second), TENANT, a, b, "agent", merge_id))
    await at_second.reached.wait()  # A holds the first card
    call_b = asyncio.create_task(merge.merge(on(two, at_audit), TENANT, a, b, "agent", merge_id))
    await at_audit.reached.wait()  # B holds both, about to write the audit entry
    at_second.go.set()
    with pytest.raises(StoreError):
        await call_a
    # Before: A let go of the first card (its merge id) and the entry, under B's feet.
    await assert_held_for(two, first, merge_id)
    at_audit.go.set()
    audit = await call_b
    await assert_merged_cleanly(two, audit)


async def test_a_refused_call_keeps_the_hold_its_twin_relies_on(
    instances: tuple[Context, Context],
) -> None:
    """The same merge sent twice at once: call A holds the first card, B finds it held
    under its own merge id and is refused at the second (another merge holds it). B lets
    go of nothing A relies on: once the other merge is done, A merges with both held."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    first, second = sorted((a, b))
    merge_id = "merge-twice"
    at_second = Pausing(one.store, keys.card_merge(TENANT, second))
    call_a = asyncio.create_task(merge.merge(on(one, at_second), TENANT, a, b, "agent", merge_id))
    await at_second.reached.wait()  # A holds the first card
    other = MergeMarker(
        audit_id="merge-other", role=MarkerRole.survivor, survivor_id=second, at=NOW
    )
    await create_model(two.store, keys.card_merge(TENANT, second), other)
    with pytest.raises(merge.MergeBusy):
        await merge.merge(two, TENANT, a, b, "agent", merge_id)
    # Before: B let go of the first card (its merge id) and the entry, under A's feet.
    await assert_held_for(two, first, merge_id)
    await two.store.delete(keys.card_merge(TENANT, second))  # the other merge is done
    at_second.go.set()
    audit = await call_a
    await assert_merged_cleanly(two, audit)


async def test_twin_calls_that_take_over_each_others_holds_both_finish(
    instances: tuple[Context, Context],
) -> None:
    """The same merge sent twice at once, each call finding one card held by the other:
    both take those holds over, both finish the one merge, and no hold or entry is left."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    second = max(a, b)
    merge_id = "merge-twice"
    at_second = Pausing(one.store, keys.card_merge(TENANT, second))
    at_audit = Pausing(two.store, keys.audit(TENANT, merge_id))
    call_a = asyncio.create_task(merge.merge(on(one, at_second), TENANT, a, b, "agent", merge_id))
    await at_second.reached.wait()  # A holds the first card
    call_b = asyncio.create_task(merge.merge(on(two, at_audit), TENANT, a, b, "agent", merge_id))
    await at_audit.reached.wait()  # B took the first over and holds the second
    at_second.go.set()  # A finds the second held by B and takes it over
    done = await call_a
    at_audit.go.set()
    again = await call_b
    assert done.state is again.state is MergeState.done and done.id == again.id == merge_id
    await assert_consistent(two, EVERYTHING, INTERACTIONS)
    await assert_nothing_unfinished(two)


@pytest.mark.parametrize("stops", ["store error", "refused"])
async def test_a_call_that_stops_before_its_twin_holds_anything_keeps_the_entry(
    instances: tuple[Context, Context], stops: str
) -> None:
    """The same merge sent twice at once: call B files the entry and has held nothing yet
    when call A stops (a store error at its first hold, or refused: another merge holds
    the card). A's token goes from the entry, B's keeps it: B then dies holding both
    cards, and the sweep finds them (before: A deleted the entry, and B's holds stayed)."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    first = min(a, b)
    merge_id = "merge-twice"
    at_flag = Pausing(two.store, keys.card(TENANT, first), only="replace")
    at_flag.dies_at = keys.audit(TENANT, merge_id)  # B holds both cards, then dies
    call_b = asyncio.create_task(merge.merge(on(two, at_flag), TENANT, a, b, "agent", merge_id))
    await at_flag.reached.wait()  # B filed the entry, about to clear the first card's flag
    if stops == "store error":
        failing = FailingOnce(one.store, keys.card_merge(TENANT, first))
        with pytest.raises(StoreError):
            await merge.merge(on(one, failing), TENANT, a, b, "agent", merge_id)
    else:
        other = MergeMarker(
            audit_id="merge-other", role=MarkerRole.survivor, survivor_id=first, at=NOW
        )
        await create_model(one.store, keys.card_merge(TENANT, first), other)
        with pytest.raises(merge.MergeBusy):
            await merge.merge(one, TENANT, a, b, "agent", merge_id)
        await one.store.delete(keys.card_merge(TENANT, first))  # the other merge is done
    assert await two.store.read(keys.unfinished_merge(TENANT, merge_id))
    at_flag.go.set()
    with pytest.raises(ProcessDied):
        await call_b
    for card_id in (a, b):
        assert await read_model(two.store, keys.card_merge(TENANT, card_id), MergeMarker)
    assert await merge.sweep(on(two, two.store, LATER)) == 1
    await assert_nothing_unfinished(two)
    await assert_consistent(two, EVERYTHING, INTERACTIONS)
    audit = await merge.merge(on(two, two.store, LATER), TENANT, a, b, "agent", "merge-2")
    assert audit.state is MergeState.done


async def test_an_undo_refused_before_its_twin_holds_the_survivor_keeps_the_entry(
    instances: tuple[Context, Context],
) -> None:
    """The same undo sent twice at once: call B files the entry and is about to hold the
    survivor when call A is refused (another merge holds it). B's token keeps the entry:
    B then dies holding the survivor, and the sweep lets go of it (before: A deleted the
    entry and the survivor stayed held)."""
    one, two = instances
    a, b, card_a, card_b = await two_cards(one)
    done = await merge.merge(one, TENANT, a, b, "agent", merge.new_merge_id())
    survivor = keys.card_merge(TENANT, done.survivor_id)
    at_hold = Pausing(two.store, survivor, only="create")
    at_hold.dies_at = keys.audit(TENANT, done.id)  # B holds the survivor, then dies
    call_b = asyncio.create_task(merge.undo(on(two, at_hold), TENANT, done.id, "agent"))
    await at_hold.reached.wait()  # B filed the entry, about to hold the survivor
    other = MergeMarker(
        audit_id="merge-other", role=MarkerRole.survivor, survivor_id=done.survivor_id, at=NOW
    )
    await create_model(one.store, survivor, other)
    with pytest.raises(merge.MergeBusy):
        await merge.undo(one, TENANT, done.id, "agent")
    await one.store.delete(survivor)  # the other merge is done
    assert await two.store.read(keys.unfinished_merge(TENANT, done.id))
    at_hold.go.set()
    with pytest.raises(ProcessDied):
        await call_b
    assert await read_model(two.store, survivor, MergeMarker)
    assert await merge.sweep(on(two, two.store, LATER)) == 1
    assert await two.store.read(survivor) is None
    await assert_nothing_unfinished(two)
    await merge.undo(on(two, two.store, LATER), TENANT, done.id, "agent")
    await assert_restored(two, (card_a, card_b))
    await assert_consistent(two, EVERYTHING, INTERACTIONS)


async def test_a_lone_refused_call_leaves_no_entry(instances: tuple[Context, Context]) -> None:
    """Its token was the entry's only one: the entry goes with it, at once."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    second = max(a, b)
    other = MergeMarker(
        audit_id="merge-other", role=MarkerRole.survivor, survivor_id=second, at=NOW
    )
    await create_model(one.store, keys.card_merge(TENANT, second), other)
    with pytest.raises(merge.MergeBusy):
        await merge.merge(one, TENANT, a, b, "agent", "merge-refused")
    assert await read_model(two.store, keys.card_merge(TENANT, min(a, b)), MergeMarker) is None
    await assert_nothing_unfinished(two)


async def test_an_entry_an_older_version_filed_is_left_to_the_sweep(
    instances: tuple[Context, Context],
) -> None:
    """An entry without calls was filed by a version from before they were recorded (a
    deploy's overlap): a call of the same merge that stops cannot tell whether that one
    still relies on it, and leaves it to the sweep."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    key = keys.unfinished_merge(TENANT, "merge-old")
    older = {"tenant_id": TENANT, "merge_id": "merge-old", "card_ids": sorted((a, b))}
    await one.store.create(key, json.dumps({**older, "at": NOW.isoformat()}).encode())
    failing = FailingOnce(one.store, keys.card_merge(TENANT, min(a, b)))
    with pytest.raises(StoreError):
        await merge.merge(on(one, failing), TENANT, a, b, "agent", "merge-old")
    entry = await read_model(two.store, key, merge.UnfinishedMerge)
    assert entry is not None and entry.calls == []
    assert await merge.sweep(on(two, two.store, LATER)) == 1
    await assert_nothing_unfinished(two)


async def test_a_retry_after_a_dead_call_is_not_taken_for_dead_itself(
    instances: tuple[Context, Context],
) -> None:
    """The retry files itself in the dead call's entry and refreshes when it was filed:
    a sweep once the dead call is stale leaves the retry be, and it merges."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    with pytest.raises(ProcessDied):  # the entry, the first card's flag and hold, then nothing
        await merge.merge(on(one, DyingStore(one.store, 3)), TENANT, a, b, "agent", "m-1")
    at_second = Pausing(two.store, second_hold(a, b, "marker"))
    retry = on(two, at_second, LATER - timedelta(seconds=1))
    call = asyncio.create_task(merge.merge(retry, TENANT, a, b, "agent", "m-1"))
    await at_second.reached.wait()  # it took the first card over, about to hold the second
    assert await merge.sweep(on(two, two.store, LATER)) == 0
    at_second.go.set()
    assert (await call).state is MergeState.done
    await assert_consistent(two, EVERYTHING, INTERACTIONS)
    await assert_nothing_unfinished(two)


async def test_a_hold_taken_over_as_it_is_let_go_is_let_go_all_the_same(
    instances: tuple[Context, Context],
) -> None:
    """A finished merge lets go of the survivor by merge id, whichever call holds it: a
    twin's takeover landing between its read of the marker and its delete does not keep
    the card held (before: the delete was refused and the hold stayed)."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    merge_id = "merge-twice"
    probe = await merge.merge(two, TENANT, a, b, "agent", "merge-probe")  # which survives
    await merge.undo(two, TENANT, probe.id, "agent")
    survivor = keys.card_merge(TENANT, probe.survivor_id)
    releasing = Pausing(one.store, survivor, only="delete")
    call = asyncio.create_task(merge.merge(on(one, releasing), TENANT, a, b, "agent", merge_id))
    await releasing.reached.wait()  # read the survivor's marker, about to delete it
    document = await two.store.read(survivor)
    assert document is not None
    held = MergeMarker.model_validate_json(document.data)
    taken = held.model_copy(update={"holder": "the-twin"})  # as the twin's _hold does
    await two.store.replace(survivor, taken.model_dump_json().encode(), document.etag)
    releasing.go.set()
    assert (await call).state is MergeState.done
    assert await two.store.read(survivor) is None
    await assert_consistent(two, EVERYTHING, INTERACTIONS)
    await assert_nothing_unfinished(two)


async def test_the_same_undo_sent_twice_at_once_is_done_for_both(
    instances: tuple[Context, Context],
) -> None:
    """The second call finds the survivor held by the first, takes the hold over and
    undoes; the first then finds the undo under way and done. No hold is left."""
    one, two = instances
    a, b, card_a, card_b = await two_cards(one)
    merge_id = (await merge.merge(one, TENANT, a, b, "agent", merge.new_merge_id())).id
    at_start = Pausing(one.store, keys.audit(TENANT, merge_id))
    first = asyncio.create_task(merge.undo(on(one, at_start), TENANT, merge_id, "agent"))
    await at_start.reached.wait()  # it holds the survivor, about to mark the undo started
    again = await merge.undo(two, TENANT, merge_id, "agent")
    at_start.go.set()
    done = await first
    assert done.state is again.state is MergeState.undone
    await assert_restored(two, (card_a, card_b))
    await assert_consistent(two, EVERYTHING, INTERACTIONS)
    await assert_nothing_unfinished(two)


async def attach_mail_2(
    ctx: Context, card_id: str, identity: CardIdentity, read: Document | None = None
) -> CustomerCard:
    """An e-mail interaction ``mail-2`` created on the card it resolved, then attached."""
    mail = Interaction(
        id="mail-2",
        tenant_id=TENANT,
        card_id=card_id,
        channel=Channel.email,
        agent=Agent(aad_object_id="agent"),
        identities=[identity],
    )
    await create_model(ctx.store, keys.interaction(TENANT, mail.id), mail)
    return await attach_interaction(ctx.store, TENANT, card_id, mail.id, read=read)


async def test_an_interaction_attaching_to_a_card_merged_meanwhile_lands_on_the_survivor(
    instances: tuple[Context, Context],
) -> None:
    one, two = instances
    a, b, *_ = await two_cards(one)
    # mail-2 resolves B's card, then waits on the CRMs while B is merged into A.
    identity = (await get_card(one.store, TENANT, b)).identities[0]  # type: ignore[union-attr]
    resolved, _ = await resolve_card(one.store, TENANT, [identity], None, NOW)
    assert resolved.id == b
    audit = await merge.merge(two, TENANT, a, b, "agent", merge.new_merge_id())
    assert audit.survivor_id == a
    landed = await attach_mail_2(one, resolved.id, identity)
    assert landed.id == a
    stored = await read_model(one.store, keys.interaction(TENANT, "mail-2"), Interaction)
    assert stored is not None and stored.card_id == a
    await assert_consistent(two, EVERYTHING, {*INTERACTIONS, "mail-2"})
    # Undo gives B back everything that came in on it, mail-2 included.
    await merge.undo(two, TENANT, audit.id, "agent")
    card_b = await live_card(two.store, TENANT, b)
    assert card_b is not None and card_b.interaction_ids == ["mail-1", "mail-2"]
    await assert_consistent(two, EVERYTHING, {*INTERACTIONS, "mail-2"})


async def test_an_attach_that_wrote_nothing_follows_the_marker_of_a_card_merged_since(
    instances: tuple[Context, Context],
) -> None:
    """An attach from a read of the card taken before a merge, of an interaction already on
    it, writes nothing: the card as read still says it never merged, and the attach
    follows the marker anyway (to the survivor)."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    read = await one.store.read(keys.card(TENANT, b))
    assert read is not None
    await merge.merge(two, TENANT, a, b, "agent", merge.new_merge_id())
    landed = await attach_interaction(one.store, TENANT, b, "mail-1", read=read)
    assert landed.id == a and "mail-1" in landed.interaction_ids


async def test_a_caller_of_a_card_a_dead_merge_marked_absorbed_reaches_the_survivor(
    instances: tuple[Context, Context],
) -> None:
    """The merge died after marking B absorbed into A and before B's index entries named
    A: B's next caller, before any sweep, finds B through its entry and follows B's
    marker to A, which a card that says it never merged would not."""
    one, two = instances
    a, b, *_ = await two_cards(one)
    dying = DyingStore(one.store, dies_at=keys.tenant_prefix(TENANT) + "card-index/")
    with pytest.raises(ProcessDied):
        await merge.merge(on(one, dying), TENANT, a, b, "agent", "merge-dies")
    identity = (await get_card(two.store, TENANT, b)).identities[0]  # type: ignore[union-attr]
    assert (await live_card(two.store, TENANT, b)) is None
    card, read = await resolve_card(two.store, TENANT, [identity], None, NOW)
    assert card.id == a
    assert (await attach_mail_2(two, card.id, identity, read)).id == a
    await merge.sweep(on(two, two.store, LATER))
    await assert_consistent(two, EVERYTHING, {*INTERACTIONS, "mail-2"})


async def test_every_instance_keeps_sweeping(instances: tuple[Context, Context]) -> None:
    one, two = instances
    a, b, *_ = await two_cards(one)
    with pytest.raises(ProcessDied):
        await merge.merge(on(one, DyingStore(one.store, 6)), TENANT, a, b, "agent", "m-dies")
    sweeping = asyncio.create_task(merge.keep_recovering(on(two, two.store, LATER), interval=0))

    async def settled() -> None:
        while await two.store.read(keys.unfinished_merge(TENANT, "m-dies")) is not None:
            await asyncio.sleep(0)

    try:
        await asyncio.wait_for(settled(), timeout=30)
    finally:
        sweeping.cancel()
    await assert_consistent(two, EVERYTHING, INTERACTIONS)
