"""Finding the customer card for an interaction, creating it when nobody knows the contact.

The identity index (one document per channel + identifier) is written with
create-if-absent, so two interactions from a new contact arriving at once still end up
on one card.

A card merged into another is found through its merge marker (``keys.card_merge``). A
card that says it was never merged (:attr:`CustomerCard.never_merged`, cleared by a merge
before it creates the card's marker) has none: finding it, attaching to it and asking
whether it is live read no marker. On Blob Storage each read is a request of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import datetime

from bot.domain.api_model import Model
from bot.domain.cards import CardIdentity, CustomerCard, new_card, with_interaction
from bot.domain.identifiers import Channel, Identifier
from bot.domain.interactions import Interaction
from bot.domain.merge import MarkerRole, MergeMarker
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


class IndexEntry(Model):
    card_id: str


async def follow_merges(store: Store, tenant_id: str, card_id: str) -> str:
    """The card ``card_id`` stands in now: itself, or the card it was merged into."""
    for _ in range(8):
        marker = await read_model(store, keys.card_merge(tenant_id, card_id), MergeMarker)
        if marker is None or marker.role is not MarkerRole.absorbed:
            break
        card_id = marker.survivor_id
    return card_id


async def find_card(
    store: Store, tenant_id: str, identities: list[CardIdentity]
) -> tuple[CustomerCard, Document] | None:
    """The card an identity names, and its document as read; a card merged into another
    gives the survivor (read after the card it was merged from)."""
    for identity in identities:
        entry = await read_model(store, keys.card_index(tenant_id, identity.key), IndexEntry)
        if entry is None:
            continue
        found = await _card_as_read(store, tenant_id, entry.card_id)
        if found is not None and found[0].never_merged:
            return found
        card_id = await follow_merges(store, tenant_id, entry.card_id)
        if card_id != entry.card_id:
            found = await _card_as_read(store, tenant_id, card_id)
        if found is not None:
            return found
    return None


async def _card_as_read(
    store: Store, tenant_id: str, card_id: str
) -> tuple[CustomerCard, Document] | None:
    document = await store.read(keys.card(tenant_id, card_id))
    return None if document is None else (parsed(CustomerCard, document), document)


async def resolve_card(
    store: Store,
    tenant_id: str,
    identities: list[CardIdentity],
    display_name: str | None,
    now: datetime,
) -> tuple[CustomerCard, Document]:
    """The card any of ``identities`` already names, else a new one that claims them all;
    with its document as read or written (:func:`attach_interaction` starts from it). A
    new card is filed in the name index with its first interaction, under its name too
    (:func:`bot.services.name_index.index_interaction`)."""
    existing = await find_card(store, tenant_id, identities)
    if existing is not None:
        return existing
    card = new_card(tenant_id, identities, display_name, now)
    written = await create_model(store, keys.card(tenant_id, card.id), card)
    claimed: list[str] = []
    for identity in card.identities:
        index_key = keys.card_index(tenant_id, identity.key)
        try:
            await create_model(store, index_key, IndexEntry(card_id=card.id))
        except AlreadyExists:
            # Another interaction created a card for this contact first: use theirs.
            for key in [*claimed, keys.card(tenant_id, card.id)]:
                await store.delete(key)
            winner = await find_card(store, tenant_id, [identity])
            if winner is None:
                raise
            return winner
        claimed.append(index_key)
    return card, written


async def get_card(store: Store, tenant_id: str, card_id: str) -> CustomerCard | None:
    return await read_model(store, keys.card(tenant_id, card_id), CustomerCard)


async def attach_interaction(
    store: Store,
    tenant_id: str,
    card_id: str,
    interaction_id: str,
    *,
    read: Document | None = None,
) -> CustomerCard:
    """Put the interaction on ``card_id``, or on the card that card was merged into;
    ``read``: the card's document as the caller last read or wrote it (its compare-and-swap
    starts from it: a card changed since costs a failed write and a read).

    An interaction resolves its card, waits for the CRMs, then attaches: a merge may have
    absorbed the card meanwhile. Attaching first and then following the card's merge
    marker closes that gap: a merge that marked the card absorbed before we looked is
    followed here (card and interaction move to the survivor); one that marks it later
    reads the card afterwards (its late-interaction step) and finds ours there. A card
    still ``never_merged`` as we wrote it has no marker to follow: a merge clears the flag
    with a compare-and-swap on this document before it creates the marker, so it does so
    after our write and reads ours in its late-interaction step. An attach that wrote
    nothing (the interaction was on the card already) saw the card only as ``read``, maybe
    from before a merge: it follows the marker.
    """
    wrote: list[bool] = []

    def attached(card: CustomerCard) -> CustomerCard:
        changed = with_interaction(card, interaction_id)
        wrote[:] = [changed is not card]
        return changed

    card = await update(store, keys.card(tenant_id, card_id), CustomerCard, attached, read=read)
    if card.never_merged and wrote == [True]:
        return card
    survivor_id = await follow_merges(store, tenant_id, card_id)
    if survivor_id == card_id:
        return card
    survivor = await update(
        store,
        keys.card(tenant_id, survivor_id),
        CustomerCard,
        lambda card: with_interaction(card, interaction_id),
    )
    await move_interaction(store, tenant_id, interaction_id, card_id, survivor_id)
    return survivor


async def move_interaction(
    store: Store, tenant_id: str, interaction_id: str, old: str, new: str
) -> None:
    """The interaction names card ``new`` if it still names ``old`` (a retry is a no-op),
    and remembers ``old`` as the card it was merged from; moving back (an undo) it comes
    from the card it had come from before again (merges of a merged card undo last first).
    """

    def move(i: Interaction) -> Interaction:
        if i.card_id != old:
            return i
        came_from: str | None
        if i.merged_from == new:
            came_from = i.merged_earlier[-1] if i.merged_earlier else None
            earlier = i.merged_earlier[:-1]
        else:
            came_from = old
            earlier = [*i.merged_earlier, i.merged_from] if i.merged_from else i.merged_earlier
        # Its card is read again until the merge shows the new card's face (show_face).
        return i.model_copy(
            update={
                "card_id": new,
                "merged_from": came_from,
                "merged_earlier": earlier,
                "card_face": None,
            }
        )

    with contextlib.suppress(NotFound):
        await update(store, keys.interaction(tenant_id, interaction_id), Interaction, move)


async def show_face(
    store: Store, tenant_id: str, card_id: str, only: Iterable[str] | None = None
) -> None:
    """The card's name or identifiers changed (a merge, its undo), or its interaction just
    came to it: its interactions (``only`` these) keep its face from now on."""
    card = await get_card(store, tenant_id, card_id)
    if card is None:
        return
    face = card.face

    def shown(i: Interaction) -> Interaction:
        if i.card_id != card_id or i.card_face == face:
            return i
        return i.model_copy(update={"card_face": face})

    for interaction_id in card.interaction_ids if only is None else only:
        with contextlib.suppress(NotFound):
            await update(store, keys.interaction(tenant_id, interaction_id), Interaction, shown)


async def live_card(store: Store, tenant_id: str, card_id: str) -> CustomerCard | None:
    """The card, unless it was merged into another one."""
    card = await get_card(store, tenant_id, card_id)
    if card is None or card.never_merged:
        return card
    marker = await read_model(store, keys.card_merge(tenant_id, card_id), MergeMarker)
    if marker is not None and marker.role is MarkerRole.absorbed:
        return None
    return card


async def cards_reached_by(store: Store, tenant_id: str, identifier: Identifier) -> set[str]:
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
