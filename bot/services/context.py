"""What every use case needs from the outside, assembled once by the app factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.services.crm import CrmDirectory
from bot.services.publisher import Delivery
from bot.services.store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    store: Store
    crms: CrmDirectory
    delivery: Delivery
    crm_deadline: float = 2.5
    merge_undo_window: timedelta = timedelta(days=30)
    clock: Callable[[], datetime] = field(default=utc_now)
