"""Card clicks' audit entries, carried in the interaction and copied to the audit stream in
batches.

A link click used to write its audit entry as a document of its own: one more store round
trip per click, and a crash between the two writes lost the entry. Now the click's
compare-and-swap writes the change and its entry together (``Interaction.unaudited``), and
this instance's feed copies the entries of every click to the tenant's audit stream, many
in one document (:func:`bot.services.audit.record_batch`), ``window`` seconds after the
first one waiting. The next change of that interaction made here drops what was copied
(:meth:`AuditFeed.trimmed`).

Whatever an instance did not copy, because it stopped first or because the next click
went to another instance, stays in the interaction and is copied by whichever instance
writes it next (a click or a lifecycle event), under the same entry id: the audit query
reads an entry copied twice once. The admin audit view, export and erase flush this
instance's feed first, so an admin sees the clicks made here at once and other instances'
within ``window`` (an erase run from the command line, outside every server, may meet an
entry a server copies within that moment: run it again to be sure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from datetime import datetime

from bot.domain.interactions import Interaction, LinkChange
from bot.services import audit
from bot.services.audit import AuditEntry, Door
from bot.services.store import Store

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 0.5
"""Seconds the first waiting entry waits for others to share its document."""
_REMEMBERED = 65536  # ids of copied entries kept, to drop them from their interactions


def link_change(
    interaction: Interaction, record: str, *, linked: bool, by: str, door: Door, at: datetime
) -> LinkChange:
    """The change a click makes to ``interaction`` (its next revision), to carry in it."""
    salt = f"{interaction.tenant_id}/{interaction.id}/{interaction.revision}"
    return LinkChange(
        entry_id=audit.new_entry_id(at, salt), record=record, linked=linked, by=by, door=door, at=at
    )


def entry_of(interaction: Interaction, change: LinkChange) -> AuditEntry:
    """The audit entry of one link change."""
    return AuditEntry(
        id=change.entry_id,
        tenant_id=interaction.tenant_id,
        at=change.at,
        actor=change.by,
        door=Door(change.door),
        kind="card.link" if change.linked else "card.unlink",
        target=change.record,
        details={"interactionId": interaction.id, "cardId": interaction.card_id},
    )


class AuditFeed:
    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        self.window = window
        self._waiting: dict[tuple[int, str], tuple[Store, dict[str, AuditEntry]]] = {}
        self._copied: OrderedDict[str, None] = OrderedDict()
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def trimmed(self, interaction: Interaction) -> Interaction:
        """``interaction`` without the link changes this feed has copied."""
        kept = [c for c in interaction.unaudited if c.entry_id not in self._copied]
        if len(kept) == len(interaction.unaudited):
            return interaction
        return interaction.model_copy(update={"unaudited": kept})

    def take(self, store: Store, interaction: Interaction) -> None:
        """Copy the interaction's uncopied link changes to ``store``'s audit stream soon."""
        if not interaction.unaudited:
            return
        _, waiting = self._waiting.setdefault((id(store), interaction.tenant_id), (store, {}))
        for change in interaction.unaudited:
            if change.entry_id not in self._copied and change.entry_id not in waiting:
                waiting[change.entry_id] = entry_of(interaction, change)
        if self._timer is None or self._timer.done():
            self._timer = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        delay = self.window
        while True:
            await asyncio.sleep(delay)
            await self.flush()
            if not self._waiting:
                return
            delay = min(delay * 2, 30.0)  # the store refused: try again, less often

    async def flush(self) -> None:
        """Write every waiting entry now; what fails stays waiting (and in its interaction)."""
        async with self._lock:
            batches, self._waiting = self._waiting, {}
            for (_, tenant_id), (store, entries) in batches.items():
                if not entries:
                    continue
                try:
                    await audit.record_batch(store, tenant_id, list(entries.values()))
                except Exception:
                    log.exception("could not copy %d audit entries; retrying", len(entries))
                    _, again = self._waiting.setdefault((id(store), tenant_id), (store, {}))
                    again.update(entries)
                    continue
                for entry_id in entries:
                    self._copied[entry_id] = None
                while len(self._copied) > _REMEMBERED:
                    self._copied.popitem(last=False)

    async def close(self) -> None:
        """Write what is waiting and stop (the server's shutdown, before the store closes)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.flush()  # what the store refuses stays in its interaction
