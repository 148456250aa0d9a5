"""The store calls one fan-out card makes, for a new caller and for a repeat caller.

On Blob Storage every store call is an HTTP request of its own: a new interaction's card
and the filing of its records in the name and CRM-reference indexes should make as few
as they can. Counted through a store that counts its calls, with two CRMs answering
within the first paint (one contact each) and a third after it, the same contact as the
second's (one person in two CRMs sharing its id). A card a merge has held, and a card
stored before cards said whether one had, still read their merge markers.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.crm.directory import SameForEveryTenant
from bot.adapters.storage.local import LocalStore
from bot.domain import identifiers
from bot.domain.cards import CardIdentity
from bot.domain.identifiers import Channel
from bot.domain.interactions import Interaction
from bot.domain.records import CrmRecord, RecordRef
from bot.services import keys, merge, name_index
from bot.services.cards import attach_interaction, get_card, resolve_card
from bot.services.context import Context
from bot.services.crm import CrmClient, SearchCriteria
from bot.services.interactions import InteractionEventIn, ingest
from bot.services.store import read_model
from bot.services.tenant_cache import PerTenant
from tests.crm_admin.test_late_crm_answers import TimedCrm
from tests.merge.test_filing_later_records import _NoDelivery
from tests.merge.test_name_index import CountingStore

TENANT = "t-calls"
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


class ContactCrm(TimedCrm):
    """A CRM finding Marianne Dashwood under ``contact_id``, once ``gate`` is set."""

    def __init__(self, settings_id: str, contact_id: str, *, late: bool = False) -> None:
        super().__init__(settings_id, latency=0.0)
        self.ref = RecordRef(crm=settings_id, type="contact", id=contact_id)
        self.gate = asyncio.Event()
        if not late:
            self.gate.set()

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        await self.gate.wait()
        return [CrmRecord(ref=self.ref, title="Marianne Dashwood")]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    counting = CountingStore(LocalStore(tmp_path / "calls.sqlite3"))
    yield counting
    await counting.close()


@pytest.fixture
def late() -> ContactCrm:
    return ContactCrm("c", "7", late=True)


@pytest.fixture
def ctx(store: CountingStore, late: ContactCrm) -> Context:
    clients: list[CrmClient] = [ContactCrm("a", "a-1"), ContactCrm("b", "7"), late]
    return Context(
        store=store,
        crms=SameForEveryTenant(clients),
        delivery=_NoDelivery(),
        clock=lambda: NOW,
        crm_first_paint=0.01,
        crm_deadline=30.0,
        regions=PerTenant(clock=lambda: 0.0),  # what one instance keeps, kept
    )


async def card_calls(
    ctx: Context, late: ContactCrm, interaction_id: str, **customer: str
) -> Counter[str]:
    """The store calls of one new interaction's card, its late CRM's update and filing."""
    store = ctx.store
    assert isinstance(store, CountingStore)
    event = InteractionEventIn.model_validate(
        {
            "interactionId": interaction_id,
            "event": "assigned",
            "occurredAt": "2026-12-02T08:00:00Z",
            "channel": "voice",
            "agent": {"aadObjectId": "agent-1"},
            "customer": {"phone": "+44 7700 900123", **customer},
        }
    )
    store.calls.clear()
    late.gate.clear()
    interaction: Interaction = await ingest(ctx, TENANT, event)
    assert len(interaction.shown.person) == 2
    late.gate.set()
    await asyncio.gather(*list(ctx.background))
    return store.calls


NEW_CALLER = {
    "read interactions": 1,  # is it new (the late CRM's compare-and-swap: from the created)
    "read settings": 1,
    "read card-index": 1,
    "create cards": 1,
    "create card-index": 1,
    "read agents": 2,  # the agent's language; their inbox
    "create agents": 1,
    "create interactions": 1,
    "replace interactions": 1,
    "replace cards": 1,  # from the card as created
    "read name-index": 11,
    "create name-index": 11,
    "read name-counts": 5,
    "create name-counts": 5,
    "create crm-refs": 3,  # each CRM id's; the late record of the second's id, its own
    "create card-terms": 1,  # a new card's are absent: created without a read
    "replace card-terms": 1,  # the late record, from the terms as created
}
REPEAT_CALLER = {  # the tenant's settings as the first card read them
    "read interactions": 1,
    "read card-index": 1,
    "read cards": 1,  # never merged: no merge marker to read (CustomerCard.never_merged)
    "replace cards": 1,  # from the card as read before the CRMs answered
    "read agents": 2,
    "replace agents": 1,
    "create interactions": 1,
    "replace interactions": 1,
    "read card-terms": 1,  # the first card's records (the late one's: from that read)
}


async def test_a_new_callers_card_and_a_repeat_callers(ctx: Context, late: ContactCrm) -> None:
    assert dict(await card_calls(ctx, late, "call-1")) == NEW_CALLER
    assert dict(await card_calls(ctx, late, "call-2")) == REPEAT_CALLER
    # The records were filed: the late CRM's too.
    assert len(await name_index.lookup_crm(ctx.store, TENANT, "c:contact:7")) == 1


async def test_a_new_named_callers_card_is_filed_under_the_name_once(
    ctx: Context, late: ContactCrm
) -> None:
    calls = await card_calls(ctx, late, "call-1", name="Mary Dashwood")
    terms = {k: v for k, v in calls.items() if k.endswith(" card-terms")}
    assert terms == {"create card-terms": 1, "replace card-terms": 1}
    interaction = await read_model(ctx.store, keys.interaction(TENANT, "call-1"), Interaction)
    assert interaction is not None
    card_id = interaction.card_id
    assert card_id in await name_index.lookup_names(ctx.store, TENANT, ["Mary Dashwood"])
    assert card_id in await name_index.lookup_names(ctx.store, TENANT, ["Marianne Dashwood"])


async def test_a_card_changed_since_it_was_read_is_attached_to_as_it_is_now(
    store: CountingStore,
) -> None:
    """The attach starts from the card as resolved; another interaction attached since
    costs it a failed write and a read, and is kept."""
    identity = CardIdentity(channel=Channel.voice, identifier=identifiers.phone("+447700900123"))
    card, read = await resolve_card(store, TENANT, [identity], None, NOW)
    await attach_interaction(store, TENANT, card.id, "call-1", read=read)
    attached = await attach_interaction(store, TENANT, card.id, "call-2", read=read)
    assert attached.interaction_ids == ["call-1", "call-2"]
    assert (await get_card(store, TENANT, card.id)) == attached


async def first_card(ctx: Context, late: ContactCrm) -> str:
    await card_calls(ctx, late, "call-1")
    interaction = await read_model(ctx.store, keys.interaction(TENANT, "call-1"), Interaction)
    assert interaction is not None
    return interaction.card_id


async def test_a_merged_card_still_reads_its_merge_markers(ctx: Context, late: ContactCrm) -> None:
    card_id = await first_card(ctx, late)
    email = CardIdentity(
        channel=Channel.email, identifier=identifiers.email("marianne@example.com")
    )
    other, _ = await resolve_card(ctx.store, TENANT, [email], None, NOW)
    await merge.merge(ctx, TENANT, card_id, other.id, "agent-1", "merge-1")
    calls = await card_calls(ctx, late, "call-2")
    assert calls["read card-merges"] == 2  # finding the card, and after attaching
    interaction = await read_model(ctx.store, keys.interaction(TENANT, "call-2"), Interaction)
    assert interaction is not None and interaction.card_id == card_id


async def test_a_card_stored_before_the_flag_reads_its_merge_markers(
    ctx: Context, late: ContactCrm
) -> None:
    """A card document without ``never_merged`` (stored by an older version) may have
    been merged: its markers are read as they always were."""
    card_id = await first_card(ctx, late)
    key = keys.card(TENANT, card_id)
    document = await ctx.store.read(key)
    assert document is not None
    stored = json.loads(document.data)
    stored.pop("never_merged", None)
    await ctx.store.replace(key, json.dumps(stored).encode(), document.etag)
    assert dict(await card_calls(ctx, late, "call-2")) == {
        **REPEAT_CALLER,
        "read card-merges": 2,
    }
