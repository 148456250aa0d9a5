"""An interaction (call, chat, email...) handled by one agent, and its lifecycle.

Lifecycle events arrive from the contact-center platform at least once and sometimes
out of place; :func:`apply_event` accepts a replay silently and refuses an event that
cannot follow the current state, so the stored history stays a valid story. A call's
after-call work may be reported done before its end reaches us: the end is then filed
before it, so the history still tells the call in its order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict, Field

from bot.domain.api_model import Model
from bot.domain.cards import CardFace, CardIdentity
from bot.domain.errors import InvalidTransition
from bot.domain.identifiers import Channel
from bot.domain.records import CrmRecord
from bot.i18n import AgentLocale, StoredText


class LifecycleEvent(StrEnum):
    assigned = "assigned"
    connected = "connected"
    ended = "ended"
    acw_completed = "acw-completed"
    transferred = "transferred"
    unassigned = "unassigned"
    abandoned = "abandoned"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


_ACTIVE = frozenset({LifecycleEvent.assigned, LifecycleEvent.connected})

# Which states each event may follow; ``None`` is "no event yet".
_FOLLOWS: dict[LifecycleEvent, frozenset[LifecycleEvent | None]] = {
    LifecycleEvent.assigned: frozenset(
        {None, LifecycleEvent.transferred, LifecycleEvent.unassigned}
    ),
    LifecycleEvent.connected: frozenset({LifecycleEvent.assigned}),
    LifecycleEvent.ended: _ACTIVE,
    LifecycleEvent.acw_completed: frozenset({LifecycleEvent.ended}),
    LifecycleEvent.transferred: _ACTIVE,
    LifecycleEvent.unassigned: _ACTIVE,
    LifecycleEvent.abandoned: _ACTIVE,
}


class Agent(Model):
    """The Teams user handling the interaction, named by their Entra object id."""

    aad_object_id: str
    name: str | None = None


class EventRecord(Model):
    event: LifecycleEvent
    occurred_at: datetime
    event_id: str | None = None
    agent: Agent
    customer_messages: int | None = Field(
        None, description="messages the customer had sent when the event happened (chats)"
    )
    session: dict[str, str] = Field(
        default_factory=dict,
        description="session details from the platform: callType, callId, menuPath, "
        "phoneNumber, language",
    )


class LinkState(Model):
    linked: bool
    rev: int = Field(description="interaction revision at which this record last changed")
    by: str
    at: datetime


class LinkChange(Model):
    """A link or unlink clicked on the card, carried in the interaction until it is known to
    be in the tenant's audit stream (bot.services.audit_feed): the click writes one document."""

    entry_id: str = Field(description="its audit entry's id: a second copy is the same entry")
    record: str
    linked: bool
    by: str
    door: str = Field(description="where the click came in (bot.services.audit.Door)")
    at: datetime


class ShownRecords(Model):
    """The CRM records the card shows, as last fetched: clicks re-render from here."""

    records: dict[str, CrmRecord] = Field(default_factory=dict)
    person: list[str] = Field(default_factory=list, description="account/contact/lead keys")
    related: dict[str, list[str]] = Field(
        default_factory=dict, description="record key -> keys of its related records"
    )
    current: list[str] = Field(
        default_factory=list, description="pinned records and those created in the interaction"
    )
    found: list[str] = Field(
        default_factory=list, description="records found by Search workflows (Related section)"
    )
    problems: dict[str, StoredText] = Field(
        default_factory=dict, description="CRM settings id -> why its records are missing"
    )
    problems_at: datetime | None = Field(
        None, description="when the CRMs behind ``problems`` were last asked"
    )


class CardViewState(Model):
    """What the agent opened on the card; shared by all the agent's devices."""

    related_loaded: bool = False
    expanded: list[str] = Field(default_factory=list)
    page_sizes: dict[str, int] = Field(default_factory=dict)


class Interaction(Model):
    """Changed only by copies (:meth:`bumped`, ``model_copy``), never in place: frozen,
    so the store hands one parsed document to every reader (``shared_when_parsed``)."""

    model_config = ConfigDict(frozen=True)
    shared_when_parsed: ClassVar[bool] = True
    """Every click reads one: :func:`bot.services.store.parsed` validates each version once."""

    id: str
    tenant_id: str
    card_id: str
    channel: Channel
    direction: Direction = Direction.inbound
    agent: Agent
    queue: str | None = None
    customer_name: str | None = None
    identities: list[CardIdentity]
    history: list[EventRecord] = Field(default_factory=list)
    links: dict[str, LinkState] = Field(default_factory=dict)
    shown: ShownRecords = Field(default_factory=ShownRecords)
    view: CardViewState = Field(default_factory=CardViewState)
    details: dict[str, str] = Field(
        default_factory=dict,
        description="platform-sent data for memorialization (disposition, notes, transcript)",
    )
    routing: str | None = Field(
        None, description="where the IVR routed the caller: queue · skills · tier (screen pop)"
    )
    merged_from: str | None = Field(
        None, description="the card this interaction was on until a merge moved it"
    )
    merged_earlier: list[str] = Field(
        default_factory=list,
        description="the cards it was on before merged_from, oldest first, each merged into "
        "the next (a merged card merged again); an undo moving it back takes the last again",
    )
    unaudited: list[LinkChange] = Field(
        default_factory=list,
        description="link changes not yet known to be in the audit stream",
    )
    card_face: CardFace | None = Field(
        None, description="its card's name and identifiers, kept here for the card it renders"
    )
    agent_locale: AgentLocale | None = Field(
        None,
        description="the agent's language and time zone, kept here so a click renders the "
        "card without reading them; set when the interaction starts and when they change",
    )
    revision: int = 0

    @property
    def state(self) -> LifecycleEvent | None:
        return self.history[-1].event if self.history else None

    def happened(self, event: LifecycleEvent) -> bool:
        return any(record.event is event for record in self.history)

    @property
    def writeback_due(self) -> bool:
        """Voice: ended and after-call work done. Digital: transferred or unassigned."""
        if self.channel.is_voice:
            return self.happened(LifecycleEvent.ended) and self.happened(
                LifecycleEvent.acw_completed
            )
        return self.state in (LifecycleEvent.transferred, LifecycleEvent.unassigned)

    @property
    def is_open(self) -> bool:
        """Links may change until the interaction is written back or abandoned."""
        return not self.writeback_due and self.state is not LifecycleEvent.abandoned

    def linked_keys(self) -> list[str]:
        return [key for key, link in self.links.items() if link.linked]

    def bumped(self, **changes: object) -> Interaction:
        """A copy with ``changes`` applied and the revision advanced."""
        return self.model_copy(update={**changes, "revision": self.revision + 1})


def _is_replay(interaction: Interaction, record: EventRecord) -> bool:
    for seen in interaction.history:
        if record.event_id is not None and seen.event_id == record.event_id:
            return True
        if seen.event is record.event and seen.occurred_at == record.occurred_at:
            return True
    return False


def _after_call_work_before_the_end(interaction: Interaction, record: EventRecord) -> bool:
    """A call's after-call work reported done while its end has not reached us yet."""
    return (
        record.event is LifecycleEvent.acw_completed
        and interaction.channel.is_voice
        and interaction.state in _ACTIVE
    )


def _ends_after_its_after_call_work(interaction: Interaction, record: EventRecord) -> bool:
    return (
        record.event is LifecycleEvent.ended
        and interaction.state is LifecycleEvent.acw_completed
        and not interaction.happened(LifecycleEvent.ended)
    )


def apply_event(interaction: Interaction, record: EventRecord) -> Interaction:
    """The interaction after ``record``; unchanged for a replay of an applied event."""
    if _is_replay(interaction, record):
        return interaction
    if _ends_after_its_after_call_work(interaction, record):
        *before, after_call_work = interaction.history
        return interaction.bumped(history=[*before, record, after_call_work])
    follows = interaction.state in _FOLLOWS[record.event]
    if not follows and not _after_call_work_before_the_end(interaction, record):
        current = interaction.state.value if interaction.state else "new"
        raise InvalidTransition(
            f"event {record.event.value!r} cannot follow {current!r} "
            f"for interaction {interaction.id!r}"
        )
    changes: dict[str, object] = {"history": [*interaction.history, record]}
    if record.event is LifecycleEvent.assigned:
        changes["agent"] = record.agent
    return interaction.bumped(**changes)
