"""The ports the write-back worker needs beyond the CRM client and the store.

:class:`IdempotentTimeline` is what a CRM offers so a retried timeline step finds the
activity a crashed attempt already created (the demo CRM, Dynamics and Salesforce
adapters implement it); :class:`WorkQueue` is the notification channel between workers
(:class:`bot.adapters.storage.outbox_queue.AzureWorkQueue`), whose messages are hints, the
store being the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from bot.domain.records import CrmRecord, RecordRef


@runtime_checkable
class IdempotentTimeline(Protocol):
    """A CRM that stores an external id on timeline activities and finds them by it."""

    async def find_timeline_activity(
        self, ref: RecordRef, external_id: str
    ) -> CrmRecord | None: ...

    async def create_timeline_activity(
        self,
        ref: RecordRef,
        subject: str,
        description: str,
        *,
        activity_type: str = "task",
        outbound: bool = False,
        external_id: str | None = None,
    ) -> CrmRecord: ...


class QueuedWork(Protocol):
    """One message received from a :class:`WorkQueue`: the outbox item it points at."""

    @property
    def item_key(self) -> str: ...


class WorkQueue(Protocol):
    """A notification channel between workers (Azure Storage Queue): hints, not truth."""

    async def send(self, item_key: str, delay: float = 0.0) -> None: ...

    async def receive(self, max_messages: int, hide_for: float) -> Sequence[QueuedWork]: ...

    async def done(self, work: Any) -> None: ...
