"""Small builders for domain objects in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import identifiers
from bot.domain.cards import CardIdentity
from bot.domain.identifiers import Channel
from bot.domain.interactions import Agent, EventRecord, Interaction, LifecycleEvent, ShownRecords
from bot.domain.records import CrmRecord, RecordRef

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
AGENT = Agent(aad_object_id="agent-1")


def record(type_: str, id_: str, title: str | None = None) -> CrmRecord:
    return CrmRecord(ref=RecordRef(crm="demo", type=type_, id=id_), title=title or f"{type_} {id_}")


def interaction(channel: Channel = Channel.voice, records: int = 2) -> Interaction:
    shown = [record("contact", f"C-{n}") for n in range(records)]
    return Interaction(
        id="i-1",
        tenant_id="t",
        card_id="card-1",
        channel=channel,
        agent=AGENT,
        identities=[CardIdentity(channel=channel, identifier=identifiers.phone("+15550100"))],
        shown=ShownRecords(
            records={r.ref.key: r for r in shown}, person=[r.ref.key for r in shown]
        ),
    )


def event(name: LifecycleEvent, minute: int = 0, event_id: str | None = None) -> EventRecord:
    return EventRecord(
        event=name, occurred_at=T0 + timedelta(minutes=minute), event_id=event_id, agent=AGENT
    )
