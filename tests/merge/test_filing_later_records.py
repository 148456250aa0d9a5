"""A card is filed under the CRM records its interactions show later, not only at first paint.

The records of a CRM slower than the first-paint budget, of a CRM asked again after a
warning, and of a record pinned or linked by the agent tie a card to its duplicates just
as the first card's records do: without them, two cards of one Salesforce contact that a
slow Salesforce found would never be offered for merging.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.crm.directory import SameForEveryTenant
from bot.adapters.storage.local import LocalStore
from bot.domain.interactions import Interaction, LinkState
from bot.domain.links import pin_record
from bot.domain.records import CrmRecord, RecordRef
from bot.services import crm_warnings, keys, merge, merge_candidates, name_index
from bot.services.cards import get_card
from bot.services.context import Context
from bot.services.crm import CrmClient, CrmUnavailable, SearchCriteria
from bot.services.interactions import InteractionEventIn, ingest
from bot.services.store import read_model
from tests.crm_admin.test_late_crm_answers import TimedCrm
from tests.merge.test_name_index import CountingStore

TENANT = "t-later"
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
CONTACT = RecordRef(crm="slow", type="contact", id="003-77")


class GatedCrm(TimedCrm):
    """A CRM that answers a search once ``gate`` is set: with Marianne Dashwood, or, while
    ``down``, with an outage."""

    def __init__(self, settings_id: str) -> None:
        super().__init__(settings_id, latency=0.0)
        self.gate = asyncio.Event()
        self.down = False

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        await self.gate.wait()
        if self.down:
            raise CrmUnavailable(f"{self.display_name} unavailable, retrying")
        return [CrmRecord(ref=CONTACT, title="Marianne Dashwood")]


class _NoDelivery:
    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        return True

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    counting = CountingStore(LocalStore(tmp_path / "later.sqlite3"))
    yield counting
    await counting.close()


def context(store: CountingStore, crm: GatedCrm, now: list[datetime]) -> Context:
    clients: list[CrmClient] = [crm]  # type: ignore[list-item]
    return Context(
        store=store,
        crms=SameForEveryTenant(clients),
        delivery=_NoDelivery(),
        clock=lambda: now[0],
        crm_first_paint=0.01,  # the first card goes without the gated CRM
        crm_deadline=30.0,
    )


async def arrive(ctx: Context, interaction_id: str, **customer: str) -> Interaction:
    event = InteractionEventIn.model_validate(
        {
            "interactionId": interaction_id,
            "event": "assigned",
            "occurredAt": "2026-12-02T08:00:00Z",
            "channel": "voice" if "phone" in customer else "email",
            "agent": {"aadObjectId": "agent-1"},
            "customer": customer,
        }
    )
    return await ingest(ctx, TENANT, event)


async def settle(ctx: Context) -> None:
    await asyncio.gather(*list(ctx.background))


async def offered_for(ctx: Context, card_id: str) -> str:
    """The one card offered as ``card_id``'s duplicate, for the same CRM contact."""
    card = await get_card(ctx.store, TENANT, card_id)
    assert card is not None
    [candidate] = await merge_candidates.candidates(ctx, TENANT, card)
    assert "Same CRM contact: Marianne Dashwood" in [r.text for r in candidate.reasons]
    return candidate.card_id


async def test_the_records_of_a_crm_slower_than_the_first_card_file_the_card(
    store: CountingStore,
) -> None:
    crm = GatedCrm("slow")
    ctx = context(store, crm, [NOW])
    # Marianne calls, then writes: two cards, and the slow CRM's contact is on neither
    # first card.
    call = await arrive(ctx, "call-1", phone="+44 7700 900123")
    mail = await arrive(ctx, "mail-1", email="marianne@example.org")
    assert call.card_id != mail.card_id
    assert not call.shown.person and not mail.shown.person
    crm.gate.set()
    await settle(ctx)

    filed = await name_index.lookup_crm(store, TENANT, CONTACT.key)
    assert filed == {call.card_id: CONTACT.key, mail.card_id: CONTACT.key}
    by_name = await name_index.lookup_names(store, TENANT, ["Marianne Dashwood"])
    assert {call.card_id, mail.card_id} <= set(by_name)
    assert await offered_for(ctx, call.card_id) == mail.card_id


async def test_a_crm_that_answers_again_after_a_warning_files_the_card(
    store: CountingStore,
) -> None:
    crm = GatedCrm("slow")
    crm.down = True
    crm.gate.set()
    now = [NOW]
    ctx = context(store, crm, now)
    call = await arrive(ctx, "call-1", phone="+44 7700 900123")
    await settle(ctx)
    key = keys.interaction(TENANT, "call-1")
    warned = await read_model(store, key, Interaction)
    assert warned is not None and warned.shown.problems
    assert await name_index.lookup_crm(store, TENANT, CONTACT.key) == {}

    crm.down = False
    now[0] = NOW + crm_warnings.RECHECK_AFTER + timedelta(seconds=1)
    rechecked = await crm_warnings.recheck(ctx, warned)
    assert rechecked.shown.person == [CONTACT.key]
    assert await name_index.lookup_crm(store, TENANT, CONTACT.key) == {call.card_id: CONTACT.key}


async def test_a_pinned_contact_files_the_card_and_other_changes_read_no_index(
    store: CountingStore,
) -> None:
    crm = GatedCrm("slow")
    ctx = context(store, crm, [NOW])
    call = await arrive(ctx, "call-1", phone="+44 7700 900123")
    terms = keys.card_terms(TENANT, call.card_id)

    def view_only(current: Interaction) -> Interaction:
        view = current.view.model_copy(update={"related_loaded": True})
        return current.bumped(view=view)

    store.reads.clear()
    await name_index.update_interaction(store, TENANT, "call-1", view_only)
    assert terms not in store.reads  # nothing new to file: the index is not read

    record = CrmRecord(ref=CONTACT, title="Marianne Dashwood")
    pinned = await name_index.update_interaction(
        store,
        TENANT,
        "call-1",
        lambda current: pin_record(current, record, actor="agent-1", now=NOW),
    )
    assert pinned.linked_keys() == [CONTACT.key]
    assert await name_index.lookup_crm(store, TENANT, CONTACT.key) == {call.card_id: CONTACT.key}

    store.reads.clear()
    again = await name_index.update_interaction(
        store,
        TENANT,
        "call-1",
        lambda current: current.bumped(links={}),  # unlinked: nothing new to file
    )
    assert again.linked_keys() == [] and terms not in store.reads
    crm.gate.set()
    await settle(ctx)


async def test_a_contact_pinned_on_a_merged_cards_interaction_goes_back_with_it_on_undo(
    store: CountingStore,
) -> None:
    crm = GatedCrm("slow")
    crm.down = True  # the first two cards find no contact
    crm.gate.set()
    ctx = context(store, crm, [NOW])
    call = await arrive(ctx, "call-1", phone="+44 7700 900123")
    mail = await arrive(ctx, "mail-1", email="marianne@example.org")
    await settle(ctx)
    done = await merge.merge(ctx, TENANT, call.card_id, mail.card_id, "agent-1", "merge-1")
    assert (done.survivor_id, done.absorbed_id) == (call.card_id, mail.card_id)

    # After the merge the agent pins Marianne's contact on the e-mail, now on the call's
    # card: the merged card is found by it while the merge stands.
    record = CrmRecord(ref=CONTACT, title="Marianne Dashwood")
    await name_index.update_interaction(
        store,
        TENANT,
        "mail-1",
        lambda current: pin_record(current, record, actor="agent-1", now=NOW),
    )
    filed = await name_index.lookup_crm(store, TENANT, CONTACT.key)
    assert filed[call.card_id] == CONTACT.key

    # Undone, the e-mail goes back to its card, and so does what its contact filed.
    await merge.undo(ctx, TENANT, done.id, "agent-1")
    assert await name_index.lookup_crm(store, TENANT, CONTACT.key) == {mail.card_id: CONTACT.key}
    assert set(await name_index.lookup_names(store, TENANT, ["Marianne Dashwood"])) == {
        mail.card_id
    }
    crm.down = False
    text = await arrive(ctx, "sms-1", phone="+44 7700 900456")
    await settle(ctx)
    assert await offered_for(ctx, text.card_id) == mail.card_id


async def test_linking_a_contact_shown_but_not_found_for_the_caller_files_the_card(
    store: CountingStore,
) -> None:
    """A link click leaves the records shown as they are: only a newly linked contact that
    is not among the people the CRMs found (one a search put on the card) is filed."""
    crm = GatedCrm("slow")
    ctx = context(store, crm, [NOW])
    call = await arrive(ctx, "call-1", phone="+44 7700 900123")
    record = CrmRecord(ref=CONTACT, title="Marianne Dashwood")

    def shown_only(current: Interaction) -> Interaction:
        records = {**current.shown.records, CONTACT.key: record}
        return current.bumped(shown=current.shown.model_copy(update={"records": records}))

    await name_index.update_interaction(store, TENANT, "call-1", shown_only)
    assert await name_index.lookup_crm(store, TENANT, CONTACT.key) == {}  # shown, not found

    def link(current: Interaction) -> Interaction:
        state = LinkState(linked=True, rev=current.revision + 1, by="agent-1", at=NOW)
        return current.bumped(links={**current.links, CONTACT.key: state})

    terms = keys.card_terms(TENANT, call.card_id)
    store.reads.clear()
    await name_index.update_interaction(store, TENANT, "call-1", link)
    assert terms in store.reads
    assert await name_index.lookup_crm(store, TENANT, CONTACT.key) == {call.card_id: CONTACT.key}
    crm.gate.set()
    await settle(ctx)
