"""Tickets and agents for tests, with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.tickets import Language, Message, Ticket, TicketChannel, TicketStatus

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def ticket(external_id: str, **fields: Any) -> Ticket:
    closed = fields.pop("closed_at", NOW - timedelta(days=1))
    body = fields.pop("body", "Thanks, that solved it.")
    values: dict[str, Any] = {
        "tenant_id": "demo-tenant",
        "crm_id": "zendesk",
        "crm_name": "Zendesk",
        "external_id": external_id,
        "number": external_id,
        "subject": f"Ticket {external_id}",
        "status": TicketStatus.solved,
        "channel": TicketChannel.email,
        "source_channel": "email",
        "agent_email": "ada@example.com",
        "agent_name": "Ada Lovelace",
        "requester_name": "Edward Ferrars",
        "requester_email": "edward@example.com",
        "created_at": closed - timedelta(hours=2),
        "closed_at": closed,
        "language": Language.english,
        "url": f"https://example.zendesk.com/agent/tickets/{external_id}",
        "messages": (
            Message(author="Edward Ferrars", at=closed - timedelta(hours=2), body="Help please"),
            Message(author="Ada Lovelace", at=closed, body=body, from_agent=True),
        ),
    }
    values.update(fields)
    return Ticket(**values)
