"""The ticket sync: one CRM's agents, then its solved tickets, into the archive.

A :class:`TicketSource` (one per vendor, in ``bot/adapters/crm/``) reads the CRM's
export in pages; each page comes with the cursor (Zendesk) or watermark (Salesforce) to
resume after it. The sync applies the rules of :mod:`bot.domain.tickets` to every user
and ticket, writes each page's tickets in one transaction, then stores the cursor: a
restart resumes after the last page written, and a page written twice replaces its
tickets instead of adding them. A solved ticket refused because its agent is not an
imported user (no email yet, a name to fix, not exported yet) is remembered with its
agent; once a later sync imports that agent, the ticket is read again by id (the CRM
may never change the ticket itself again, so its cursor would not bring it back).
Whatever a user or ticket gets wrong is listed in the
:class:`~bot.domain.tickets.ImportReport` with its reason; a CRM that fails or throttles
beyond its limits stops the sync with the error in the report, never with a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pydantic import ValidationError

from bot.domain.errors import InvalidIdentifier
from bot.domain.identifiers import DEFAULT_REGION, canonical_email, phone
from bot.domain.tickets import (
    Agent,
    CrmTicket,
    CrmUser,
    ImportReport,
    Language,
    Message,
    Ticket,
    TicketChannel,
    TicketStatus,
    clean_text,
    cut_comment,
    language_of,
    map_channel,
    normal_email,
    out_of_scope,
    purge_cutoff,
    ticket_problem,
    user_problem,
)
from bot.services.crm import CrmError
from bot.services.ticketing.archive import AgentAwaited, SyncState, TicketArchive

log = logging.getLogger(__name__)


@dataclass
class ExportPage:
    """One page of a CRM export: what it holds, what could not be read, where to resume."""

    users: list[CrmUser] = field(default_factory=list)
    tickets: list[CrmTicket] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """(external id, reason) of records whose fields could not be read at all."""
    cursors: dict[str, str] = field(default_factory=dict)
    """The cursors to store once this page is written (stream name -> cursor)."""
    expected: int | None = None
    """How many records the whole export holds, when the CRM says (for the ETA)."""


class TicketSource(Protocol):
    """One CRM's ticketing export, read in pages."""

    crm_id: str
    crm_name: str
    default_channels: dict[str, TicketChannel]

    def users(self, cursors: dict[str, str]) -> AsyncIterator[ExportPage]: ...

    def tickets(
        self, cursors: dict[str, str], *, since: datetime, full: bool
    ) -> AsyncIterator[ExportPage]:
        """Tickets changed since the cursors (all closed since ``since`` without them)."""
        ...

    def tickets_by_id(
        self, external_ids: Sequence[str], *, since: datetime
    ) -> AsyncIterator[ExportPage]:
        """These tickets as the CRM has them now (the ones it no longer has, or no longer
        has closed since ``since``, are left out)."""
        ...


@dataclass(frozen=True)
class Progress:
    report: ImportReport
    elapsed: float
    expected: int | None

    @property
    def rate(self) -> float:
        done = self.report.tickets_imported + self.report.skipped
        return done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        done = self.report.tickets_imported + self.report.skipped
        if self.expected is None or self.rate <= 0:
            return None
        return max(0.0, (self.expected - done) / self.rate)


ProgressHook = Callable[[Progress], None]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class TicketSync:
    """Runs one CRM's sync for one tenant (see the module docstring)."""

    archive: TicketArchive
    source: TicketSource
    tenant_id: str
    channel_map: dict[str, TicketChannel] = field(default_factory=dict)
    language: Language = Language.english
    default_region: str = DEFAULT_REGION
    """Where a requester's phone number without a country code is (the tenant's setting)."""
    clock: Callable[[], datetime] = _now
    timer: Callable[[], float] = time.monotonic
    progress: ProgressHook | None = None
    _rejected_users: dict[str, str] = field(default_factory=dict)
    _awaiting: dict[str, AgentAwaited] = field(default_factory=dict)

    @property
    def crm_id(self) -> str:
        return self.source.crm_id

    async def run(self, *, full: bool = False) -> ImportReport:
        started = self.clock()
        report = ImportReport(crm_id=self.crm_id, started_at=started, full=full)
        state = await self.archive.sync_state(self.tenant_id, self.crm_id) or SyncState(
            tenant_id=self.tenant_id, crm_id=self.crm_id
        )
        if full:
            state.cursors = {}
            state.awaiting_agent = {}
        self._awaiting = state.awaiting_agent
        began = self.timer()
        expected: int | None = None
        try:
            async for page in self.source.users(dict(state.cursors)):
                await self._users(page, report)
                await self._advance(state, page)
            await self._agents_found(report, started)
            await self.archive.put_sync_state(state)
            async for page in self.source.tickets(
                dict(state.cursors), since=purge_cutoff(started), full=full
            ):
                expected = page.expected if page.expected is not None else expected
                await self._tickets(page, report, started)
                await self._advance(state, page)
                if self.progress is not None:
                    self.progress(Progress(report, self.timer() - began, expected))
        except CrmError as error:
            log.warning("ticket sync of %s/%s stopped: %s", self.tenant_id, self.crm_id, error)
            report.error = str(error)
        report.finished_at = self.clock()
        state.last_report = report
        await self.archive.put_sync_state(state)
        return report

    async def _advance(self, state: SyncState, page: ExportPage) -> None:
        if page.cursors:
            state.cursors.update(page.cursors)
            await self.archive.put_sync_state(state)

    # -- users --------------------------------------------------------------------------

    async def _users(self, page: ExportPage, report: ImportReport) -> None:
        for external_id, reason in page.unreadable:
            report.reject("user", external_id, reason)
        for user in page.users:
            await self._user(user, report)

    def _reject_user(self, report: ImportReport, user: CrmUser, reason: str) -> None:
        self._rejected_users[user.external_id] = reason
        report.reject("user", user.external_id, reason)

    async def _user(self, user: CrmUser, report: ImportReport) -> None:
        archive, tenant = self.archive, self.tenant_id
        linked = await archive.agent_by_external_id(tenant, self.crm_id, user.external_id)
        if user.deleted:
            if linked is not None and linked.source == self.crm_id:
                await archive.delete_agent(tenant, linked.email)
                report.users_deleted += 1
            elif linked is not None:  # a local agent stays; only the link goes
                await archive.unlink_agent(tenant, self.crm_id, user.external_id)
            return
        if linked is not None and linked.local:
            return  # created in crmcard before the first import: later CRM changes stay out
        if not user.is_agent:
            if linked is not None and linked.source == self.crm_id and linked.active:
                await archive.put_agent(linked.model_copy(update={"active": False}))
                report.users_deactivated += 1
            return
        user = user.model_copy(
            update={
                "first_name": clean_text(user.first_name)[0],
                "last_name": clean_text(user.last_name)[0],
            }
        )
        problem = user_problem(user)
        if problem is not None:
            self._reject_user(report, user, problem)
            return
        email = normal_email(user.email)
        assert email is not None  # user_problem checked it
        owner = await archive.agent(tenant, email)
        if owner is not None and owner.local:
            # created in crmcard before the import: linked, never overwritten
            await archive.link_agent(tenant, self.crm_id, user.external_id, email)
            return
        if owner is not None and owner.source != self.crm_id:
            why = f"email {email} is already used by a {owner.source} user"
            self._reject_user(report, user, why)
            return
        if owner is not None and owner.external_id != user.external_id:
            self._reject_user(
                report, user, f"email {email} is already used by user {owner.external_id}"
            )
            return
        agent = Agent(
            tenant_id=tenant,
            email=email,
            first_name=user.first_name.strip(),
            last_name=user.last_name.strip(),
            active=user.active,
            source=self.crm_id,
            external_id=user.external_id,
        )
        if linked is not None and linked.email != email and linked.source == self.crm_id:
            await archive.delete_agent(tenant, linked.email)  # the CRM changed the address
        if owner == agent:
            return
        if owner is not None and owner.active and not agent.active:
            report.users_deactivated += 1
        await archive.put_agent(agent)
        await archive.link_agent(tenant, self.crm_id, user.external_id, email)
        report.users_imported += 1

    # -- tickets ------------------------------------------------------------------------

    async def _agents_found(self, report: ImportReport, now: datetime) -> None:
        """Read again the tickets refused for an agent that is an imported user now;
        forget the ones past their retention."""
        cutoff = purge_cutoff(now)
        for ticket_id, awaited in list(self._awaiting.items()):
            if awaited.closed_at < cutoff:
                del self._awaiting[ticket_id]
        imported = {
            agent
            for agent in {awaited.agent for awaited in self._awaiting.values()}
            if await self.archive.agent_by_external_id(self.tenant_id, self.crm_id, agent)
            is not None
        }
        found = [ticket_id for ticket_id, a in self._awaiting.items() if a.agent in imported]
        if not found:
            return
        read: set[str] = set()
        async for page in self.source.tickets_by_id(found, since=cutoff):
            read.update(raw.external_id for raw in page.tickets)
            await self._tickets(page, report, now)
        for ticket_id in set(found) - read:  # gone from the CRM, or open again
            self._awaiting.pop(ticket_id, None)

    async def _tickets(self, page: ExportPage, report: ImportReport, now: datetime) -> None:
        for external_id, reason in page.unreadable:
            report.reject("ticket", external_id, reason)
        ready: list[Ticket] = []
        reopened: list[str] = []
        for raw in page.tickets:
            self._awaiting.pop(raw.external_id, None)  # read: what it awaited is decided
            skip = out_of_scope(raw, now)
            if skip is not None:
                report.skip(skip)
                if not raw.closed:
                    reopened.append(raw.external_id)
                continue
            problem = ticket_problem(raw)
            if problem is not None:
                report.reject("ticket", raw.external_id, problem)
                continue
            ticket = await self._ticket(raw, report)
            if ticket is not None:
                ready.append(ticket)
        await self.archive.put_tickets(ready)
        report.tickets_imported += len(ready)
        # a solved ticket reopened in the CRM is no longer one to keep
        report.tickets_removed += await self.archive.delete_tickets(
            self.tenant_id, self.crm_id, reopened
        )

    async def _ticket(self, raw: CrmTicket, report: ImportReport) -> Ticket | None:
        assert raw.agent_external_id is not None and raw.closed_at is not None
        agent = await self.archive.agent_by_external_id(
            self.tenant_id, self.crm_id, raw.agent_external_id
        )
        if agent is None:
            self._awaiting[raw.external_id] = AgentAwaited(
                agent=raw.agent_external_id, closed_at=raw.closed_at
            )
            why = self._rejected_users.get(raw.agent_external_id, "not an imported user")
            report.reject("ticket", raw.external_id, f"agent {raw.agent_external_id}: {why}")
            return None
        repaired = False
        messages: list[Message] = []
        cut = 0
        for message in raw.messages:
            body, broken = clean_text(message.body)
            body, was_cut = cut_comment(body)
            author, broken_author = clean_text(message.author)
            repaired = repaired or broken or broken_author
            cut += was_cut
            messages.append(message.model_copy(update={"body": body, "author": author}))
        subject, broken_subject = clean_text(raw.subject)
        requester, broken_requester = clean_text(raw.requester_name)
        if broken_subject or broken_requester or repaired:
            report.notice("ticket", raw.external_id, "broken text repaired (U+FFFD)")
        if cut:
            report.notice("ticket", raw.external_id, f"{cut} huge comment(s) cut")
        try:
            return Ticket(
                tenant_id=self.tenant_id,
                crm_id=self.crm_id,
                crm_name=self.source.crm_name,
                external_id=raw.external_id,
                number=raw.number or raw.external_id,
                subject=subject.strip()[:500] or "(no subject)",
                status=TicketStatus.closed if raw.status == "closed" else TicketStatus.solved,
                channel=map_channel(
                    raw.source_channel, self.source.default_channels, self.channel_map
                ),
                source_channel=raw.source_channel,
                agent_email=agent.email,
                agent_name=agent.name,
                requester_name=requester,
                requester_email=_email(raw.requester_email),
                requester_phone=_phone(raw.requester_phone, self.default_region),
                created_at=raw.created_at or raw.closed_at,
                closed_at=raw.closed_at,
                language=language_of(raw.locale, self.language),
                url=raw.url,
                messages=tuple(messages),
            )
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            report.reject("ticket", raw.external_id, f"{where}: {first['msg']}")
            return None


def _email(raw: str | None) -> str | None:
    """The requester's mailbox as the customer card compares them."""
    valid = normal_email(raw)
    return canonical_email(valid) if valid else None


def _phone(raw: str | None, region: str) -> str | None:
    """The requester's number in E.164, as the customer card has it; unreadable: None."""
    if not raw or not raw.strip():
        return None
    try:
        return phone(raw, region).value
    except InvalidIdentifier:
        return None
