"""The ticket archive port: imported tickets and agents, their search, and sync state.

Two implementations pass one contract suite (``tests/tickets/test_archive_contract.py``):
embedded SQLite with FTS5 (the default on one machine) and PostgreSQL with tsvector and
GIN indexes (production, shared by every instance). Both stem subjects and conversations
in the ticket's language (english, german, french) and stem a query in all three, so
"Rechnungen" finds a German ticket about a "Rechnung".

A ticket is written whole or not at all (one transaction per batch), and is keyed by
tenant, CRM and the CRM's id: importing it again replaces it, never duplicates it.

Sorted by relevance, a text search ranks the newest :data:`RANKED_WINDOW` tickets that
match it and every filter, best first; pages beyond that go on with the older matches
by date. When a search matches fewer tickets (a specific word, narrow filters), all of
them are ranked. A word in a third of all tickets matches hundreds of thousands, and
ranking them all would cost what no agent waits for, while within the window the best
matches of the recent past come first. Ranking reads each windowed ticket's words, so
its cost grows with the window: 300 (fifteen pages of twenty) keeps a common word's
search at a few milliseconds. Both engines apply the same window, so they answer alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import ConfigDict, Field, field_validator

from bot.domain.api_model import ApiModel
from bot.domain.identifiers import canonical_email
from bot.domain.tickets import (
    Agent,
    ImportReport,
    Ticket,
    TicketChannel,
    TicketStatus,
)

MAX_PAGE_SIZE = 100
RANKED_WINDOW = 300
"""A relevance search ranks at most this many of its newest matches (see above)."""
PURGE_REST = 1.0
"""After each batch the retention purge rests this share of the time the batch took."""
MAX_INDEXED_CHARS = 200_000
"""Of a ticket's conversation, this much is indexed (all of it is kept and shown)."""


class SortOrder(StrEnum):
    relevance = "relevance"
    date = "date"


class TicketQuery(ApiModel):
    """What a ticket search asks for; every filter is optional and they all must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str | None = Field(None, max_length=500)
    statuses: tuple[TicketStatus, ...] = ()
    channels: tuple[TicketChannel, ...] = ()
    agents: tuple[str, ...] = Field((), description="agent email addresses")
    crm_id: str | None = None
    closed_from: datetime | None = None
    closed_to: datetime | None = None
    requester_emails: tuple[str, ...] = ()
    requester_phones: tuple[str, ...] = ()
    sort: SortOrder = SortOrder.relevance
    page: int = Field(1, ge=1, le=10_000)
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("closed_from", "closed_to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A date or time without a zone is UTC."""
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    @property
    def by_relevance(self) -> bool:
        return self.sort is SortOrder.relevance and bool(self.text and self.text.strip())

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def ranked(self) -> int:
        """How many of the newest matches a relevance search ranks (see the module)."""
        return RANKED_WINDOW

    @property
    def newest(self) -> int:
        """How many of the newest matches a relevance search reads: the ranked window,
        or down to the page asked for when that lies deeper."""
        return max(self.ranked, self.offset + self.page_size + 1)


class TicketSummary(ApiModel):
    """One search hit: the ticket without its conversation."""

    model_config = ConfigDict(frozen=True)

    crm_id: str
    crm_name: str
    external_id: str
    number: str
    subject: str
    status: TicketStatus
    channel: TicketChannel | None
    agent_email: str
    agent_name: str
    requester_name: str
    closed_at: datetime
    url: str

    @classmethod
    def of(cls, ticket: Ticket) -> TicketSummary:
        return cls.model_validate(ticket.model_dump(include=set(cls.model_fields)))


class TicketPage(ApiModel):
    model_config = ConfigDict(frozen=True)

    page: int
    page_size: int
    has_more: bool
    tickets: list[TicketSummary]


class AgentAwaited(ApiModel):
    """A solved ticket refused because its agent is not an imported user (yet)."""

    model_config = ConfigDict(frozen=True)

    agent: str = Field(description="the CRM's user id of the ticket's agent")
    closed_at: datetime


class SyncState(ApiModel):
    """Where one CRM's import stands: cursors and watermarks per stream, the tickets
    waiting for their agent, and the report of the last finished (or stopped) sync."""

    tenant_id: str
    crm_id: str
    cursors: dict[str, str] = Field(default_factory=dict)
    awaiting_agent: dict[str, AgentAwaited] = Field(
        default_factory=dict,
        description="ticket id -> its agent: read again once the CRM makes the agent one "
        "crmcard imports (the ticket itself may never change again)",
    )
    last_report: ImportReport | None = None


class TicketArchive(Protocol):
    """Where imported tickets, agents and sync state are kept and searched."""

    async def open(self) -> None:
        """Create the schema when missing; call once before use."""
        ...

    async def close(self) -> None: ...

    # -- agents -------------------------------------------------------------------------

    async def agent(self, tenant_id: str, email: str) -> Agent | None: ...

    async def agent_by_external_id(
        self, tenant_id: str, crm_id: str, external_id: str
    ) -> Agent | None:
        """The agent a CRM's user id is linked to (:meth:`link_agent`)."""
        ...

    async def put_agent(self, agent: Agent) -> None:
        """Create or replace the agent with this email address."""
        ...

    async def link_agent(self, tenant_id: str, crm_id: str, external_id: str, email: str) -> None:
        """Say that the CRM's user ``external_id`` is the agent with ``email`` (an agent
        mirrored from that CRM, or one created in crmcard before the first import)."""
        ...

    async def unlink_agent(self, tenant_id: str, crm_id: str, external_id: str) -> None: ...

    async def delete_agent(self, tenant_id: str, email: str) -> None:
        """Delete the agent and every link to it."""
        ...

    async def agents(self, tenant_id: str) -> list[Agent]: ...

    # -- tickets ------------------------------------------------------------------------

    async def put_tickets(self, tickets: Sequence[Ticket]) -> None:
        """Create or replace these tickets (and their search index) in one transaction."""
        ...

    async def ticket(self, tenant_id: str, crm_id: str, external_id: str) -> Ticket | None: ...

    async def search(self, tenant_id: str, query: TicketQuery) -> TicketPage: ...

    async def count(self, tenant_id: str) -> int: ...

    async def delete_tickets(self, tenant_id: str, crm_id: str, external_ids: Sequence[str]) -> int:
        """Delete these tickets (reopened in their CRM) and their index entries."""
        ...

    async def requester_tickets(
        self, tenant_id: str, *, emails: Sequence[str], phones: Sequence[str]
    ) -> list[Ticket]:
        """Every ticket of a requester (GDPR export), newest first; emails match in any
        case and as the mailbox they reach, phones as stored (E.164)."""
        ...

    async def erase_requester(
        self, tenant_id: str, *, emails: Sequence[str], phones: Sequence[str]
    ) -> int:
        """Delete every ticket of a requester with its index entries (GDPR erasure)."""
        ...

    async def purge(self, closed_before: datetime, *, batch: int = 2_000) -> int:
        """Delete every tenant's tickets closed before ``closed_before`` with their index
        entries, in short transactions of ``batch`` tickets with rests in between
        (:func:`rested_batches`) so that searches running meanwhile are not held up;
        returns how many were deleted."""
        ...

    # -- sync state ---------------------------------------------------------------------

    async def sync_state(self, tenant_id: str, crm_id: str) -> SyncState | None: ...

    async def put_sync_state(self, state: SyncState) -> None: ...

    async def sync_states(self, tenant_id: str) -> list[SyncState]: ...


def page_of(query: TicketQuery, summaries: Sequence[str | bytes]) -> TicketPage:
    """The page for ``query`` from up to ``page_size + 1`` stored summaries (JSON)."""
    return TicketPage(
        page=query.page,
        page_size=query.page_size,
        has_more=len(summaries) > query.page_size,
        tickets=[TicketSummary.model_validate_json(s) for s in summaries[: query.page_size]],
    )


def mailboxes(emails: Sequence[str]) -> list[str]:
    """The forms a requester's address is stored under: lower case, and the mailbox."""
    found: list[str] = []
    for email in emails:
        found.extend([email.strip().lower(), canonical_email(email)])
    return list(dict.fromkeys(e for e in found if e))


async def rested_batches(delete_batch: Callable[[], Awaitable[int]], batch: int) -> int:
    """Run ``delete_batch`` (one transaction deleting up to ``batch`` tickets) until one
    deletes fewer, resting after each for :data:`PURGE_REST` of the time it took: a purge
    of a backlog takes at most about half of one core and of the disk, and the searches
    and imports running meanwhile keep the rest. Returns how many were deleted."""
    total = 0
    while True:
        started = time.perf_counter()
        deleted = await delete_batch()
        total += deleted
        if deleted < batch:
            return total
        await asyncio.sleep((time.perf_counter() - started) * PURGE_REST)
