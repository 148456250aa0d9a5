"""Two instances merging overlapping cards at once, and links arriving during a merge.

Each "instance" has its own store client on one shared store (SQLite file, or an Azurite
container), as two bot processes would.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from bot.domain.identifiers import Channel
from bot.domain.interactions import Interaction
from bot.domain.links import set_link
from bot.domain.merge import MergeAudit, MergeState
from bot.services import keys, merge
from bot.services.cards import live_card
from bot.services.context import Context
from bot.services.store import Document, Store, read_model, update
from tests.merge.instances import NOW, TENANT, assert_consistent, make_card
from tests.merge.test_merge_recovery import two_cards
from tests.merge.test_name_index import CountingStore


async def test_overlapping_merges_at_once_end_consistent(
    instances: tuple[Context, Context],
) -> None:
    one, two = instances
    a = await make_card(one, "call-1", Channel.voice, "+1 555 0100")
    b = await make_card(one, "mail-1", Channel.email, "edward@example.com")
    c = await make_card(one, "sms-1", Channel.sms, "+1 555 0199")
    everything = {"voice/phone:+15550100", "email/email:edward@example.com", "sms/phone:+15550199"}

    done: list[MergeAudit] = []  # in the order they were done

    async def attempt(ctx: Context, open_id: str, other_id: str) -> MergeAudit | Exception:
        try:
            audit = await merge.merge(ctx, TENANT, open_id, other_id, "agent", merge.new_merge_id())
        except merge.MergeRefused as refused:
            return refused
        done.append(audit)
        return audit

    # B into A, C into B and A into C, all at once over both instances.
    results = await asyncio.gather(
        attempt(one, a, b), attempt(two, b, c), attempt(one, c, a), attempt(two, a, b)
    )
    assert all(r.state is MergeState.done for r in done)
    refused = [r for r in results if not isinstance(r, MergeAudit)]
    assert all(isinstance(r, merge.MergeRefused) for r in refused)
    await assert_consistent(one, everything, {"call-1", "mail-1", "sms-1"})
    # Nothing is left held: a merge of what is still separate goes through now.
    live = [x for x in (a, b, c) if await live_card(one.store, TENANT, x) is not None]
    if len(live) > 1:
        done.append(await merge.merge(two, TENANT, live[0], live[1], "agent", merge.new_merge_id()))
        await assert_consistent(one, everything, {"call-1", "mail-1", "sms-1"})

    # Whatever merged, undoing it (newest first) gives back three consistent cards.
    for audit in reversed(done):
        undone = await merge.undo(two, TENANT, audit.id, "agent")
        assert undone.state is MergeState.undone
    await assert_consistent(one, everything, {"call-1", "mail-1", "sms-1"})
    for card_id, interaction_id in ((a, "call-1"), (b, "mail-1"), (c, "sms-1")):
        card = await live_card(one.store, TENANT, card_id)
        assert card is not None and card.interaction_ids == [interaction_id]


async def test_links_arriving_during_a_merge_are_kept(
    instances: tuple[Context, Context],
) -> None:
    one, two = instances
    a = await make_card(one, "call-1", Channel.voice, "+1 555 0100")
    b = await make_card(one, "mail-1", Channel.email, "edward@example.com")
    records = [f"demo:case:K-{n}" for n in range(8)]

    async def link(key: str) -> None:
        def change(current: Interaction) -> Interaction:
            return set_link(
                current, key, linked=True, seen_revision=current.revision, actor="x", now=NOW
            ).interaction

        await update(two.store, keys.interaction(TENANT, "mail-1"), Interaction, change)

    merge_id = merge.new_merge_id()
    await asyncio.gather(
        merge.merge(one, TENANT, a, b, "agent", merge_id), *(link(k) for k in records)
    )
    mail = await read_model(one.store, keys.interaction(TENANT, "mail-1"), Interaction)
    assert mail is not None and mail.card_id == a
    assert set(mail.linked_keys()) == set(records)
    # A new interaction arriving for the absorbed card's email finds the survivor.
    late = await make_card(two, "mail-2", Channel.email, "edward@example.com")
    assert late == a
    # Retrying the same merge changes nothing.
    again = await merge.merge(two, TENANT, a, b, "agent", merge_id)
    assert again.state is MergeState.done
    everything = {"voice/phone:+15550100", "email/email:edward@example.com"}
    await assert_consistent(one, everything, {"call-1", "mail-1", "mail-2"})
    # Undo: mail-1 and its links go back to B; mail-2 (after the merge) stays on A.
    await merge.undo(one, TENANT, merge_id, "agent")
    mail = await read_model(one.store, keys.interaction(TENANT, "mail-1"), Interaction)
    assert mail is not None and mail.card_id == b and set(mail.linked_keys()) == set(records)
    card_a = await live_card(one.store, TENANT, a)
    card_b = await live_card(one.store, TENANT, b)
    assert card_a is not None and card_a.interaction_ids == ["call-1", "mail-2"]
    assert card_b is not None and card_b.interaction_ids == ["mail-1"]


async def test_undo_window_and_refusals(instances: tuple[Context, Context]) -> None:
    one, _ = instances
    a = await make_card(one, "call-1", Channel.voice, "+1 555 0100")
    b = await make_card(one, "mail-1", Channel.email, "edward@example.com")
    with pytest.raises(merge.MergeRefused):
        await merge.merge(one, TENANT, a, a, "agent", merge.new_merge_id())
    audit = await merge.merge(one, TENANT, a, b, "agent", merge.new_merge_id())
    with pytest.raises(merge.MergeRefused, match="already merged"):
        await merge.merge(one, TENANT, a, b, "agent", merge.new_merge_id())
    late = Context(
        store=one.store,
        crms=one.crms,
        delivery=one.delivery,
        clock=lambda: datetime(2027, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(merge.MergeRefused, match="30 days"):
        await merge.undo(late, TENANT, audit.id, "agent")
    stored = await read_model(one.store, keys.audit(TENANT, audit.id), MergeAudit)
    assert stored is not None and stored.actor == "agent" and stored.tenant_id == TENANT
    assert stored.absorbed_before.id == b and stored.survivor_before.interaction_ids == ["call-1"]


async def test_chained_merges_undo_newest_first(instances: tuple[Context, Context]) -> None:
    one, two = instances
    a = await make_card(one, "call-1", Channel.voice, "+1 555 0100")
    b = await make_card(one, "mail-1", Channel.email, "edward@example.com")
    c = await make_card(one, "sms-1", Channel.sms, "+1 555 0199")
    first = await merge.merge(one, TENANT, a, b, "agent", merge.new_merge_id())
    second = await merge.merge(two, TENANT, c, a, "agent", merge.new_merge_id())
    assert second.survivor_id == c
    # find_card follows B -> A -> C even if an index entry were still on B.
    found = await live_card(one.store, TENANT, c)
    assert found is not None and set(found.interaction_ids) == {"call-1", "mail-1", "sms-1"}
    with pytest.raises(merge.MergeRefused, match="undo that merge first"):
        await merge.undo(one, TENANT, first.id, "agent")
    await merge.undo(one, TENANT, second.id, "agent")
    await merge.undo(two, TENANT, first.id, "agent")
    everything = {
        "voice/phone:+15550100",
        "email/email:edward@example.com",
        "sms/phone:+15550199",
    }
    await assert_consistent(one, everything, {"call-1", "mail-1", "sms-1"})


class _StepStore(CountingStore):
    """A store client that, once it has read ``wait_after_read``, waits for ``go``, and
    sets ``went`` once it has replaced ``signal_after_replace``: two steps of two
    instances put in the order a test needs."""

    def __init__(
        self, inner: Store, wait_after_read: str = "", signal_after_replace: str = ""
    ) -> None:
        super().__init__(inner)
        self.wait_after_read = wait_after_read
        self.signal_after_replace = signal_after_replace
        self.go = asyncio.Event()
        self.went = asyncio.Event()

    async def read(self, key: str) -> Document | None:
        found = await super().read(key)
        if key == self.wait_after_read:
            self.wait_after_read = ""
            await self.go.wait()
        return found

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        etag = await super().replace(key, data, etag)
        if key == self.signal_after_replace:
            self.went.set()
        return etag


async def test_the_same_merge_sent_twice_at_once_is_done_for_both(
    instances: tuple[Context, Context],
) -> None:
    one, two = instances
    a, b, *_ = await two_cards(one)
    merge_id = merge.new_merge_id()
    # The agent clicks Merge twice: the second click's merge finds no entry yet, then
    # the first one marks the email card merged before the second looks at the cards.
    first = _StepStore(one.store, signal_after_replace=keys.card_merge(TENANT, b))
    second = _StepStore(two.store, wait_after_read=keys.audit(TENANT, merge_id))
    twice = asyncio.create_task(
        merge.merge(dataclasses.replace(two, store=second), TENANT, a, b, "agent", merge_id)
    )
    once = asyncio.create_task(
        merge.merge(dataclasses.replace(one, store=first), TENANT, a, b, "agent", merge_id)
    )
    await first.went.wait()
    second.go.set()
    done, again = await asyncio.gather(once, twice)
    assert done.state is MergeState.done and again.state is MergeState.done
    assert again.id == done.id == merge_id
    everything = {"voice/phone:+15550100", "email/email:edward@example.com"}
    await assert_consistent(one, everything, {"call-1", "mail-1"})
