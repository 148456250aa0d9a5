"""What one instance remembers about a tenant for a few seconds instead of asking the store
on every click.

A card click renders the card, and the card offers Workflows only when the tenant's admin
defined any: listing the tenant's workflows on every click was a store round trip per
click for a fact that changes a few times a year. A value here is read again after
``ttl`` seconds, and at once after a change made through this instance (:meth:`forget`);
another instance's change is seen within ``ttl``, as the tenant's CRM list is
(:class:`bot.adapters.crm.directory.StoreDirectory`). Calls that find the value stale
while it is being read again wait for that one read instead of each making their own
(under load, a hundred cards in flight would all read it at once every ``ttl``).
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
        if kept is not None and self.clock() - kept[0] < self.ttl:
            return kept[1]
        running = self._loading.get(tenant_id)
        if running is not None:
            return await asyncio.shield(running)
        loaded_at, changes = self.clock(), self._changes
        running = self._loading[tenant_id] = asyncio.ensure_future(load())
        running.add_done_callback(_retrieved)
        try:
            value = await asyncio.shield(running)
        finally:
            if self._loading.get(tenant_id) is running:
                del self._loading[tenant_id]
        if changes != self._changes:
            return value
        self._values.keep(tenant_id, (loaded_at, value))
        return value

    def forget(self, tenant_id: str) -> None:
        """The tenant's value changed here: the next :meth:`get` reads it again."""
        self._values.pop(tenant_id, None)
        self._loading.pop(tenant_id, None)  # a read under way may predate the change
        self._changes += 1


def _retrieved(future: asyncio.Future[T]) -> None:
    """A read whose callers were all cancelled: its failure is not reported as unseen."""
    if not future.cancelled():
        future.exception()
