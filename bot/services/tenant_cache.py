"""What one instance remembers about a tenant for a few seconds instead of asking the store
on every click.

A card click renders the card, and the card offers Workflows only when the tenant's admin
defined any: listing the tenant's workflows on every click was a store round trip per
click for a fact that changes a few times a year. A value here is fresh for ``ttl``
seconds, and read again at once after a change made through this instance
(:meth:`forget`). For another ``ttl`` after that it is still answered while one read in
the background replaces it: the call that finds it due does not wait for that read (on
Blob Storage, a listing and a read per document: tens of milliseconds, which every ``ttl``
one card in flight used to wait for), and another instance's change is seen within twice
``ttl``, as the tenant's CRM list is (:class:`bot.adapters.crm.directory.StoreDirectory`).
Older than that, or never read, it is waited for; calls that find it so while it is
being read wait for that one read instead of each making their own (under load, a
hundred cards in flight would all read it at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot.services.recently_used import RecentlyUsed

T = TypeVar("T")

DEFAULT_TTL = 5.0
_TENANTS = 1024  # tenants remembered, most recently used last


class PerTenant(Generic[T]):
    """One value per tenant, loaded on first use and kept for ``ttl`` seconds."""

    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._values: RecentlyUsed[str, tuple[float, T]] = RecentlyUsed(_TENANTS)
        self._changes = 0  # forget() calls so far: a load that overlapped one is not kept
        self._loading: dict[str, asyncio.Future[T]] = {}

    async def get(self, tenant_id: str, load: Callable[[], Awaitable[T]]) -> T:
        kept = self._values.recall(tenant_id)
        if kept is not None:
            age = self.clock() - kept[0]
            if age < self.ttl:
                return kept[1]
            if age < 2 * self.ttl:  # due: answered while one read replaces it
                self._reading(tenant_id, load)
                return kept[1]
        return await asyncio.shield(self._reading(tenant_id, load))

    def _reading(self, tenant_id: str, load: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """The tenant's read under way, or a new one; a read that succeeds is kept unless
        a :meth:`forget` came while it ran (it may predate that change)."""
        running = self._loading.get(tenant_id)
        if running is not None:
            return running
        loaded_at, changes = self.clock(), self._changes
        running = self._loading[tenant_id] = asyncio.ensure_future(load())

        def done(read: asyncio.Future[T]) -> None:
            if self._loading.get(tenant_id) is read:
                del self._loading[tenant_id]
            # A failure is its waiters' (nobody's, for a read in the background: the value
            # is read again by the next call); exception() marks it as seen.
            if read.cancelled() or read.exception() is not None:
                return
            if changes == self._changes:
                self._values.keep(tenant_id, (loaded_at, read.result()))

        running.add_done_callback(done)
        return running

    def forget(self, tenant_id: str) -> None:
        """The tenant's value changed here: the next :meth:`get` reads it again."""
        self._values.pop(tenant_id, None)
        self._loading.pop(tenant_id, None)  # a read under way may predate the change
        self._changes += 1
