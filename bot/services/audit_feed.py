"""Card clicks' audit entries, carried in the interaction and copied to the audit stream in
batches.

A link click used to write its audit entry as a document of its own: one more store round
trip per click, and a crash between the two writes lost the entry. Now the click's
compare-and-swap writes the change and its entry together (``Interaction.unaudited``), and
this instance's feed copies the entries of every click to the tenant's audit stream, many
in one document (:func:`bot.services.audit.record_batch`), ``window`` seconds after the
first one waiting, or as soon as ``batch`` entries of one tenant wait. The next change of
that interaction made here drops what was copied (:meth:`AuditFeed.trimmed`). At a high
click rate the batch size decides: each interaction then carries the entries of its last
few clicks rather than of the last half second (30 or more: most of the document's bytes,
serialized and written again with every click), and each tenant's batches hold 64
entries, however many tenants click at once.

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
from datetime import datetime

from bot.domain.interactions import Interaction, LinkChange
from bot.services import audit
from bot.services.audit import AuditEntry, Door
from bot.services.recently_used import RecentlyUsed
from bot.services.store import Store

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 0.5
"""Seconds the first waiting entry waits for others to share its document."""
DEFAULT_BATCH = 64
"""Entries waiting that are copied at once, without waiting for the window."""
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


Batch = tuple[int, str]
"""Whose entries wait together: the store's identity and the tenant."""


class AuditFeed:
    def __init__(self, window: float = DEFAULT_WINDOW, batch: int = DEFAULT_BATCH) -> None:
        self.window = window
        self.batch = batch
        self._waiting: dict[Batch, tuple[Store, dict[str, AuditEntry]]] = {}
        self._sending: set[str] = set()  # ids of the entries being written
        self._copied: RecentlyUsed[str, None] = RecentlyUsed(_REMEMBERED)
        self._refused = False  # the last write failed: only the timer tries again
        self._timer: asyncio.Task[None] | None = None
        self._full: asyncio.Task[None] | None = None  # the write of a full batch
        self._lock = asyncio.Lock()

    def trimmed(self, interaction: Interaction) -> Interaction:
        """``interaction`` without the link changes this feed has copied."""
        kept = [c for c in interaction.unaudited if c.entry_id not in self._copied]
        if len(kept) == len(interaction.unaudited):
            return interaction
        return interaction.model_copy(update={"unaudited": kept})

    def take(self, store: Store, interaction: Interaction) -> None:
        """Copy the interaction's uncopied link changes to ``store``'s audit stream soon:
        within the window, or at once when they fill their tenant's batch."""
        batch = (id(store), interaction.tenant_id)
        _, waiting = self._waiting.get(batch) or (store, {})
        for change in interaction.unaudited:
            entry_id = change.entry_id
            if entry_id in self._copied or entry_id in waiting or entry_id in self._sending:
                continue
            waiting[entry_id] = entry_of(interaction, change)
        if not waiting:
            return
        self._waiting[batch] = (store, waiting)
        writing = self._full is not None and not self._full.done()
        if len(waiting) >= self.batch and not self._refused and not writing:
            self._full = asyncio.ensure_future(self._write([batch]))
        if self._timer is None or self._timer.done():
            self._timer = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        delay = self.window
        while self._waiting:
            await asyncio.sleep(delay)
            await self.flush()
            # the store refused: try again, less often; else what came while it wrote
            delay = min(delay * 2, 30.0) if self._refused else self.window

    async def flush(self) -> None:
        """Write every waiting entry now; what fails stays waiting (and in its interaction)."""
        await self._write(None)

    async def _write(self, which: list[Batch] | None) -> None:
        """Write the waiting entries of ``which`` batches (None: all of them)."""
        async with self._lock:
            keys = list(self._waiting) if which is None else which
            batches = {key: self._waiting.pop(key) for key in keys if key in self._waiting}
            self._sending = {entry_id for _, entries in batches.values() for entry_id in entries}
            self._refused = False
            for key, (store, entries) in batches.items():
                try:
                    await audit.record_batch(store, key[1], list(entries.values()))
                except Exception:
                    log.exception("could not copy %d audit entries; retrying", len(entries))
                    self._refused = True
                    _, again = self._waiting.setdefault(key, (store, {}))
                    again.update(entries)
                    continue
                for entry_id in entries:
                    self._copied.keep(entry_id, None)
            self._sending = set()

    async def close(self) -> None:
        """Write what is waiting and stop (the server's shutdown, before the store closes)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if self._full is not None:
            await self._full
        await self.flush()  # what the store refuses stays in its interaction
