"""When to try again: the one retry policy, and the one ``Retry-After`` parser.

CRM calls (:class:`bot.adapters.crm.http.ResilientHttp`), the write-back outbox
(:class:`bot.services.writeback.WritebackWorker`), Teams sends
(:class:`bot.adapters.teams.delivery.Pacer`) and Blob Storage requests
(:class:`bot.adapters.storage.blob.StoreRetry`) all wait by :class:`RetryPolicy`, each with
its own figures (:data:`CRM_CALLS`, :data:`WRITEBACK`, :data:`TEAMS_SENDS`,
:data:`STORE_CALLS`):

* without a ``Retry-After``, exponential backoff with *equal jitter*: the n-th wait is
  half of ``min(max_delay, base_delay * 2**(n-1))`` plus a random part of the other half,
  so clients failing together spread out, and none comes straight back;
* with one, the server's wait as given (at most ``max_retry_after``; what to do about a
  longer one is the caller's: a CRM call and a Teams send give up rather than come back
  early, the outbox waits up to a day), plus up to ``min(1 s, base_delay)`` so clients
  told the same instant do not all return in it.

The random draw is an argument, so tests pin every wait without sleeping.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable
from dataclasses import dataclass

Random = Callable[[], float]
"""A draw in [0, 1), as :func:`random.random`."""

_MOST_DOUBLINGS = 1023
"""``2.0 ** 1024`` overflows; a float product past the largest is infinite, then capped."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    """Attempts in all, the first one included."""
    base_delay: float = 0.25
    """The first backoff wait (before jitter); each next one doubles."""
    max_delay: float = 8.0
    """The longest backoff wait (before jitter)."""
    max_retry_after: float = 30.0
    """The longest ``Retry-After`` waited."""

    def exhausted(self, attempts: int) -> bool:
        """Whether ``attempts`` attempts made leave none to make."""
        return attempts >= self.max_attempts

    def honours(self, retry_after: float) -> bool:
        """Whether a ``Retry-After`` of that many seconds is waited in full."""
        return retry_after <= self.max_retry_after

    def backoff(self, failures: int, rand: Random = random.random) -> float:
        """Seconds to wait after ``failures`` failed attempts (1: after the first); any
        number of them (a write-back waiting for consent counts refusals without end)."""
        doublings = min(max(0, failures - 1), _MOST_DOUBLINGS)
        step = min(self.max_delay, self.base_delay * 2.0**doublings)
        return step / 2 + rand() * step / 2

    def delay(
        self, failures: int, retry_after: float | None = None, rand: Random = random.random
    ) -> float:
        """Seconds before the next attempt: the server's ``retry_after`` when it gave one,
        else :meth:`backoff`."""
        if retry_after is None or retry_after < 0:
            return self.backoff(failures, rand)
        return min(retry_after, self.max_retry_after) + rand() * min(1.0, self.base_delay)


CRM_CALLS = RetryPolicy()
"""One CRM call, retried inside its deadline: a few quick tries."""
WRITEBACK = RetryPolicy(max_attempts=24, base_delay=2.0, max_delay=3600.0, max_retry_after=86_400.0)
"""An outbox item: retried across 6.5-13 hours (the jitter's range), surviving restarts,
parked when exhausted. A CRM's maintenance window or outage of a few hours passes without
an admin replaying anything; the waits grow to an hour between attempts."""
TEAMS_SENDS = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=4.0, max_retry_after=10.0)
"""A card sent to Teams on a 429, inside the webhook or click that sends it."""
STORE_CALLS = RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=1.0)
"""One Blob Storage request (a 5xx, a timeout), inside the click or event that makes it."""


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date (RFC 9110 10.2.3).

    None when absent or unreadable; never negative (a date in the past means now).
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_epoch)
