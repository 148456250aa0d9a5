"""What every use case needs from the outside, assembled once by the app factory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.identifiers import DEFAULT_REGION
from bot.services.audit import Door
from bot.services.audit_feed import AuditFeed
from bot.services.crm import CrmDirectory
from bot.services.publisher import Delivery
from bot.services.recent import RecentByTenant
from bot.services.store import Store
from bot.services.tenant_cache import PerTenant
from bot.services.ticketing.past_tickets import PastTickets

if TYPE_CHECKING:
    from bot.domain.interactions import EventRecord, Interaction
    from bot.domain.record_policies import RecordPolicy


def utc_now() -> datetime:
    return datetime.now(UTC)


EventListener = Callable[["Context", "Interaction", "EventRecord"], Awaitable[None]]
"""Called after a lifecycle event is stored and before the webhook answers: work that
must not be lost (write-back outbox, record creation) hangs here."""


@dataclass
class Context:
    store: Store
    crms: CrmDirectory
    delivery: Delivery
    crm_deadline: float = 2.5
    merge_undo_window: timedelta = timedelta(days=30)
    default_region: str = DEFAULT_REGION
    """Phone region of tenants that did not choose one (bot.services.tenant_settings)."""
    clock: Callable[[], datetime] = field(default=utc_now)
    event_listeners: list[EventListener] = field(default_factory=list)
    crm_first_paint: float = 0.3
    """Seconds a new interaction's card waits for CRMs before it is shown with those that
    answered; the slower ones fill it in when they answer (or by ``crm_deadline``)."""
    icons: str = "/icons"
    """Where crmcard serves its card icons (``<public URL>/icons``): actions' ``iconUrl``."""
    door: Door = Door.api
    """Through which door the current turn came in (a turn's copy says; for the audit)."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Work finishing after the webhook answered (late CRM answers); drained on shutdown."""
    audit_feed: AuditFeed = field(default_factory=AuditFeed)
    """Card clicks' audit entries, copied from their interactions to the stream in batches."""
    workflows_defined: PerTenant[bool] = field(default_factory=PerTenant)
    """Whether the tenant has workflows (the card offers Workflows), kept a few seconds."""
    record_policies: PerTenant[dict[str, RecordPolicy]] = field(default_factory=PerTenant)
    """The tenant's record-creation policies by queue (every event asks), kept a few
    seconds (:func:`bot.services.record_creation.policy_for`)."""
    regions: PerTenant[str] = field(default_factory=PerTenant)
    """The tenant's default phone region, kept a few seconds
    (:func:`bot.services.tenant_settings.region_of`)."""
    callers: RecentByTenant = field(default_factory=RecentByTenant)
    """New interactions of the last hours per tenant, identified or not (the admin's
    identification rate, :mod:`bot.services.health`)."""
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """This process among the deployment's instances (its shared counts are filed under it)."""
    past_tickets: PastTickets | None = None
    """Where the card's "Past tickets" leads (ticketing CRMs); None: never offered."""

    def for_turn(self, store: Store, door: Door) -> Context:
        """This context for one turn: its own view of the store, and the door it came in
        by. A plain copy of the fields (every click makes one; ``dataclasses.replace``
        runs the whole ``__init__`` again)."""
        turn = object.__new__(type(self))
        turn.__dict__.update(self.__dict__)
        turn.store, turn.door = store, door
        return turn
