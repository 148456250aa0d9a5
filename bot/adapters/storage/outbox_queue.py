"""Azure Storage Queue as the write-back workers' notification channel (scale-out).

Messages only say "look at this outbox item (from this moment on)": the item in the store
stays the source of truth and is still claimed under its ETag, so a duplicated, late or
lost message never causes a second delivery or a lost one (the workers' slow scan of
the due markers picks up anything a message did not bring).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue.aio import QueueClient

MAX_VISIBILITY_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class QueuedWork:
    item_key: str
    message_id: str
    pop_receipt: str


class AzureWorkQueue:
    def __init__(self, connection_string: str, queue_name: str = "crmcard-writeback") -> None:
        self._client = QueueClient.from_connection_string(connection_string, queue_name)
        self._ready = False

    async def _ensure(self) -> None:
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                await self._client.create_queue()
            self._ready = True

    async def send(self, item_key: str, delay: float = 0.0) -> None:
        """Announce ``item_key``; it becomes visible to receivers after ``delay`` seconds."""
        await self._ensure()
        visibility = min(MAX_VISIBILITY_SECONDS, math.ceil(max(0.0, delay)))
        await self._client.send_message(item_key, visibility_timeout=visibility or None)

    async def receive(self, max_messages: int, hide_for: float) -> list[QueuedWork]:
        """Up to ``max_messages`` announcements, hidden from others for ``hide_for`` s."""
        await self._ensure()
        received: list[QueuedWork] = []
        messages = self._client.receive_messages(
            max_messages=max_messages,
            messages_per_page=max_messages,
            visibility_timeout=max(1, math.ceil(hide_for)),
        )
        async for message in messages:
            received.append(QueuedWork(str(message.content), message.id, message.pop_receipt or ""))
            if len(received) >= max_messages:
                break
        return received

    async def done(self, work: QueuedWork) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self._client.delete_message(work.message_id, work.pop_receipt)

    async def close(self) -> None:
        await self._client.close()
