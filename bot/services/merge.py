"""Merging customer cards: candidates, search, merge and undo, safe under concurrency.

Design:

- **Markers.** ``keys.card_merge(card)`` holds a :class:`MergeMarker` created with
  create-if-absent. While a merge runs, both cards carry one (the survivor as
  ``survivor``, the absorbed card as ``absorbed``); a second merge touching either card
  finds the marker taken and is refused ("being merged, try again"), so two agents
  merging overlapping cards never interleave. After the merge the survivor's marker is
  released and the absorbed card's stays: it *is* the "merged into" mark that
  :func:`bot.services.cards.find_card` follows. Undo removes it.
- **Audit first, then idempotent steps.** The audit entry (``keys.audit``) is written
  with create-if-absent under the merge id the confirm card carries, with both cards'
  before-state read *after* the markers are held. Every following step is a
  compare-and-swap ``update`` that is a no-op when already done (union of identities
  and interactions, index entry "absorbed -> survivor" only if it still names the
  absorbed card, interaction ``card_id`` likewise). A retried or crashed merge is
  resumed from the audit entry and cannot double-merge.
- **Undo** runs the same steps backwards from the audit entry: interactions and index
  entries that still name the survivor go back, the survivor loses only what the
  absorbed card brought (what reached it after the merge stays), and the absorbed card
  document, never modified by the merge, is put back exactly as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from bot.domain import identifiers
from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.errors import DomainError, InvalidIdentifier
from bot.domain.identifiers import Channel, Identifier, IdentifierKind
from bot.domain.interactions import Interaction
from bot.domain.merge import (
    NAME_MATCH_MIN,
    Candidate,
    CardFacts,
    MergeAudit,
    MergeState,
    choose_survivor,
    merged,
    name_match,
    name_similarity,
    rank,
    reasons,
    unmerged,
)
from bot.domain.name_keys import normalise_name, query_keys
from bot.services import keys, name_index
from bot.services.cards import IndexEntry, get_card
from bot.services.context import Context
from bot.services.store import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    Store,
    create_model,
    read_model,
    update,
)

INTERACTIONS_READ = 5  # newest interactions of a card read for its names and CRM contacts
SEARCH_FILTER = 0.85
NAME_CANDIDATES = 4  # cards matched by name alone read per candidate shown, at most
STALE_LOCK = timedelta(minutes=2)


class MergeRefused(DomainError):
    """The merge (or undo) cannot be done as asked; nothing was changed."""


class MergeBusy(MergeRefused):
    """Another merge holds one of the cards right now; try again in a moment."""


class MarkerRole(StrEnum):
    survivor = "survivor"
    absorbing = "absorbing"  # held for a merge that has not started moving anything
    absorbed = "absorbed"  # "merged into survivor_id": find_card follows it


class MergeMarker(BaseModel):
    audit_id: str
    role: MarkerRole
    survivor_id: str
    at: datetime


# --- facts and candidates -------------------------------------------------------------


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


async def _index_lookup(store: Store, tenant_id: str, identifier: Identifier) -> set[str]:
    """Cards reached by ``identifier`` on any channel (one index read per channel, at once)."""
    entries = await asyncio.gather(
        *(
            read_model(
                store,
                keys.card_index(tenant_id, CardIdentity(channel=c, identifier=identifier).key),
                IndexEntry,
            )
            for c in Channel
        )
    )
    return {entry.card_id for entry in entries if entry is not None}


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


async def live_card(ctx: Context, tenant_id: str, card_id: str) -> CustomerCard | None:
    """The card, unless it was merged into another one."""
    marker = await read_model(ctx.store, keys.card_merge(tenant_id, card_id), MergeMarker)
    if marker is not None and marker.role is MarkerRole.absorbed:
        return None
    return await get_card(ctx.store, tenant_id, card_id)


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
    by_identifier, by_crm, filed = await asyncio.gather(
        asyncio.gather(*(_index_lookup(ctx.store, tenant_id, i) for i in dict.fromkeys(wanted))),
        asyncio.gather(
            *(name_index.lookup_crm(ctx.store, tenant_id, k) for k in mine.crm_contacts)
        ),
        name_index.lookup_names(ctx.store, tenant_id, my_names),
    )
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
    ids.discard(card.id)

    async def facts_of(card_id: str) -> CardFacts | None:
        other_card = await live_card(ctx, tenant_id, card_id)
        return None if other_card is None else await card_facts(ctx, tenant_id, other_card)

    others = [f for f in await asyncio.gather(*map(facts_of, sorted(ids))) if f is not None]
    return rank(mine, others, limit)


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
    if await live_card(ctx, tenant_id, query) is not None:
        ids.add(query)
    for make in (identifiers.email, identifiers.phone):
        try:
            identifier = make(query)
        except InvalidIdentifier:
            continue
        ids |= await _index_lookup(ctx.store, tenant_id, identifier)
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
        other_card = await live_card(ctx, tenant_id, card_id)
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
    if card.display_name:
        return card.display_name
    first = card.identities[0].identifier.value if card.identities else card.id
    return f"Unknown contact {first}"


def describe(card: CustomerCard) -> list[str]:
    """What a card holds, in words, for the confirmation card."""
    parts = []
    for kind, label in (
        (IdentifierKind.phone, "Phone"),
        (IdentifierKind.email, "Email"),
        (IdentifierKind.handle, "Handle"),
    ):
        values = card.identifiers(kind)
        if values:
            parts.append(f"{label}: {', '.join(values)}")
    parts.append(f"Interactions: {len(card.interaction_ids)}")
    return parts


# --- markers --------------------------------------------------------------------------


async def _hold(ctx: Context, tenant_id: str, card_id: str, marker: MergeMarker) -> None:
    """Take ``card_id`` for the merge ``marker.audit_id``; MergeBusy if another holds it."""
    key = keys.card_merge(tenant_id, card_id)
    for _ in range(3):
        try:
            await create_model(ctx.store, key, marker)
            return
        except AlreadyExists:
            document = await ctx.store.read(key)
            if document is None:
                continue
            held = MergeMarker.model_validate_json(document.data)
            if held.audit_id == marker.audit_id:
                return
            if held.role is MarkerRole.absorbed and await _finished(ctx, tenant_id, held):
                raise MergeRefused(
                    "That card was already merged into another card; nothing was changed."
                ) from None
            if await _abandoned(ctx, tenant_id, held):
                with contextlib.suppress(PreconditionFailed, NotFound):
                    await ctx.store.delete(key, document.etag)
                continue
            raise MergeBusy(
                "Someone is merging one of these cards right now; try again in a moment."
            ) from None
    raise MergeBusy("Someone is merging one of these cards right now; try again in a moment.")


async def _finished(ctx: Context, tenant_id: str, marker: MergeMarker) -> bool:
    audit = await read_model(ctx.store, keys.audit(tenant_id, marker.audit_id), MergeAudit)
    return audit is not None and audit.state is not MergeState.pending


async def _abandoned(ctx: Context, tenant_id: str, marker: MergeMarker) -> bool:
    """A marker left by a merge that crashed before writing its audit entry."""
    if ctx.clock() - marker.at < STALE_LOCK:
        return False
    audit = await read_model(ctx.store, keys.audit(tenant_id, marker.audit_id), MergeAudit)
    return audit is None


async def _release(ctx: Context, tenant_id: str, card_id: str, audit_id: str) -> None:
    key = keys.card_merge(tenant_id, card_id)
    document = await ctx.store.read(key)
    if document is None:
        return
    if MergeMarker.model_validate_json(document.data).audit_id != audit_id:
        return
    with contextlib.suppress(PreconditionFailed, NotFound):
        await ctx.store.delete(key, document.etag)


# --- merge ----------------------------------------------------------------------------


def new_merge_id() -> str:
    return f"merge-{uuid.uuid4().hex}"


async def merge(
    ctx: Context,
    tenant_id: str,
    open_card_id: str,
    other_card_id: str,
    actor: str,
    merge_id: str,
) -> MergeAudit:
    """Merge ``other_card_id`` and the open card; idempotent per ``merge_id``."""
    audit_key = keys.audit(tenant_id, merge_id)
    audit = await read_model(ctx.store, audit_key, MergeAudit)
    if audit is None:
        audit = await _plan(ctx, tenant_id, open_card_id, other_card_id, actor, merge_id)
    if audit.state is MergeState.pending:
        await _apply(ctx, tenant_id, audit)
        audit = await _advance(ctx, audit_key, MergeState.pending, MergeState.done)
    return audit


async def _plan(
    ctx: Context,
    tenant_id: str,
    open_card_id: str,
    other_card_id: str,
    actor: str,
    merge_id: str,
) -> MergeAudit:
    if open_card_id == other_card_id:
        raise MergeRefused("A card cannot be merged with itself.")
    facts: list[CardFacts] = []
    for card_id in (open_card_id, other_card_id):
        card = await live_card(ctx, tenant_id, card_id)
        if card is None:
            raise MergeRefused(
                "That card no longer exists or was already merged; nothing was changed."
            )
        facts.append(await card_facts(ctx, tenant_id, card))
    open_facts, other_facts = facts
    choice = choose_survivor(open_facts, other_facts)
    now = ctx.clock()
    roles = {choice.survivor_id: MarkerRole.survivor, choice.absorbed_id: MarkerRole.absorbing}
    held: list[str] = []
    try:
        # A fixed order (by card id) so that merges over overlapping cards cannot all
        # hold one card and wait on the next; a taken card refuses at once (MergeBusy).
        for card_id in sorted(roles):
            marker = MergeMarker(
                audit_id=merge_id, role=roles[card_id], survivor_id=choice.survivor_id, at=now
            )
            await _hold(ctx, tenant_id, card_id, marker)
            held.append(card_id)
    except MergeRefused:
        for card_id in held:
            await _release(ctx, tenant_id, card_id, merge_id)
        raise
    # Both cards are ours now: their before-state cannot be changed by another merge.
    survivor = await get_card(ctx.store, tenant_id, choice.survivor_id)
    absorbed = await get_card(ctx.store, tenant_id, choice.absorbed_id)
    if survivor is None or absorbed is None:
        for card_id in (choice.absorbed_id, choice.survivor_id):
            await _release(ctx, tenant_id, card_id, merge_id)
        raise MergeRefused("That card no longer exists; nothing was changed.")
    audit = MergeAudit(
        id=merge_id,
        tenant_id=tenant_id,
        actor=actor,
        at=now,
        open_card_id=open_card_id,
        survivor_before=survivor,
        absorbed_before=absorbed,
        why=choice.why,
        reasons=reasons(open_facts, other_facts),
    )
    try:
        await create_model(ctx.store, keys.audit(tenant_id, merge_id), audit)
    except AlreadyExists:
        stored = await read_model(ctx.store, keys.audit(tenant_id, merge_id), MergeAudit)
        if stored is None:
            raise
        audit = stored  # the same merge, retried concurrently: continue from its entry
    return audit


async def _repoint_interaction(
    ctx: Context, tenant_id: str, interaction_id: str, old: str, new: str
) -> None:
    with contextlib.suppress(NotFound):
        await update(
            ctx.store,
            keys.interaction(tenant_id, interaction_id),
            Interaction,
            lambda i: i.model_copy(update={"card_id": new}) if i.card_id == old else i,
        )


async def _repoint_index(
    ctx: Context, tenant_id: str, identity: CardIdentity, old: str, new: str
) -> None:
    with contextlib.suppress(NotFound):
        await update(
            ctx.store,
            keys.card_index(tenant_id, identity.key),
            IndexEntry,
            lambda e: IndexEntry(card_id=new) if e.card_id == old else e,
        )


async def _apply(ctx: Context, tenant_id: str, audit: MergeAudit) -> None:
    survivor_id, absorbed_id = audit.survivor_id, audit.absorbed_id
    absorbed = audit.absorbed_before
    # 0. From now on the absorbed card's identities find the survivor.
    marker_key = keys.card_merge(tenant_id, absorbed_id)
    await update(
        ctx.store,
        marker_key,
        MergeMarker,
        lambda m: (
            m.model_copy(update={"role": MarkerRole.absorbed})
            if m.audit_id == audit.id and m.role is MarkerRole.absorbing
            else m
        ),
    )
    # 1. The survivor gains everything (union: a retry adds nothing twice).
    await update(
        ctx.store,
        keys.card(tenant_id, survivor_id),
        CustomerCard,
        lambda card: merged(card, absorbed),
    )
    # 2. The absorbed card's identities now find the survivor.
    for identity in absorbed.identities:
        await _repoint_index(ctx, tenant_id, identity, absorbed_id, survivor_id)
    # 3. Its interactions (and so their links) move over.
    for interaction_id in absorbed.interaction_ids:
        await _repoint_interaction(ctx, tenant_id, interaction_id, absorbed_id, survivor_id)
    # 4. Interactions that reached the absorbed card while it was being merged follow.
    late = await get_card(ctx.store, tenant_id, absorbed_id)
    if late is not None:
        extra = [i for i in late.interaction_ids if i not in absorbed.interaction_ids]
        if extra:
            carry = absorbed.model_copy(update={"interaction_ids": extra, "identities": []})
            await update(
                ctx.store,
                keys.card(tenant_id, survivor_id),
                CustomerCard,
                lambda card: merged(card, carry),
            )
            for interaction_id in extra:
                await _repoint_interaction(ctx, tenant_id, interaction_id, absorbed_id, survivor_id)
    # 5. The survivor is found by the absorbed card's names and CRM contacts too, and
    # lists the merge in its history.
    await name_index.copy_terms(
        ctx.store, tenant_id, absorbed_id, survivor_id, audit.id, [absorbed.display_name]
    )
    await name_index.add_history(ctx.store, tenant_id, survivor_id, audit.id)
    # The absorbed card keeps its marker ("merged into"); the survivor is free again.
    await _release(ctx, tenant_id, survivor_id, audit.id)


# --- undo -----------------------------------------------------------------------------


async def _advance(
    ctx: Context, audit_key: str, from_state: MergeState, to_state: MergeState
) -> MergeAudit:
    """Move the audit entry on once its work is done; a retry that finds it moved is fine."""
    return await update(
        ctx.store,
        audit_key,
        MergeAudit,
        lambda a: a.model_copy(update={"state": to_state}) if a.state is from_state else a,
    )


async def undo(
    ctx: Context,
    tenant_id: str,
    audit_id: str,
    actor: str,
) -> MergeAudit:
    """Put both cards back as they were before merge ``audit_id``; idempotent."""
    window = ctx.merge_undo_window
    audit_key = keys.audit(tenant_id, audit_id)
    audit = await read_model(ctx.store, audit_key, MergeAudit)
    if audit is None:
        raise MergeRefused("There is no such merge to undo.")
    if audit.state is MergeState.undone:
        return audit
    if audit.state is MergeState.pending:
        raise MergeBusy("That merge is still running; try again in a moment.")
    now = ctx.clock()
    if audit.state is MergeState.done:
        if now - audit.at > window:
            raise MergeRefused(
                f"That merge is older than {window.days} days and can no longer be undone."
            )
        survivor_marker = await read_model(
            ctx.store, keys.card_merge(tenant_id, audit.survivor_id), MergeMarker
        )
        if survivor_marker is not None and survivor_marker.role is MarkerRole.absorbed:
            raise MergeRefused("The surviving card was merged again since; undo that merge first.")
        # Hold the survivor so no other merge runs on it while we take it apart.
        await _hold(
            ctx,
            tenant_id,
            audit.survivor_id,
            MergeMarker(
                audit_id=audit.id, role=MarkerRole.survivor, survivor_id=audit.survivor_id, at=now
            ),
        )

        def start(a: MergeAudit) -> MergeAudit:
            if a.state is not MergeState.done:
                return a
            return a.model_copy(
                update={"state": MergeState.undoing, "undone_by": actor, "undone_at": now}
            )

        audit = await update(ctx.store, audit_key, MergeAudit, start)
    if audit.state is MergeState.undoing:
        await _revert(ctx, tenant_id, audit)
        audit = await _advance(ctx, audit_key, MergeState.undoing, MergeState.undone)
    return audit


async def _revert(ctx: Context, tenant_id: str, audit: MergeAudit) -> None:
    survivor_id, absorbed_id = audit.survivor_id, audit.absorbed_id
    before = audit.absorbed_before
    # Both the absorbed card's own interactions and any that reached it during the merge
    # (recorded on its document) go back; nothing else on the survivor moves.
    kept = await get_card(ctx.store, tenant_id, absorbed_id)
    returning = list(
        dict.fromkeys([*before.interaction_ids, *(kept.interaction_ids if kept else [])])
    )
    for interaction_id in returning:
        await _repoint_interaction(ctx, tenant_id, interaction_id, survivor_id, absorbed_id)
    for identity in before.identities:
        if identity not in audit.survivor_before.identities:
            await _repoint_index(ctx, tenant_id, identity, survivor_id, absorbed_id)
    back = before.model_copy(update={"interaction_ids": returning})
    await update(
        ctx.store,
        keys.card(tenant_id, survivor_id),
        CustomerCard,
        lambda card: unmerged(card, audit.survivor_before, back),
    )
    await update(
        ctx.store,
        keys.card(tenant_id, absorbed_id),
        CustomerCard,
        lambda card: card if card == back else back,
    )
    await name_index.drop_source(ctx.store, tenant_id, survivor_id, audit.id)
    await _release(ctx, tenant_id, absorbed_id, audit.id)
    await _release(ctx, tenant_id, survivor_id, audit.id)


async def merge_of(ctx: Context, tenant_id: str, audit_id: str) -> MergeAudit | None:
    return await read_model(ctx.store, keys.audit(tenant_id, audit_id), MergeAudit)


def within_window(audit: MergeAudit, now: datetime, window: timedelta) -> bool:
    return audit.state is MergeState.done and now - audit.at <= window


async def recent_merges(
    ctx: Context, tenant_id: str, card_id: str, limit: int = 5
) -> list[MergeAudit]:
    """Merges into ``card_id`` that can still be undone, newest first.

    Read from the card's merge history (``keys.merge_history``), newest first, stopping
    once ``limit`` are found or the entries fall out of the undo window.
    """
    now = ctx.clock()
    found: list[MergeAudit] = []
    for audit_id in reversed(await name_index.history(ctx.store, tenant_id, card_id)):
        audit = await merge_of(ctx, tenant_id, audit_id)
        if audit is None or audit.survivor_id != card_id:
            continue
        if within_window(audit, now, ctx.merge_undo_window):
            found.append(audit)
            if len(found) >= limit:
                break
        elif now - audit.at > ctx.merge_undo_window:
            break
    found.sort(key=lambda a: a.at, reverse=True)
    return found[:limit]
