"""Duplicate candidates of a customer card, and search for any card: what the merge offers.

Every way in is an index read (identity index, CRM-reference index, name index), never a
scan of the tenant's cards; the scoring itself is pure (:mod:`bot.domain.merge`). The merge
and undo that follow a choice are :mod:`bot.services.merge`.
"""

from __future__ import annotations

import asyncio

import jellyfish

from bot.domain import identifiers
from bot.domain.cards import CustomerCard
from bot.domain.errors import InvalidIdentifier
from bot.domain.identifiers import Identifier, IdentifierKind
from bot.domain.interactions import Interaction
from bot.domain.merge import (
    NAME_MATCH_MIN,
    Candidate,
    CardFacts,
    detail_keys,
    name_match,
    name_similarity,
    rank,
    reasons,
)
from bot.domain.name_keys import normalise_name, phonetic, query_keys
from bot.i18n import format_phone, t
from bot.services import keys, name_index
from bot.services.card_view import identifier_text
from bot.services.cards import cards_reached_by, live_card
from bot.services.context import Context
from bot.services.store import read_model

INTERACTIONS_READ = 5  # newest interactions of a card read for its names and CRM contacts
SEARCH_FILTER = 0.85
NAME_CANDIDATES = 4  # cards matched by name alone read per candidate shown, at most
FEW_BORN_THAT_DAY = 3  # a birth day's block this small is read whole


async def card_facts(ctx: Context, tenant_id: str, card: CustomerCard) -> CardFacts:
    names: list[str] = [card.display_name] if card.display_name else []
    contacts: dict[str, str] = {}
    fields: dict[str, dict[str, str]] = {}
    read = await asyncio.gather(
        *(
            read_model(ctx.store, keys.interaction(tenant_id, interaction_id), Interaction)
            for interaction_id in card.interaction_ids[-INTERACTIONS_READ:]
        )
    )
    for interaction in read:
        if interaction is None:
            continue
        if interaction.customer_name:
            names.append(interaction.customer_name)
        for key in [*interaction.shown.person, *interaction.linked_keys()]:
            record = interaction.shown.records.get(key)
            if record is not None and record.ref.type in ("contact", "lead"):
                contacts.setdefault(key, record.title)
                fields.setdefault(key, record.fields)
    return CardFacts(
        card=card, names=list(dict.fromkeys(names)), crm_contacts=contacts, crm_fields=fields
    )


def _crm_identifiers(records: dict[str, dict[str, str]]) -> list[Identifier]:
    """The phones and emails the CRM knows for the card's contacts."""
    found: list[Identifier] = []
    for fields in records.values():
        for name, make in (("phone", identifiers.phone), ("email", identifiers.email)):
            value = fields.get(name)
            if value:
                try:
                    found.append(make(value))
                except InvalidIdentifier:
                    continue
    return found


async def candidates(
    ctx: Context, tenant_id: str, card: CustomerCard, limit: int = 5
) -> list[Candidate]:
    """Possible duplicates of ``card``, best first, each with why it matched.

    Exact identifier matches (the card's own phones, emails and handles, and those of
    the CRM contacts found for it) come from the identity index, cards that found the
    same CRM contact from the CRM-reference index, and similar names from the name index
    (:mod:`bot.services.name_index`): only index documents and the candidate cards are
    read, whatever the number of cards in the tenant.
    """
    mine = await card_facts(ctx, tenant_id, card)
    wanted: list[Identifier] = [i.identifier for i in card.identities]
    records: dict[str, dict[str, str]] = {}
    for interaction_id in card.interaction_ids[-INTERACTIONS_READ:]:
        interaction = await read_model(
            ctx.store, keys.interaction(tenant_id, interaction_id), Interaction
        )
        if interaction is not None:
            for key in mine.crm_contacts:
                record = interaction.shown.records.get(key)
                if record is not None:
                    records[key] = record.fields
    wanted.extend(_crm_identifiers(records))
    ids: set[str] = set()
    my_names = list(dict.fromkeys([*mine.names, *mine.crm_contacts.values()]))
    # Every index read at once: on Blob Storage a lookup takes a few round trips' time.
    details = [
        block
        for key, fields in mine.crm_fields.items()
        for block in detail_keys(fields, mine.crm_contacts.get(key, ""))
    ]
    # The birth day's and the postcode's name starts; the house and the birth postcode.
    kinds = (("dob:",), ("zn:",), ("dz:", "ad:"))
    by_kind = [[block for block in details if block.startswith(kind)] for kind in kinds]
    by_identifier, by_crm, filed, blocks, frequencies = await asyncio.gather(
        asyncio.gather(*(cards_reached_by(ctx.store, tenant_id, i) for i in dict.fromkeys(wanted))),
        asyncio.gather(
            *(name_index.lookup_crm(ctx.store, tenant_id, k) for k in mine.crm_contacts)
        ),
        name_index.lookup_names(ctx.store, tenant_id, my_names),
        asyncio.gather(*(name_index.lookup_blocks(ctx.store, tenant_id, b) for b in by_kind)),
        name_index.frequencies(ctx.store, tenant_id, my_names),
    )
    same_day, same_start, same_place = blocks
    for found in [*by_identifier, *by_crm]:
        ids.update(found)
    strength: dict[str, float] = {}  # common names repeat across a block: judge each once
    by_name: dict[str, float] = {}
    for card_id, names in filed.items():
        if card_id in ids:
            continue
        best = 0.0
        for name in names:
            if name not in strength:
                strength[name] = max((name_match(m, name) for m in my_names), default=0.0)
            best = max(best, strength[name])
        if best >= NAME_MATCH_MIN:
            by_name[card_id] = best
    # A common name ("Mark Brown") can match hundreds of cards in a big tenant: only the
    # closest few are read and scored, so a lookup's cost has a ceiling.
    closest = sorted(by_name, key=lambda c: (-by_name[c], c))[: NAME_CANDIDATES * limit]
    ids.update(closest)
    # Living in the same house or born the same day in the same postcode (a household
    # member, or the person under a name written anew), or born the same day or living in
    # the same postcode with a name written too differently for the name blocks (one of
    # its tokens still sounds or is spelt alike): house and birth day first, a few at
    # most. Others born that day or living there are not read: with neither a name nor a
    # place in common they never score.
    mine_tokens = {t for n in my_names for t in normalise_name(n).split() if len(t) > 1}
    alike = {
        c
        for c, names in [*same_day.items(), *same_start.items()]
        if _share_a_token(mine_tokens, names)
    }
    # Few born that day (a young tenant, a rare day): each of them is read, whatever its
    # name ("Alisha" for "Max Kirby-Fahey"); the day and more of the details must agree.
    few = same_day if len(same_day) <= FEW_BORN_THAT_DAY else {}
    nearby = sorted(
        (c for c in {*same_place, *alike, *few} if c not in ids),
        key=lambda c: (not (c in same_place and c in same_day), c not in alike, c),
    )
    ids.update(nearby[: NAME_CANDIDATES * limit])
    ids.discard(card.id)

    async def facts_of(card_id: str) -> CardFacts | None:
        other_card = await live_card(ctx.store, tenant_id, card_id)
        return None if other_card is None else await card_facts(ctx, tenant_id, other_card)

    others = [f for f in await asyncio.gather(*map(facts_of, sorted(ids))) if f is not None]
    return rank(mine, others, limit, frequencies)


def _share_a_token(tokens: set[str], names: set[str]) -> bool:
    theirs = {t for n in names for t in normalise_name(n).split() if len(t) > 1}
    return any(
        a == b or phonetic(a) == phonetic(b) or jellyfish.jaro_winkler_similarity(a, b) >= 0.85
        for a in tokens
        for b in theirs
    )


async def search(
    ctx: Context, tenant_id: str, card: CustomerCard, query: str, limit: int = 10
) -> list[Candidate]:
    """Any card by card id, phone, email, CRM record id or name; with reasons (maybe none).

    Every way is an index read (identity, CRM-reference and name index): no scan.
    """
    query = query.strip()
    if not query:
        return []
    ids: set[str] = set()
    if await live_card(ctx.store, tenant_id, query) is not None:
        ids.add(query)
    for make in (identifiers.email, identifiers.phone):
        try:
            identifier = make(query)
        except InvalidIdentifier:
            continue
        ids |= await cards_reached_by(ctx.store, tenant_id, identifier)
    ids |= set(await name_index.lookup_crm(ctx.store, tenant_id, query))
    if not ids:
        filed = await name_index.lookup_blocks(ctx.store, tenant_id, query_keys(query))
        needle = normalise_name(query)
        for card_id, names in filed.items():
            if any(
                needle in normalise_name(name) or name_similarity(query, name) >= SEARCH_FILTER
                for name in names
            ):
                ids.add(card_id)
    ids.discard(card.id)
    mine = await card_facts(ctx, tenant_id, card)
    found: list[Candidate] = []
    for card_id in sorted(ids):
        other_card = await live_card(ctx.store, tenant_id, card_id)
        if other_card is None:
            continue
        facts = await card_facts(ctx, tenant_id, other_card)
        why = reasons(mine, facts)
        found.append(
            Candidate(card_id=card_id, name=facts.name or label(other_card), score=0, reasons=why)
        )
    return found[:limit]


async def display_name(ctx: Context, tenant_id: str, card: CustomerCard) -> str:
    """The name agents know a card by: its CRM contact's, else its own label."""
    return (await card_facts(ctx, tenant_id, card)).name or label(card)


def label(card: CustomerCard) -> str:
    """The card's own name, else "Unknown contact" and its first identifier (a message
    shown in each reader's language)."""
    if card.display_name:
        return card.display_name
    if not card.identities:
        return t("Unknown contact {identifier}", identifier=card.id)
    first = card.identities[0].identifier
    if not first.readable:  # kept as given: said so, in the reader's language
        return t("Unknown contact {identifier}", identifier=identifier_text(first))
    shown = format_phone(first.value) if first.kind is IdentifierKind.phone else first.value
    return t("Unknown contact {identifier}", identifier=shown)
