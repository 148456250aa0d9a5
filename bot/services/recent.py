"""Outcomes of the recent past, counted in memory by this instance.

What the admin's overview shows about the last minutes and hours: each CRM connection's
error rate, the share of callers that were identified. Counts go into fixed time buckets
(``bucket_seconds`` wide, the last ``buckets`` kept), so a counter is a few dozen
integers whatever the traffic, and recording is O(1) on the request path. They are this
instance's counts since it started; :mod:`bot.services.instance_counts` shares them with
the other instances, so the overview shows the deployment's. Buckets are numbered on the
wall clock, so one instance's buckets line up with another's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain

from bot.domain.api_model import ApiModel
from bot.services.recently_used import RecentlyUsed


class Tally(ApiModel):
    """How many outcomes fell into a window, and how many of them were good."""

    window_seconds: int
    total: int = 0
    good: int = 0

    @property
    def bad(self) -> int:
        return self.total - self.good

    @property
    def good_share(self) -> float | None:
        return self.good / self.total if self.total else None


Bucket = tuple[int, int, int]
"""One time bucket: its index (seconds since the epoch // bucket width), total, good."""


@dataclass
class RecentOutcomes:
    """Good/bad outcomes per time bucket; timestamps are seconds on any one clock."""

    bucket_seconds: int = 60
    buckets: int = 15
    _counts: deque[list[int]] = field(default_factory=deque, repr=False)
    """[bucket index, total, good], oldest first."""

    def record(self, at: float, good: bool) -> None:
        index = int(at // self.bucket_seconds)
        if self._counts and self._counts[-1][0] == index:
            last = self._counts[-1]
        else:
            last = [index, 0, 0]
            self._counts.append(last)
            while len(self._counts) > self.buckets:
                self._counts.popleft()
        last[1] += 1
        last[2] += int(good)

    def counts(self) -> list[Bucket]:
        """The buckets kept, oldest first, to be shared with the other instances."""
        return [(index, total, good) for index, total, good in self._counts]

    def tally(self, now: float, shared: Iterable[Iterable[Bucket]] = ()) -> Tally:
        """The outcomes of the last ``buckets`` buckets (the current one included), this
        instance's and those ``shared`` by others (buckets of the same width)."""
        newest = int(now // self.bucket_seconds)
        every: Iterator[Sequence[int]] = chain(self._counts, chain.from_iterable(shared))
        kept = [c for c in every if newest - self.buckets < c[0] <= newest]
        return Tally(
            window_seconds=self.bucket_seconds * self.buckets,
            total=sum(c[1] for c in kept),
            good=sum(c[2] for c in kept),
        )


MAX_TENANTS = 10_000
"""Tenants counted at once on one instance (a few hundred bytes each)."""


@dataclass
class RecentByTenant:
    """One :class:`RecentOutcomes` per tenant, made on first use, for at most
    :data:`MAX_TENANTS` tenants."""

    bucket_seconds: int = 3600
    buckets: int = 24
    _tenants: RecentlyUsed[str, RecentOutcomes] = field(
        default_factory=lambda: RecentlyUsed(MAX_TENANTS), repr=False
    )

    def record(self, tenant_id: str, at: float, good: bool) -> None:
        outcomes = self._tenants.get(tenant_id)
        if outcomes is None:
            outcomes = RecentOutcomes(self.bucket_seconds, self.buckets)
            self._tenants.keep(tenant_id, outcomes)  # the tenant counted first goes first
        outcomes.record(at, good)

    def tenants(self) -> list[str]:
        return list(self._tenants)

    def counts(self, tenant_id: str) -> list[Bucket]:
        outcomes = self._tenants.get(tenant_id)
        return outcomes.counts() if outcomes is not None else []

    def tally(self, tenant_id: str, now: float, shared: Iterable[Iterable[Bucket]] = ()) -> Tally:
        outcomes = self._tenants.get(tenant_id) or RecentOutcomes(self.bucket_seconds, self.buckets)
        return outcomes.tally(now, shared)
