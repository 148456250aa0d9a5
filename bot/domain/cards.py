"""The customer card: one per contact *and channel*, as agents know it.

A contact nobody has handled yet gets a new card, and so does a known contact reached
over a new channel; that is why one person can own several cards (merging them is a
separate, audited step). A card says whether a merge ever held it
(:attr:`CustomerCard.never_merged`): one that never had a merge marker need not look for
one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from pydantic import ConfigDict, Field

from bot.domain.api_model import Model
from bot.domain.identifiers import Channel, Identifier, IdentifierKind


class CardIdentity(Model):
    """An identifier as reached on one channel: the unit cards are found by."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    identifier: Identifier

    @property
    def key(self) -> str:
        return f"{self.channel}/{self.identifier.key}"


class CardFace(Model):
    """What the customer card shows of its card: the name and the identifiers.

    Each interaction keeps a copy (``Interaction.card_face``), so a click renders its card
    without reading the card document; a merge or its undo, the only changes of a card's
    face, refresh the copies of the card's interactions (:func:`bot.services.cards.show_face`).
    """

    display_name: str | None = None
    identities: list[CardIdentity]

    def readings(self, kind: IdentifierKind) -> list[Identifier]:
        """The identifiers of one kind, each once, as first written."""
        found = (i.identifier for i in self.identities if i.identifier.kind is kind)
        return list(dict.fromkeys(found))


class CustomerCard(CardFace):
    id: str
    tenant_id: str
    interaction_ids: list[str] = Field(default_factory=list)
    created_at: datetime
    never_merged: bool = Field(
        default=False,
        description=(
            "True: no merge has ever held this card, so it has no merge marker and its"
            " readers skip reading one. Only a new card starts so (new_card); a merge"
            " clears it (compare-and-swap) before it creates the card's marker"
            " (marked_for_merge), and nothing sets it again. False also for a card stored"
            " before the field existed: whether it was merged is not known, its marker is"
            " read as it always was."
        ),
    )

    @property
    def face(self) -> CardFace:
        return CardFace(display_name=self.display_name, identities=self.identities)

    def identifiers(self, kind: IdentifierKind) -> list[str]:
        """The values of one kind, as compared (E.164 numbers, canonical addresses)."""
        return [i.value for i in self.readings(kind)]


def new_card(
    tenant_id: str,
    identities: Iterable[CardIdentity],
    display_name: str | None,
    now: datetime,
) -> CustomerCard:
    return CustomerCard(
        id=uuid.uuid4().hex,
        tenant_id=tenant_id,
        display_name=display_name,
        identities=list(dict.fromkeys(identities)),
        created_at=now,
        never_merged=True,
    )


def marked_for_merge(card: CustomerCard) -> CustomerCard:
    """The card as a merge about to hold it leaves it: no longer ``never_merged``, so its
    marker is read from now on; the card itself if it already was (nothing to write).

    Never undone, not by an undo either: a merge that finds the flag already cleared
    writes nothing, so a writer setting it again could not know that a merge is about to
    create the card's marker."""
    return card.model_copy(update={"never_merged": False}) if card.never_merged else card


def with_interaction(card: CustomerCard, interaction_id: str) -> CustomerCard:
    if interaction_id in card.interaction_ids:
        return card
    return card.model_copy(update={"interaction_ids": [*card.interaction_ids, interaction_id]})
