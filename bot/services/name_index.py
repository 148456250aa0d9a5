"""The name index, the CRM-reference index and each card's merge history.

Finding a card's possible duplicates reads a handful of small documents, never a listing
or a scan of the tenant's cards, so it costs the same at 10 thousand cards as at a million
(and on Blob Storage every read is a point read of one blob):

- ``keys.name_block(block)`` (:class:`NameBlock`): the cards filed under one blocking key
  (:mod:`bot.domain.name_keys`), each with the names that put it there, so a lookup can
  drop weak name matches before reading any card;
- ``keys.crm_ref("i:<CRM id>" | "k:<record key>")`` (:class:`CrmRefs`): the cards whose
  interactions found a CRM contact, lead or account, each with its record key. A card is
  filed in its record's CRM id's document (a search by a bare id reads that one), but for
  its further records of that id (one contact in several CRMs, each found under the id):
  those are filed in their record key's own. A record key is looked up in both;
  documents written before (every record in both, the id's naming the card's last
  record of it) are read alike;
- ``keys.card_terms(card)`` (:class:`CardTerms`): what one card is filed under, and why
  ("own", or the id of the merge that brought it), so an undo takes exactly that back out;
- ``keys.merge_history(card)`` (:class:`MergeHistory`): the merges into a card, for its
  "recent merges" list;
- ``keys.name_count(token)`` (:class:`NameCount`): the name frequency table, how many
  cards carry each name token (as it sounds and as it is spelt), counted when a card is
  first filed under a name with that token; the number of named cards, and of those whose
  spellings were counted, is kept in ``COUNT_SHARDS`` documents so that new cards
  arriving at once rarely contend for one. Counts only grow (a merged or
  erased card stays counted): they weigh how common a name is, nothing more.

A card is filed when an interaction starts on it, and again whenever one of its
interactions shows more (:func:`update_interaction`): the records of CRMs that answered
after the first card, of a refresh or recheck, and a contact the agent pinned or linked.
What an interaction a merge brought shows later files the card it came from, and files
its new card for that merge only, so that undoing the merge takes it back out.

Every write is create-if-absent followed by compare-and-swap updates that are no-ops when
already done, so concurrent writers and retried steps are safe. Entries are added before
the card's terms record them: a crash in between leaves an entry too many (harmless: the
candidates are re-read and re-scored), never one missing that the terms claim.
Entries of a card merged into another stay; lookups skip cards that are no longer live.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, Field

from bot.domain.api_model import Model
from bot.domain.cards import CustomerCard
from bot.domain.interactions import Interaction
from bot.domain.merge import MergeMarker, NameFrequencies, detail_keys
from bot.domain.name_keys import (
    SEARCH_BLOCK_LIMIT,
    blocking_keys,
    counted_tokens,
    lookup_keys,
    normalise_name,
    search_keys,
)
from bot.domain.records import RecordRef
from bot.services import keys
from bot.services.store import (
    AlreadyExists,
    Document,
    NotFound,
    Store,
    create_model,
    parsed,
    read_model,
    update,
)

OWN = "own"
COUNT_SHARDS = 8
HISTORY_SIZE = 50
CONTACT_TYPES = ("contact", "lead")


class NameBlock(Model):
    cards: dict[str, list[str]] = Field(default_factory=dict, description="card id -> names")
    full: bool = False


class CrmRefs(Model):
    cards: dict[str, str] = Field(default_factory=dict, description="card id -> record key")


class CardTerms(Model):
    names: dict[str, list[str]] = Field(default_factory=dict, description="name -> sources")
    crm: dict[str, list[str]] = Field(default_factory=dict, description="record key -> sources")


class NameCount(Model):
    cards: int = 0
    spelt: int = 0  # (a ``card_shard`` document) of its cards, those whose spellings count


class MergeHistory(Model):
    audit_ids: list[str] = Field(default_factory=list, description="oldest first")


M = TypeVar("M", bound=BaseModel)


async def _upsert(
    store: Store,
    key: str,
    model: type[M],
    change: Callable[[M], M],
    *,
    new: bool = False,
    read: Document | None = None,
) -> Document | None:
    """Apply ``change`` to the document, starting from an empty one if there is none; the
    document as created (None when it was updated, or left as it was).

    ``new``: the document is most likely absent (a new card's own), so it is created
    without a read first; one that exists after all is then read and updated. ``read``:
    the document as the caller has just read it, instead of a first read (a race re-reads).
    """
    for _ in range(5):
        document = None if new else read or await store.read(key)
        new, read = False, None
        if document is None:
            empty = model()
            value = change(empty)
            if value is empty:
                return None
            try:
                return await create_model(store, key, value)
            except AlreadyExists:
                continue
        try:
            await update(store, key, model, change, read=document)
            return None
        except NotFound:
            continue
    return None


# --- writing --------------------------------------------------------------------------


async def _file(store: Store, tenant_id: str, block: str, card_id: str, name: str) -> None:
    def add(doc: NameBlock) -> NameBlock:
        names = doc.cards.get(card_id, [])
        if name in names:
            return doc
        full = card_id not in doc.cards and len(doc.cards) >= SEARCH_BLOCK_LIMIT
        if full and block.startswith("sx:"):
            return doc if doc.full else doc.model_copy(update={"full": True})
        return doc.model_copy(update={"cards": {**doc.cards, card_id: [*names, name]}})

    await _upsert(store, keys.name_block(tenant_id, block), NameBlock, add)


async def _unfile(store: Store, tenant_id: str, block: str, card_id: str, name: str) -> None:
    def remove(doc: NameBlock) -> NameBlock:
        names = doc.cards.get(card_id)
        if names is None or name not in names:
            return doc
        rest = [n for n in names if n != name]
        cards = {k: v for k, v in doc.cards.items() if k != card_id}
        if rest:
            cards[card_id] = rest
        return doc.model_copy(update={"cards": cards})

    with contextlib.suppress(NotFound):
        await update(store, keys.name_block(tenant_id, block), NameBlock, remove)


def _crm_id(record_key: str) -> str | None:
    """The CRM id in a record key ("crm:type:id"); None for a key that has none."""
    try:
        return RecordRef.parse(record_key).id
    except ValueError:
        return None


def _ref_keys(record_key: str) -> list[str]:
    """The reference documents that may lead to ``record_key``."""
    crm_id = _crm_id(record_key)
    return [f"k:{record_key}", *([] if crm_id is None else [f"i:{crm_id}"])]


def _references(new: Iterable[str], filed: Iterable[str]) -> list[tuple[str, bool]]:
    """(record key, whether it is filed in its CRM id's ``i:`` document) for the records
    ``new`` of a card filed under ``filed`` already: the first of the card's records with
    a CRM id is, the others of that id (one contact in several CRMs) get ``k:`` documents."""
    ids = {_crm_id(k) for k in filed}
    found: list[tuple[str, bool]] = []
    for record_key in new:
        crm_id = _crm_id(record_key)
        found.append((record_key, crm_id is not None and crm_id not in ids))
        ids.add(crm_id)
    return found


async def _refer(
    store: Store, tenant_id: str, record_key: str, card_id: str, *, by_id: bool
) -> None:
    """File ``card_id`` as leading to ``record_key``: ``by_id``, in its CRM id's document,
    unless the card is there with another record of that id already (a concurrent filing);
    else in the record's own. Most records are found for one card only: the document is
    most likely absent, created without a read first."""
    crm_id = _crm_id(record_key)
    if by_id and crm_id is not None:
        held: list[str] = []

        def claim(doc: CrmRefs) -> CrmRefs:
            held[:] = [doc.cards.get(card_id, record_key)]
            if card_id in doc.cards:
                return doc
            return doc.model_copy(update={"cards": {**doc.cards, card_id: record_key}})

        await _upsert(store, keys.crm_ref(tenant_id, f"i:{crm_id}"), CrmRefs, claim, new=True)
        if held == [record_key]:
            return

    def change(doc: CrmRefs) -> CrmRefs:
        if doc.cards.get(card_id) == record_key:
            return doc
        return doc.model_copy(update={"cards": {**doc.cards, card_id: record_key}})

    await _upsert(store, keys.crm_ref(tenant_id, f"k:{record_key}"), CrmRefs, change, new=True)


async def _unrefer(store: Store, tenant_id: str, record_key: str, card_id: str) -> None:
    def change(doc: CrmRefs) -> CrmRefs:
        if doc.cards.get(card_id) != record_key:
            return doc
        return doc.model_copy(
            update={"cards": {k: v for k, v in doc.cards.items() if k != card_id}}
        )

    for ref in _ref_keys(record_key):
        with contextlib.suppress(NotFound):
            await update(store, keys.crm_ref(tenant_id, ref), CrmRefs, change)


def card_shard(card_id: str) -> str:
    """The count document of named cards that counts this card."""
    return f"#cards-{zlib.crc32(card_id.encode()) % COUNT_SHARDS}"


async def _count(store: Store, tenant_id: str, token: str, cards: int, spelt: int) -> None:
    def add(doc: NameCount) -> NameCount:
        return NameCount(cards=doc.cards + cards, spelt=doc.spelt + spelt)

    await _upsert(store, keys.name_count(tenant_id, token), NameCount, add)


def _counted(card_id: str, known: Iterable[str], new: Iterable[str]) -> dict[str, tuple[int, int]]:
    """The counts a card's new names add to (token -> cards, spelt cards): tokens it did
    not carry yet, and in its shard the card itself when it had no name, and as spelt when
    it had no spelling counted yet (a card filed before spellings were counted stays out)."""
    before = {t for name in known for t in counted_tokens(name)}
    after = [t for name in new for t in counted_tokens(name) if t not in before]
    found = dict.fromkeys(after, (1, 0))
    named = 0 if before else 1
    spelt = not any(t.startswith("=") for t in before) and any(t.startswith("=") for t in after)
    if named or spelt:
        found[card_shard(card_id)] = (named, int(spelt))
    return found


def _name_blocks(name: str) -> list[str]:
    return [*blocking_keys(name), *search_keys(name)]


async def terms_of(store: Store, tenant_id: str, card_id: str) -> CardTerms:
    found = await read_model(store, keys.card_terms(tenant_id, card_id), CardTerms)
    return found or CardTerms()


async def index_card(
    store: Store,
    tenant_id: str,
    card_id: str,
    names: Iterable[str | None] = (),
    crm_keys: Iterable[str] = (),
    source: str = OWN,
    *,
    new: bool = False,
    read: Document | None = None,
) -> Document | None:
    """File ``card_id`` under ``names`` and CRM records ``crm_keys``, for ``source``; the
    card's terms document as this left it (as read when there was nothing new, as created;
    None when nothing was read or it was updated).

    Nothing is read when there is nothing to file; ``new``: the card was just made, its
    terms are most likely absent (created without a read first); ``read``: its terms as an
    earlier filing left them, instead of a read (a race re-reads: a stale one costs a
    failed write, and may file again what was filed since, harmlessly)."""
    filable = [n for n in dict.fromkeys(n.strip() for n in names if n) if normalise_name(n)]
    crm_keys = list(dict.fromkeys(crm_keys))
    if not filable and not crm_keys:
        return read
    terms_key = keys.card_terms(tenant_id, card_id)
    terms_read = read or (None if new else await store.read(terms_key))
    terms = CardTerms() if terms_read is None else parsed(CardTerms, terms_read)
    new_names = [n for n in filable if source not in terms.names.get(n, [])]
    new_refs = [k for k in crm_keys if source not in terms.crm.get(k, [])]
    if not new_names and not new_refs:
        return terms_read
    counted = _counted(card_id, terms.names, new_names) if source == OWN else {}
    # Independent documents: written at once (on Blob Storage, one round trip's time).
    await asyncio.gather(
        *(
            _file(store, tenant_id, block, card_id, name)
            for name in new_names
            for block in _name_blocks(name)
        ),
        *(_count(store, tenant_id, token, *counts) for token, counts in counted.items()),
        *(
            _refer(store, tenant_id, record_key, card_id, by_id=by_id)
            for record_key, by_id in _references(new_refs, terms.crm)
        ),
    )

    def record(doc: CardTerms) -> CardTerms:
        names = dict(doc.names)
        for name in new_names:
            names[name] = list(dict.fromkeys([*names.get(name, []), source]))
        crm = dict(doc.crm)
        for record_key in new_refs:
            crm[record_key] = list(dict.fromkeys([*crm.get(record_key, []), source]))
        return CardTerms(names=names, crm=crm)

    return await _upsert(
        store, terms_key, CardTerms, record, new=terms_read is None, read=terms_read
    )


def interaction_terms(interaction: Interaction) -> tuple[list[str], list[str]]:
    """The names and person-level CRM record keys an interaction tells about its card."""
    names: list[str] = [interaction.customer_name] if interaction.customer_name else []
    refs: list[str] = []
    for key in [*interaction.shown.person, *interaction.linked_keys()]:
        found = interaction.shown.records.get(key)
        if found is None or not found.is_person_level:
            continue
        refs.append(key)
        if found.ref.type in CONTACT_TYPES:
            names.append(found.title)
    return names, refs


def detail_blocks(interaction: Interaction) -> list[tuple[str, str]]:
    """(block, contact name) of the birth dates of the CRM contacts the interaction found."""
    found: list[tuple[str, str]] = []
    for key in [*interaction.shown.person, *interaction.linked_keys()]:
        record = interaction.shown.records.get(key)
        if record is not None and record.ref.type in CONTACT_TYPES and record.title:
            found.extend(
                (block, record.title) for block in detail_keys(record.fields, record.title)
            )
    return found


async def _filed_cards(
    store: Store, tenant_id: str, interaction: Interaction
) -> list[tuple[str, str]]:
    """(card id, source) the interaction files: its card, as its own; an interaction a
    merge brought, the card it came from as its own and its card for that merge, so an
    undo of the merge, which sends it back, takes exactly that out again. One that merges
    of merged cards brought along (B into A, then A into C) files each card on its way for
    the merge that brought it there, and the first as its own."""
    filed: list[tuple[str, str]] = []
    card_id = interaction.card_id
    if interaction.merged_from is not None:
        for came_from in reversed([*interaction.merged_earlier, interaction.merged_from]):
            marker = await read_model(store, keys.card_merge(tenant_id, came_from), MergeMarker)
            if marker is None or not marker.moved_onto(card_id):
                break
            filed.append((card_id, marker.audit_id))
            card_id = came_from
    return [(card_id, OWN), *reversed(filed)]


@dataclass(frozen=True)
class FiledTerms:
    """A card's terms document as a filing of one of its interactions left it."""

    card_id: str
    document: Document


async def index_interaction(
    store: Store,
    tenant_id: str,
    interaction: Interaction,
    *,
    new_card: str | None = None,
    terms: FiledTerms | None = None,
) -> FiledTerms | None:
    """File the cards the interaction files (:func:`_filed_cards`) under its names and
    records; ``new_card``: the card made for it, if one was; ``terms``: a card's terms as
    an earlier filing left them (used for that card, instead of a read). Its card's terms
    as this left them, when it filed that card alone and knows them."""
    names, refs = interaction_terms(interaction)
    filed = await _filed_cards(store, tenant_id, interaction)
    left: Document | None = None
    for card_id, source in filed:
        new = card_id == new_card and source == OWN
        known = terms.document if terms is not None and terms.card_id == card_id else None
        left = await index_card(store, tenant_id, card_id, names, refs, source, new=new, read=known)
    # The card's own, for as long as it lives (merges do not move them: lookups skip
    # cards that are no longer live).
    await asyncio.gather(
        *(
            _file(store, tenant_id, block, card_id, name)
            for card_id, _ in filed
            for block, name in detail_blocks(interaction)
        )
    )
    [(card_id, _), *more] = filed
    return FiledTerms(card_id, left) if left is not None and not more else None


def _filed_under(interaction: Interaction) -> set[tuple[str, ...]]:
    names, refs = interaction_terms(interaction)
    return {
        *(("name", name) for name in names),
        *(("crm", ref) for ref in refs),
        *(("detail", block, name) for block, name in detail_blocks(interaction)),
    }


async def file_new_terms(
    store: Store,
    tenant_id: str,
    before: Interaction,
    after: Interaction,
    *,
    terms: FiledTerms | None = None,
) -> None:
    """File ``after``'s card under what it tells that ``before`` did not: the records of
    CRMs that answered after the first card, of a refresh or a recheck, a record linked or
    pinned since. Nothing is read when nothing is new (most clicks); ``terms``: as for
    :func:`index_interaction`."""
    if after.card_id == before.card_id and (
        _links_add_nothing(before, after)
        if after.shown is before.shown
        else _filed_under(after) <= _filed_under(before)
    ):
        return
    await index_interaction(store, tenant_id, after, terms=terms)


def _links_add_nothing(before: Interaction, after: Interaction) -> bool:
    """With the same records shown (a link or unlink click), only a person-level record
    linked now and not among the people the CRMs found is anything new to file."""
    linked = set(after.linked_keys()) - set(before.linked_keys()) - set(after.shown.person)
    records = after.shown.records
    return not any(
        (record := records.get(key)) is not None and record.is_person_level for key in linked
    )


async def update_interaction(
    store: Store,
    tenant_id: str,
    interaction_id: str,
    change: Callable[[Interaction], Interaction],
    *,
    read: Document | None = None,
) -> Interaction:
    """The interaction's compare-and-swap :func:`update`, its card then filed under the
    records the change brought (:func:`file_new_terms`)."""
    before, updated = await tracked_update(store, tenant_id, interaction_id, change, read=read)
    if before is not None:
        await file_new_terms(store, tenant_id, before, updated)
    return updated


async def tracked_update(
    store: Store,
    tenant_id: str,
    interaction_id: str,
    change: Callable[[Interaction], Interaction],
    *,
    read: Document | None = None,
) -> tuple[Interaction | None, Interaction]:
    """The interaction's compare-and-swap :func:`update`, nothing filed yet: (the version
    the change was applied to, None when it changed nothing; the interaction as stored).
    For a caller with something more urgent to do before :func:`file_new_terms`, such as
    sending the card."""
    seen: list[Interaction] = []

    def tracked(current: Interaction) -> Interaction:
        seen[:] = [current]
        return change(current)

    key = keys.interaction(tenant_id, interaction_id)
    updated = await update(store, key, Interaction, tracked, read=read)
    return (seen[0] if seen and updated is not seen[0] else None), updated


async def copy_terms(
    store: Store,
    tenant_id: str,
    from_id: str,
    to_id: str,
    source: str,
    fallback_names: Iterable[str | None] = (),
) -> None:
    """File ``to_id`` under everything ``from_id`` is filed under, for ``source`` (a merge)."""
    terms = await terms_of(store, tenant_id, from_id)
    names = list(terms.names) or [n for n in fallback_names if n]
    await index_card(store, tenant_id, to_id, names, list(terms.crm), source)


async def drop_source(store: Store, tenant_id: str, card_id: str, source: str) -> None:
    """Take out what ``source`` (a merge being undone) filed ``card_id`` under, only that."""
    terms = await terms_of(store, tenant_id, card_id)
    gone_names = [n for n, sources in terms.names.items() if sources == [source]]
    gone_refs = [k for k, sources in terms.crm.items() if sources == [source]]
    # Another name of the card may share a block: only this name's entry goes.
    await asyncio.gather(
        *(
            _unfile(store, tenant_id, block, card_id, name)
            for name in gone_names
            for block in _name_blocks(name)
        ),
        *(_unrefer(store, tenant_id, record_key, card_id) for record_key in gone_refs),
    )

    def forget(doc: CardTerms) -> CardTerms:
        names = {n: [s for s in v if s != source] for n, v in doc.names.items()}
        crm = {k: [s for s in v if s != source] for k, v in doc.crm.items()}
        changed = CardTerms(
            names={n: v for n, v in names.items() if v}, crm={k: v for k, v in crm.items() if v}
        )
        return doc if changed == doc else changed

    with contextlib.suppress(NotFound):
        await update(store, keys.card_terms(tenant_id, card_id), CardTerms, forget)


# --- reading --------------------------------------------------------------------------


async def lookup_blocks(store: Store, tenant_id: str, blocks: Iterable[str]) -> dict[str, set[str]]:
    """Card id -> the names it is filed under, over the given blocking keys."""
    found: dict[str, set[str]] = {}
    docs = await asyncio.gather(
        *(
            read_model(store, keys.name_block(tenant_id, b), NameBlock)
            for b in dict.fromkeys(blocks)
        )
    )
    for doc in docs:
        if doc is not None:
            for card_id, names in doc.cards.items():
                found.setdefault(card_id, set()).update(names)
    return found


async def lookup_names(store: Store, tenant_id: str, names: Iterable[str]) -> dict[str, set[str]]:
    blocks = [block for name in dict.fromkeys(names) for block in lookup_keys(name)]
    return await lookup_blocks(store, tenant_id, blocks)


async def frequencies(store: Store, tenant_id: str, names: Iterable[str]) -> NameFrequencies:
    """The frequency table's entries for the tokens of ``names``, the named cards and the
    spelt cards."""
    tokens = list(dict.fromkeys(t for name in names for t in counted_tokens(name)))
    shards = [f"#cards-{n}" for n in range(COUNT_SHARDS)]  # every value card_shard() takes
    docs = await asyncio.gather(
        *(read_model(store, keys.name_count(tenant_id, t), NameCount) for t in [*tokens, *shards])
    )
    counts = [doc or NameCount() for doc in docs]
    return NameFrequencies(
        cards=sum(c.cards for c in counts[len(tokens) :]),
        spelt=sum(c.spelt for c in counts[len(tokens) :]),
        tokens={t: c.cards for t, c in zip(tokens, counts, strict=False)},
    )


async def lookup_crm(store: Store, tenant_id: str, ref: str) -> dict[str, str]:
    """Card id -> record key, for a record key ("crm:type:id": the cards its own document
    holds and those its CRM id's leads to it) or a bare CRM id (every card its document
    holds). Before each record had one of the two, it had both: read alike."""
    crm_id = _crm_id(ref)
    by_key, by_id = await asyncio.gather(
        *(
            read_model(store, keys.crm_ref(tenant_id, k), CrmRefs)
            for k in (f"k:{ref}", f"i:{crm_id or ref}")
        )
    )
    found = dict(by_key.cards) if by_key is not None else {}
    if by_id is not None:
        found.update(
            (card_id, record_key)
            for card_id, record_key in by_id.cards.items()
            if crm_id is None or record_key == ref
        )
    return found


async def add_history(store: Store, tenant_id: str, card_id: str, audit_id: str) -> None:
    def add(doc: MergeHistory) -> MergeHistory:
        if audit_id in doc.audit_ids:
            return doc
        return MergeHistory(audit_ids=[*doc.audit_ids, audit_id][-HISTORY_SIZE:])

    await _upsert(store, keys.merge_history(tenant_id, card_id), MergeHistory, add)


async def history(store: Store, tenant_id: str, card_id: str) -> list[str]:
    doc = await read_model(store, keys.merge_history(tenant_id, card_id), MergeHistory)
    return doc.audit_ids if doc is not None else []


async def reindex(store: Store, tenant_id: str) -> int:
    """File every card of the tenant from its own documents; the number of cards.

    For data written before the index existed: a one-off listing of the tenant's cards
    (the only listing here), idempotent, safe to run while the bot runs.
    """
    done = 0
    async for key in store.keys(keys.cards_prefix(tenant_id)):
        card = await read_model(store, key, CustomerCard)
        if card is None:
            continue
        names: list[str | None] = [card.display_name]
        refs: list[str] = []
        for interaction_id in card.interaction_ids:
            interaction = await read_model(
                store, keys.interaction(tenant_id, interaction_id), Interaction
            )
            if interaction is not None and interaction.card_id == card.id:
                more_names, more_refs = interaction_terms(interaction)
                names.extend(more_names)
                refs.extend(more_refs)
                for block, name in detail_blocks(interaction):
                    await _file(store, tenant_id, block, card.id, name)
        await index_card(store, tenant_id, card.id, names, refs)
        done += 1
    return done
