"""The name index, CRM-reference index and merge history behind merge candidates.

Cards come from real interaction events (the ingest path feeds the indexes) against the
demo CRM; a store wrapper that records every call proves that candidates and search read
index documents and the candidate cards only, never a listing of the tenant's cards.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.crm.demo import DemoCrm
from bot.composition import open_store
from bot.domain.cards import new_card
from bot.domain.identifiers import Channel
from bot.domain.interactions import Agent, Interaction
from bot.domain.merge import CardFacts, ReasonKind, name_match, score
from bot.domain.name_keys import (
    blocking_keys,
    canonical_given,
    lookup_keys,
    phonetic,
    search_keys,
)
from bot.services import keys, merge, merge_candidates, name_index
from bot.services.cards import get_card
from bot.services.context import Context
from bot.services.interactions import InteractionEventIn, ingest
from bot.services.store import Store, create_model, read_model
from bot.settings import Settings, StoreKind
from tests.store_wrapper import StoreWrapper

TENANT = "t-index"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class _Demo:
    async def clients(self, tenant_id: str) -> list[Any]:
        return [DemoCrm()]


class _NoDelivery:
    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        return True

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


class CountingStore(StoreWrapper):
    """A store that records every key read, every write tried and every listing asked for,
    and counts its calls by call and kind of document (``calls["read name-index"]``)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.reads: list[str] = []
        self.writes: list[str] = []
        self.listings: list[str] = []
        self.calls: Counter[str] = Counter()

    async def before(self, call: str, key: str) -> None:
        if call == "read":
            self.reads.append(key)
        elif call != "delete":
            self.writes.append(key)
        self.calls[f"{call} {key.split('/')[2] if key.startswith('tenants/') else key}"] += 1

    def keys(self, prefix: str) -> AsyncIterator[str]:
        self.listings.append(prefix)
        return self.inner.keys(prefix)


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.azurite)])
async def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Context]:
    if request.param == "local":
        settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    else:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path,
            store=StoreKind.blob,
            blob_connection_string=request.getfixturevalue("azurite_connection_string"),
            blob_container=f"index-{uuid.uuid4().hex[:12]}",
        )
    store = CountingStore(open_store(settings))
    try:
        yield Context(store=store, crms=_Demo(), delivery=_NoDelivery(), clock=lambda: NOW)
    finally:
        await store.close()


async def arrive(
    ctx: Context, interaction_id: str, channel: str, name: str | None, **customer: str
) -> str:
    """An interaction of a customer reaching the contact center; its card's id."""
    event = InteractionEventIn.model_validate(
        {
            "interactionId": interaction_id,
            "event": "assigned",
            "occurredAt": "2026-11-23T08:00:00Z",
            "channel": channel,
            "agent": {"aadObjectId": "agent-1"},
            "customer": {**customer, **({"name": name} if name else {})},
        }
    )
    return (await ingest(ctx, TENANT, event)).card_id


async def block(ctx: Context, key: str) -> dict[str, list[str]]:
    doc = await read_model(ctx.store, keys.name_block(TENANT, key), name_index.NameBlock)
    return doc.cards if doc is not None else {}


def test_blocking_keys_meet_across_nicknames_typos_and_order() -> None:
    def meet(a: str, b: str) -> bool:
        one_way = set(blocking_keys(a)) & set(lookup_keys(b))
        other_way = set(blocking_keys(b)) & set(lookup_keys(a))
        assert bool(one_way) == bool(other_way)
        return bool(one_way)

    assert canonical_given("bob") == "robert" and canonical_given("liz") == "elizabeth"
    assert phonetic("smith") == phonetic("smyth")
    assert meet("Bob Smith", "Robert Smyth")  # nickname and spelling
    assert meet("Smith, Rob", "Robert Smith")  # order
    assert meet("Robrt Smith", "Robert Smith")  # typo in the first name
    assert meet("Liz Dashwod", "Elizabeth Dashwood")  # nickname and typo in the surname
    assert meet("Édward Ferrars", "EDWARD FERRARS")
    assert not meet("Edward Ferrars", "Marianne Dashwood")
    assert not meet("Elinor Dashwood", "Marianne Dashwood")  # family: same surname only
    assert meet("J. Smith", "James Smith") and meet("Smith, J", "James Smith")  # initials
    assert not meet("John Smith", "James Smith")  # two letters keep big blocks apart
    # The surname's second letter typed wrong, so that it sounds otherwise: the first name
    # and the rest of the surname; not a relative's (another first name), not another
    # surname (another first letter), not a first name's typo (the name read backwards).
    assert phonetic("bteheny") != phonetic("breheny")
    assert meet("Riley Bteheny", "Riley Breheny")
    assert not meet("Rosie Bteheny", "Riley Breheny")
    assert not meet("Maximilian Dauer", "Maximilian Bauer")
    assert not meet("Mary Sbith", "Mary Smith")  # too short to match as a surname then
    assert not meet("Gkreth Biley", "Gareth Biley")
    assert blocking_keys("") == [] and blocking_keys("Cher") == [f"p1:{phonetic('cher')}"]


async def test_index_follows_create_merge_and_undo(ctx: Context) -> None:
    voice = await arrive(ctx, "call-1", "voice", "Robert Smith", phone="+1 555 0190")
    mail = await arrive(ctx, "mail-1", "email", "Bob Smyth", email="bob@example.org")
    chat = await arrive(ctx, "chat-1", "chat", "Marianne Dashwood", handle="mdash")
    assert len({voice, mail, chat}) == 3
    shared = f"p:{phonetic('smith')}:{phonetic('robert')}"
    assert set(await block(ctx, shared)) == {voice, mail}
    terms = await name_index.terms_of(ctx.store, TENANT, chat)
    # The demo CRM knows Marianne by her name alone? No: by no identifier here.
    assert terms.names == {"Marianne Dashwood": ["own"]}

    audit = await merge.merge(ctx, TENANT, voice, mail, "agent-1", merge.new_merge_id())
    survivor_terms = await name_index.terms_of(ctx.store, TENANT, voice)
    assert survivor_terms.names == {"Robert Smith": ["own"], "Bob Smyth": [audit.id]}
    assert (await block(ctx, f"sx:{'smyth'}"))[voice] == ["Bob Smyth"]
    assert await name_index.history(ctx.store, TENANT, voice) == [audit.id]
    assert [a.id for a in await merge.recent_merges(ctx, TENANT, voice)] == [audit.id]
    # The absorbed card is filed still, but candidates skip it: it is not live.
    card = await get_card(ctx.store, TENANT, voice)
    assert card is not None
    assert [c.card_id for c in await merge_candidates.candidates(ctx, TENANT, card)] == []

    await merge.undo(ctx, TENANT, audit.id, "agent-1")
    survivor_terms = await name_index.terms_of(ctx.store, TENANT, voice)
    assert survivor_terms.names == {"Robert Smith": ["own"]}
    assert voice not in await block(ctx, "sx:smyth")
    assert set(await block(ctx, shared)) == {voice, mail}
    assert await merge.recent_merges(ctx, TENANT, voice) == []
    card = await get_card(ctx.store, TENANT, voice)
    assert card is not None
    [candidate] = await merge_candidates.candidates(ctx, TENANT, card)
    assert candidate.card_id == mail
    assert "Similar name" in candidate.reasons[0].text


async def test_candidates_read_index_documents_and_candidate_cards_only(ctx: Context) -> None:
    store = ctx.store
    assert isinstance(store, CountingStore)
    crowd = [
        await arrive(ctx, f"call-{n}", "voice", f"Customer{n} Person{n}", phone=f"+1 555 02{n:02}")
        for n in range(30)
    ]
    open_id = await arrive(ctx, "call-liz", "voice", "Liz Dashwod", phone="+1 555 0300")
    twin = await arrive(ctx, "mail-liz", "email", "Elizabeth Dashwood", email="liz@example.org")
    card = await get_card(store, TENANT, open_id)
    assert card is not None
    store.reads.clear()
    store.listings.clear()
    [found] = await merge_candidates.candidates(ctx, TENANT, card)
    assert found.card_id == twin
    assert store.listings == []
    cards_read = {k for k in store.reads if k.startswith(keys.cards_prefix(TENANT))}
    assert cards_read == {keys.card(TENANT, twin)}
    assert not any(keys.card(TENANT, c) in store.reads for c in crowd)
    kinds = {k.removeprefix(keys.tenant_prefix(TENANT)).split("/")[0] for k in store.reads}
    indexes = {"name-index", "name-counts", "crm-refs", "card-index", "card-merges"}
    assert kinds <= {*indexes, "cards", "interactions"}
    assert len(store.reads) < 40


async def test_same_crm_contact_and_search_by_crm_id(ctx: Context) -> None:
    store = ctx.store
    assert isinstance(store, CountingStore)
    # Edward calls from his phone and writes from his email: the demo CRM finds contact
    # C-2001 for both, so the CRM-reference index ties the two cards together.
    phone = await arrive(ctx, "call-1", "voice", None, phone="+1 555 0100")
    mail = await arrive(ctx, "mail-1", "email", None, email="edward.ferrars@example.com")
    chat = await arrive(ctx, "chat-1", "chat", "Web visitor", handle="visitor-9")
    refs = await name_index.lookup_crm(store, TENANT, "C-2001")
    assert set(refs) == {phone, mail} and set(refs.values()) == {"demo:contact:C-2001"}
    phone_card = await get_card(store, TENANT, phone)
    chat_card = await get_card(store, TENANT, chat)
    assert phone_card is not None and chat_card is not None
    [candidate] = await merge_candidates.candidates(ctx, TENANT, phone_card)
    assert candidate.card_id == mail
    assert "Same CRM contact: Edward Ferrars" in [r.text for r in candidate.reasons]

    store.reads.clear()
    store.listings.clear()
    found = await merge_candidates.search(ctx, TENANT, chat_card, "C-2001")
    assert {c.card_id for c in found} == {phone, mail}
    found = await merge_candidates.search(ctx, TENANT, chat_card, "demo:contact:C-2001")
    assert {c.card_id for c in found} == {phone, mail}
    # By name (the CRM contact's name is filed for both cards), and by surname alone.
    found = await merge_candidates.search(ctx, TENANT, chat_card, "Edward Ferars")
    assert {c.card_id for c in found} == {phone, mail}
    found = await merge_candidates.search(ctx, TENANT, chat_card, "ferrars")
    assert {c.card_id for c in found} == {phone, mail}
    assert await merge_candidates.search(ctx, TENANT, chat_card, "nobody") == []
    assert store.listings == []


async def test_filing_under_existing_documents_reads_each_once(ctx: Context) -> None:
    store = ctx.store
    assert isinstance(store, CountingStore)
    first = await arrive(ctx, "call-1", "voice", "Robert Smith", phone="+1 555 0190")
    store.reads.clear()
    # Another Robert Smith: every block, count and reference document is there already
    await name_index.index_card(store, TENANT, "card-2", ["Robert Smith"])
    blocks = [*blocking_keys("Robert Smith"), *search_keys("Robert Smith")]
    assert [store.reads.count(keys.name_block(TENANT, b)) for b in blocks] == [1] * len(blocks)
    for filed in blocks:
        assert set(await block(ctx, filed)) == {first, "card-2"}


async def test_a_new_cards_own_documents_are_created_without_a_read(ctx: Context) -> None:
    store = ctx.store
    assert isinstance(store, CountingStore)
    await name_index.index_card(store, TENANT, "card-1", [], ["demo:contact:C-7"])
    # its terms are read once (absent), its CRM references never: they are new
    assert store.reads.count(keys.card_terms(TENANT, "card-1")) == 1
    assert not [k for k in store.reads if "/crm-refs/" in k], store.reads
    # a second card that found the same contact: the reference exists, it is added to
    await name_index.index_card(store, TENANT, "card-2", [], ["demo:contact:C-7"])
    found = {"card-1": "demo:contact:C-7", "card-2": "demo:contact:C-7"}
    assert await name_index.lookup_crm(store, TENANT, "C-7") == found
    terms = await name_index.terms_of(store, TENANT, "card-2")
    assert terms.crm == {"demo:contact:C-7": ["own"]}


async def test_one_contact_in_several_crms_is_filed_under_its_crm_id_once(ctx: Context) -> None:
    store = ctx.store
    assert isinstance(store, CountingStore)
    by_id = keys.crm_ref(TENANT, "i:C-7")
    # The caller's contact in three CRMs (the first card), then in two more (late CRMs):
    # the id's document leads to the first, each other record's own document to it.
    await name_index.index_card(store, TENANT, "card-1", [], [f"crm{n}:contact:C-7" for n in "123"])
    assert store.writes.count(by_id) == 1 and not [k for k in store.reads if "/crm-refs/" in k]
    store.reads.clear()
    store.writes.clear()
    await name_index.index_card(
        store, TENANT, "card-1", [], ["crm4:contact:C-7", "crm5:contact:C-7"]
    )
    # the card's terms say it is in the CRM id's document: neither read nor written again;
    # the terms read once, and updated from that read
    assert by_id not in store.reads and by_id not in store.writes
    assert not [k for k in store.reads if "/crm-refs/" in k], store.reads
    assert store.reads.count(keys.card_terms(TENANT, "card-1")) == 1
    assert await name_index.lookup_crm(store, TENANT, "C-7") == {"card-1": "crm1:contact:C-7"}
    for n in "12345":
        found = await name_index.lookup_crm(store, TENANT, f"crm{n}:contact:C-7")
        assert found == {"card-1": f"crm{n}:contact:C-7"}
    terms = await name_index.terms_of(store, TENANT, "card-1")
    assert terms.crm == {f"crm{n}:contact:C-7": ["own"] for n in "12345"}
    # A merge undone takes out exactly what it filed: a record in its own document, and
    # the one in the id's.
    await name_index.index_card(
        store, TENANT, "card-2", [], ["crm6:contact:C-7", "crm1:contact:C-7"], "merge-1"
    )
    await name_index.drop_source(store, TENANT, "card-2", "merge-1")
    assert await name_index.lookup_crm(store, TENANT, "C-7") == {"card-1": "crm1:contact:C-7"}
    assert await name_index.lookup_crm(store, TENANT, "crm6:contact:C-7") == {}


async def test_terms_an_earlier_filing_left_are_read_again_once_changed(ctx: Context) -> None:
    """A filing may start from the card's terms as an earlier one left them (the late CRMs'
    from the first card's): changed since, they cost a failed write and a read, and both
    filings' terms are kept."""
    store = ctx.store
    left = await name_index.index_card(store, TENANT, "card-1", [], ["a:contact:1"])
    assert left is not None  # created
    await name_index.index_card(store, TENANT, "card-1", ["Mary Dashwood"])
    await name_index.index_card(store, TENANT, "card-1", [], ["b:contact:2"], read=left)
    terms = await name_index.terms_of(store, TENANT, "card-1")
    assert terms.names == {"Mary Dashwood": ["own"]}
    assert terms.crm == {"a:contact:1": ["own"], "b:contact:2": ["own"]}
    assert await name_index.lookup_crm(store, TENANT, "b:contact:2") == {"card-1": "b:contact:2"}
    # Another card's terms are never taken for this one's.
    elinor = await name_index.index_card(store, TENANT, "card-3", ["Elinor Dashwood"])
    assert elinor is not None
    interaction = Interaction(
        id="i-2",
        tenant_id=TENANT,
        card_id="card-2",
        channel=Channel.voice,
        agent=Agent(aad_object_id="agent-1"),
        customer_name="Elinor Dashwood",
        identities=[],
    )
    other = name_index.FiledTerms("card-3", elinor)
    await name_index.index_interaction(store, TENANT, interaction, terms=other)
    assert (await name_index.terms_of(store, TENANT, "card-2")).names == {
        "Elinor Dashwood": ["own"]
    }


async def test_references_filed_in_both_documents_before_are_found_alike(ctx: Context) -> None:
    """Before, every record was filed in its own document and in its CRM id's, which led
    to the card's last record of that id."""
    store = ctx.store
    for ref, cards in {
        "k:crm1:contact:C-7": {"card-1": "crm1:contact:C-7"},
        "k:crm2:contact:C-7": {"card-1": "crm2:contact:C-7", "card-2": "crm2:contact:C-7"},
        "i:C-7": {"card-1": "crm2:contact:C-7", "card-2": "crm2:contact:C-7"},
    }.items():
        await create_model(store, keys.crm_ref(TENANT, ref), name_index.CrmRefs(cards=cards))
    assert await name_index.lookup_crm(store, TENANT, "crm1:contact:C-7") == {
        "card-1": "crm1:contact:C-7"
    }
    assert set(await name_index.lookup_crm(store, TENANT, "crm2:contact:C-7")) == {
        "card-1",
        "card-2",
    }
    assert set(await name_index.lookup_crm(store, TENANT, "C-7")) == {"card-1", "card-2"}
    # A card filed now with the contact found before is found with the others.
    await name_index.index_card(store, TENANT, "card-3", [], ["crm1:contact:C-7"])
    assert set(await name_index.lookup_crm(store, TENANT, "crm1:contact:C-7")) == {
        "card-1",
        "card-3",
    }
    assert set(await name_index.lookup_crm(store, TENANT, "C-7")) == {"card-1", "card-2", "card-3"}


def test_name_match_is_structured() -> None:
    assert name_match("Liz Dashwod", "Elizabeth Dashwood") > 0.9
    assert name_match("Smith, Bob", "Robert Smyth") >= 0.9
    assert name_match("C. Smith", "Christopher Smith") == 0.7
    assert name_match("Christopher", "Christopher Adams") == 0.4
    assert name_match("Mia Jones", "Mia Johnson") == 0.0
    assert name_match("Elinor Dashwood", "Marianne Dashwood") == 0.0  # a household
    assert name_match("", "Edward") == 0.0


def _facts(name: str, key: str, **fields: str) -> CardFacts:
    card = new_card("t", [], None, NOW)
    return CardFacts(card=card, names=[name], crm_fields={key: fields})


def test_crm_details_corroborate_or_contradict_a_similar_name() -> None:
    me = _facts("Jennifer Ramos", "crm:contact:1", birthdate="19800102", zip="2119", city="X")
    same = _facts("Jenifer Ramos", "crm:contact:2", birthdate="19800102", zip="2119")
    other = _facts("Jennifer Ramos", "crm:contact:3", birthdate="19711230", zip="4000")
    unknown = _facts("Jennifer Ramos", "crm:contact:4")
    found = score(me, same)
    assert found is not None
    assert {r.kind for r in found.reasons} == {ReasonKind.similar_name, ReasonKind.same_details}
    assert "Same details: birth date, postcode" in [r.text for r in found.reasons]
    assert score(me, other) is None  # same name, different birth date and postcode
    plain = score(me, unknown)
    assert plain is not None and [r.kind for r in plain.reasons] == [ReasonKind.similar_name]
    assert found.score > plain.score


async def test_reindex_files_cards_written_before_the_index(ctx: Context) -> None:
    mail = await arrive(ctx, "mail-1", "email", "Bob Smyth", email="bob@example.org")
    voice = await arrive(ctx, "call-1", "voice", "Robert Smith", phone="+1 555 0190")
    store = ctx.store
    assert isinstance(store, CountingStore)
    async for key in store.keys(keys.tenant_prefix(TENANT)):
        if key.split("/")[2] in ("name-index", "card-terms", "crm-refs"):
            await store.delete(key)
    card = await get_card(store, TENANT, voice)
    assert card is not None
    assert await merge_candidates.candidates(ctx, TENANT, card) == []
    assert await name_index.reindex(store, TENANT) == 2
    assert [c.card_id for c in await merge_candidates.candidates(ctx, TENANT, card)] == [mail]
