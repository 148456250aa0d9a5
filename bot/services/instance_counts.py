"""The recent counts every instance shares, so the admin's overview is the deployment's.

Each instance counts in memory (:mod:`bot.services.recent`): the callers it identified
or not, and the calls of each CRM connection. Once a minute it writes what it counted,
one document per tenant and instance, and the overview adds the other instances' latest
documents to its own counts. Buckets are numbered on the wall clock, so the sum is the
deployment's counts of the window, at most a minute behind for the other instances.
A connection's calls count for the configuration version they were made with: a changed
configuration starts afresh on every instance. The document of an instance that stopped
counts until its buckets leave the window; a reader then deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from pydantic import Field

from bot.domain.api_model import ApiModel
from bot.services import keys
from bot.services.recent import Bucket
from bot.services.store import NotFound, Store, put_model, read_model

PUBLISH_SECONDS = 60.0
"""How often an instance writes its counts (the overview's lag for the other instances)."""

log = logging.getLogger(__name__)


class ConnectionCounts(ApiModel):
    version: int = Field(description="the configuration version the calls were made with")
    buckets: list[Bucket]


class InstanceCounts(ApiModel):
    """One instance's counts for one tenant, as it last wrote them."""

    instance_id: str
    at: datetime
    callers: list[Bucket] = Field(default_factory=list)
    calls: dict[str, ConnectionCounts] = Field(default_factory=dict, description="by settings ID")


class Publisher:
    """Writes this instance's counts of each tenant when they changed since the last write.

    ``tenants`` names the tenants counted here; ``counted`` gives a tenant's counts."""

    def __init__(
        self,
        store: Store,
        tenants: Callable[[], Iterable[str]],
        counted: Callable[[str, datetime], InstanceCounts],
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.tenants, self.counted, self.clock = store, tenants, counted, clock
        self._written: dict[str, str] = {}
        """Per tenant, the counts last written (without their time)."""

    async def publish(self) -> None:
        now = self.clock()
        for tenant_id in sorted(set(self.tenants())):
            counts = self.counted(tenant_id, now)
            same = counts.model_dump_json(exclude={"at"})
            if self._written.get(tenant_id) == same:
                continue
            await put_model(self.store, keys.instance_counts(tenant_id, counts.instance_id), counts)
            self._written[tenant_id] = same

    async def keep_publishing(self, interval: float = PUBLISH_SECONDS) -> None:
        """:meth:`publish` every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.publish()
            except Exception:  # a store hiccup: the next round writes them
                log.warning("sharing this instance's counts failed", exc_info=True)


async def of_others(
    store: Store, tenant_id: str, instance_id: str, now: datetime, window: timedelta
) -> list[InstanceCounts]:
    """The other instances' latest counts for the tenant; a document whose newest write is
    older than ``window`` (the longest window counted) is deleted instead."""
    found = []
    async for key in store.keys(keys.instance_counts_prefix(tenant_id)):
        counts = await read_model(store, key, InstanceCounts)
        if counts is None or counts.instance_id == instance_id:
            continue
        if now - counts.at > window:  # an instance that stopped long ago
            with contextlib.suppress(NotFound):
                await store.delete(key)
            continue
        found.append(counts)
    return found
