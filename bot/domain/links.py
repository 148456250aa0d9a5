"""Linking CRM records to an interaction: which records get the write-back.

Card actions state their intent ("link X", never "toggle X") and carry the revision the
card was rendered at, so a retried invoke is a no-op and a click on an out-of-date card
cannot undo a colleague's newer change to the same record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.errors import UnknownRecord
from bot.domain.interactions import Interaction, LinkState
from bot.domain.records import CrmRecord
from bot.i18n import t


class LinkOutcome(StrEnum):
    applied = "applied"
    unchanged = "unchanged"
    stale = "stale"
    closed = "closed"


@dataclass(frozen=True)
class LinkResult:
    interaction: Interaction
    outcome: LinkOutcome


def is_linked(interaction: Interaction, record_key: str) -> bool:
    link = interaction.links.get(record_key)
    return link is not None and link.linked


def set_link(
    interaction: Interaction,
    record_key: str,
    *,
    linked: bool,
    seen_revision: int,
    actor: str,
    now: datetime,
) -> LinkResult:
    """Link or unlink one record, refusing what would overwrite a newer change."""
    if record_key not in interaction.shown.records:
        raise UnknownRecord(t("record {record} is not on this card", record=repr(record_key)))
    if is_linked(interaction, record_key) == linked:
        return LinkResult(interaction, LinkOutcome.unchanged)
    if not interaction.is_open:
        return LinkResult(interaction, LinkOutcome.closed)
    current = interaction.links.get(record_key)
    if current is not None and current.rev > seen_revision:
        return LinkResult(interaction, LinkOutcome.stale)
    revision = interaction.revision + 1
    links = {
        **interaction.links,
        record_key: LinkState(linked=linked, rev=revision, by=actor, at=now),
    }
    return LinkResult(interaction.bumped(links=links), LinkOutcome.applied)


def pin_record(
    interaction: Interaction, record: CrmRecord, *, actor: str, now: datetime
) -> Interaction:
    """Put ``record`` under Current interaction, linked: pinned records are always linked."""
    key = record.ref.key
    shown = interaction.shown.model_copy(
        update={
            "records": {**interaction.shown.records, key: record},
            "current": list(dict.fromkeys([*interaction.shown.current, key])),
        }
    )
    revision = interaction.revision + 1
    links = {**interaction.links, key: LinkState(linked=True, rev=revision, by=actor, at=now)}
    return interaction.bumped(shown=shown, links=links)
