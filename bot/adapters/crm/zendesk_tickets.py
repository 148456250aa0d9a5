"""Zendesk's ticketing export for the ticket sync: agents and solved tickets, incrementally.

Reads, with the Zendesk adapter's HTTP caller and credentials:

* ``GET /api/v2/incremental/users/cursor.json`` -- agents and admins (end users are
  customers and are skipped); ``active: false`` is a deleted user, an agent demoted to
  end user is deactivated;
* ``GET /api/v2/incremental/tickets/cursor.json?include=metric_sets,users`` -- every
  ticket changed since the cursor; ``metric_sets`` give ``solved_at``, ``users`` the
  requester's name, email and phone;
* ``GET /api/v2/incremental/ticket_events.json?include=comment_events`` -- the comments
  of every ticket updated since the stream's start, a thousand events a request, read
  alongside the ticket export (:mod:`bot.adapters.crm.zendesk_ticket_events`); the
  stream's position is stored with the ticket cursor, so a later sync reads on from it;
* ``GET /api/v2/users/show_many.json?ids=...`` -- the comment authors the pages did not
  sideload (names, and whether they are agents), up to 100 a request;
* ``GET /api/v2/tickets/show_many.json?ids=...&include=metric_sets,users`` -- tickets by
  id, up to 100 a request, each with its comments read on its own: the ones the sync
  refused for an agent who is an imported user now;
* ``GET /api/v2/tickets/{id}/comments.json?include=users`` (cursor pages) -- only for the
  solved tickets whose conversation the event stream does not hold whole (created before
  the stream's start, or updated within the export's last minute), a few at a time.

Cursor-based incremental exports start with ``start_time`` and go on with the page's
``after_cursor`` until ``end_of_stream``; the cursor after each page is what the sync
stores. The incremental endpoints allow 10 requests a minute (30 with the High Volume
add-on): requests to them are spaced by :attr:`ZendeskExport.min_interval`, and a 429 is
waited out for its ``Retry-After`` (up to ``max_throttle_waits`` times per page).

Docs: https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api/
https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
https://developer.zendesk.com/api-reference/ticketing/users/users/#show-many-users
https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#show-multiple-tickets
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from yarl import URL

from bot.adapters.crm.http import HttpResponse
from bot.adapters.crm.zendesk import ZendeskCrm
from bot.adapters.crm.zendesk_ticket_events import CommentStream
from bot.domain.tickets import (
    ZENDESK_CHANNELS,
    CrmTicket,
    CrmUser,
    Message,
    TicketChannel,
    split_name,
)
from bot.services.crm import CrmThrottled
from bot.services.ticketing.sync import ExportPage

AGENT_ROLES = frozenset({"agent", "admin"})
CLOSED = frozenset({"solved", "closed"})
COMMENT_FETCHES = 8
"""Tickets whose comments are read one by one at the same time (outside the stream)."""
IDS_PER_REQUEST = 100
"""Users or tickets a show_many request names at most."""
People = dict[str, dict[str, Any]]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _seconds(value: Any) -> int | None:
    moment = _time(value)
    return int(moment.timestamp()) if moment else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def message_of(comment: dict[str, Any], people: People) -> Message | None:
    """A comment (comments page or ticket event) as a message; None without a time."""
    at = _time(comment.get("created_at"))
    if at is None:
        return None
    author = people.get(str(comment.get("author_id")), {})
    return Message(
        author=_text(author.get("name")) or f"User {comment.get('author_id')}",
        at=at,
        body=_text(comment.get("plain_body")) or _text(comment.get("body")),
        public=comment.get("public", True) is not False,
        from_agent=_text(author.get("role")) in AGENT_ROLES,
    )


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    found = body.get(key) if isinstance(body, dict) else None
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def user_of(crm_id: str, raw: dict[str, Any]) -> CrmUser:
    """A user from the export. ``active: false`` is how Zendesk exports a deleted user;
    an end user is a customer, or an agent demoted to end user (so no longer an agent)."""
    first, last = split_name(_text(raw.get("name")))
    return CrmUser(
        crm_id=crm_id,
        external_id=str(raw["id"]),
        first_name=first,
        last_name=last,
        email=_text(raw.get("email")),
        active=not raw.get("suspended", False),
        deleted=raw.get("active") is False,
        is_agent=_text(raw.get("role")) in AGENT_ROLES,
    )


class ZendeskExport:
    """:class:`~bot.services.ticketing.sync.TicketSource` for one Zendesk account."""

    default_channels: dict[str, TicketChannel] = ZENDESK_CHANNELS

    def __init__(
        self,
        crm: ZendeskCrm,
        *,
        per_page: int = 1000,
        requests_per_minute: float | None = 10,
        max_throttle_waits: int = 5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.crm = crm
        self.crm_id = crm.settings_id
        self.crm_name = crm.display_name
        self.per_page = per_page
        self.min_interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.max_throttle_waits = max_throttle_waits
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self._last_export: float | None = None
        self._agents: People = {}
        """Agents seen in the user export: the usual comment authors."""

    # -- plumbing -----------------------------------------------------------------------

    @property
    def api(self) -> URL:
        return self.crm.base / "api" / "v2"

    async def _get(self, url: URL, *, export: bool) -> HttpResponse:
        """One GET; export endpoints are spaced by the limit and 429s are waited out."""
        waits = 0
        while True:
            if export and self.min_interval and self._last_export is not None:
                pause = self._last_export + self.min_interval - self.clock()
                if pause > 0:
                    await self.sleep(pause)
            if export:
                self._last_export = self.clock()
            try:
                return await self.crm.http.get(url)
            except CrmThrottled as throttled:
                waits += 1
                if throttled.retry_after is None or waits > self.max_throttle_waits:
                    raise
                await self.sleep(throttled.retry_after)

    async def _export(
        self, resource: str, cursor: str | None, start: datetime, include: str | None = None
    ) -> AsyncIterator[tuple[dict[str, Any], str | None]]:
        params = {"per_page": str(self.per_page)}
        if include:
            params["include"] = include
        if cursor:
            params["cursor"] = cursor
        else:
            params["start_time"] = str(int(start.timestamp()))
        url = (self.api / "incremental" / resource / "cursor.json").with_query(params)
        while True:
            response = await self._get(url, export=True)
            body = response.body if isinstance(response.body, dict) else {}
            after = body.get("after_cursor")
            yield body, after if isinstance(after, str) and after else cursor
            if body.get("end_of_stream", True) or not after:
                return
            params = {"per_page": str(self.per_page), "cursor": str(after)}
            if include:
                params["include"] = include
            url = (self.api / "incremental" / resource / "cursor.json").with_query(params)

    # -- users --------------------------------------------------------------------------

    async def users(self, cursors: dict[str, str]) -> AsyncIterator[ExportPage]:
        start = datetime.fromtimestamp(0, UTC)
        async for body, cursor in self._export("users", cursors.get("users"), start):
            page = ExportPage(cursors={"users": cursor} if cursor else {})
            for raw in _items(body, "users"):
                if "id" not in raw:
                    page.unreadable.append(("?", "user without an id"))
                    continue
                page.users.append(user_of(self.crm_id, raw))
                if _text(raw.get("role")) in AGENT_ROLES:
                    self._agents[str(raw["id"])] = raw
            yield page

    # -- tickets ------------------------------------------------------------------------

    async def tickets(
        self, cursors: dict[str, str], *, since: datetime, full: bool
    ) -> AsyncIterator[ExportPage]:
        mark = cursors.get("ticket_events", "")
        stream: CommentStream | None = None
        if mark.isdigit() or "tickets" not in cursors:
            start = int(mark) if mark.isdigit() else int(since.timestamp())
            stream = self._stream(start)
        async for body, cursor in self._export(
            "tickets", cursors.get("tickets"), since, include="metric_sets,users"
        ):
            raws = _items(body, "tickets")
            if stream is None:  # resuming a sync stored before the stream: from this page on
                updated = [s for s in (_seconds(r.get("updated_at")) for r in raws) if s]
                stream = self._stream(min(updated) if updated else int(since.timestamp()))
            people = {**self._agents, **{str(u.get("id")): u for u in _items(body, "users")}}
            solved = {str(m.get("ticket_id")): m for m in _items(body, "metric_sets")}
            page = ExportPage(cursors={"tickets": cursor} if cursor else {})
            conversations = await self._conversations(raws, stream, people)
            for raw in raws:
                if "id" not in raw:
                    page.unreadable.append(("?", "ticket without an id"))
                    continue
                ticket_id = str(raw["id"])
                page.tickets.append(
                    self._ticket(raw, people, solved.get(ticket_id), conversations.get(ticket_id))
                )
            page.cursors["ticket_events"] = str(stream.position)
            yield page

    def _stream(self, start: int) -> CommentStream:
        async def fetch(url: URL) -> dict[str, Any]:
            response = await self._get(url, export=True)
            return response.body if isinstance(response.body, dict) else {}

        return CommentStream(fetch, self.api, start, per_page=self.per_page, now=self.wall_clock)

    async def _conversations(
        self, raws: list[dict[str, Any]], stream: CommentStream, people: People
    ) -> dict[str, list[Message]]:
        """Each solved ticket's messages: from the event stream when it holds them all,
        else read ticket by ticket; ``people`` learns the authors the pages did not name."""
        closed = [r for r in raws if "id" in r and _text(r.get("status")) in CLOSED]
        for raw in raws:
            if "id" in raw and _text(raw.get("status")) not in CLOSED:
                stream.drop(str(raw["id"]))
        updates = [s for s in (_seconds(r.get("updated_at")) for r in closed) if s is not None]
        if updates:
            await stream.advance(max(updates))
        streamed: dict[str, list[dict[str, Any]]] = {}
        alone: list[str] = []
        for raw in closed:
            ticket_id = str(raw["id"])
            created, updated = _seconds(raw.get("created_at")), _seconds(raw.get("updated_at"))
            if stream.covers(ticket_id, created, updated):
                streamed[ticket_id] = stream.take(ticket_id)
            else:
                alone.append(ticket_id)
        authors = {str(c.get("author_id")) for cs in streamed.values() for c in cs}
        await self._learn(sorted(a for a in authors - people.keys() if a.isdigit()), people)
        found = {
            ticket_id: [m for m in (message_of(c, people) for c in comments) if m is not None]
            for ticket_id, comments in streamed.items()
        }
        found.update(await self._comments_of(alone))
        return found

    async def _comments_of(self, ticket_ids: list[str]) -> dict[str, list[Message]]:
        """Each ticket's messages, read ticket by ticket, a few at a time."""
        gate = asyncio.Semaphore(COMMENT_FETCHES)

        async def one(ticket_id: str) -> tuple[str, list[Message]]:
            async with gate:
                return ticket_id, await self._comments(ticket_id)

        return dict(await asyncio.gather(*(one(t) for t in ticket_ids)))

    async def tickets_by_id(
        self, external_ids: Sequence[str], *, since: datetime
    ) -> AsyncIterator[ExportPage]:
        ids = list(external_ids)
        for start in range(0, len(ids), IDS_PER_REQUEST):
            url = (self.api / "tickets" / "show_many.json").with_query(
                {
                    "ids": ",".join(ids[start : start + IDS_PER_REQUEST]),
                    "include": "metric_sets,users",
                }
            )
            body = (await self._get(url, export=False)).body
            raws = [r for r in _items(body, "tickets") if "id" in r]
            people = {**self._agents, **{str(u.get("id")): u for u in _items(body, "users")}}
            solved = {str(m.get("ticket_id")): m for m in _items(body, "metric_sets")}
            closed = [str(r["id"]) for r in raws if _text(r.get("status")) in CLOSED]
            conversations = await self._comments_of(closed)
            page = ExportPage()
            for raw in raws:
                ticket_id = str(raw["id"])
                page.tickets.append(
                    self._ticket(raw, people, solved.get(ticket_id), conversations.get(ticket_id))
                )
            yield page

    async def _learn(self, user_ids: list[str], people: People) -> None:
        """Add these users (names, roles) to ``people``, 100 per request."""
        for start in range(0, len(user_ids), IDS_PER_REQUEST):
            chunk = user_ids[start : start + IDS_PER_REQUEST]
            url = (self.api / "users" / "show_many.json").with_query({"ids": ",".join(chunk)})
            response = await self._get(url, export=False)
            people.update({str(u.get("id")): u for u in _items(response.body, "users")})

    def _ticket(
        self,
        raw: dict[str, Any],
        people: dict[str, dict[str, Any]],
        metrics: dict[str, Any] | None,
        messages: list[Message] | None,
    ) -> CrmTicket:
        ticket_id = str(raw["id"])
        status = _text(raw.get("status"))
        requester = people.get(str(raw.get("requester_id")), {})
        via = raw.get("via") if isinstance(raw.get("via"), dict) else {}
        closed_at = _time((metrics or {}).get("solved_at")) or _time(raw.get("updated_at"))
        assignee = raw.get("assignee_id")
        return CrmTicket(
            crm_id=self.crm_id,
            external_id=ticket_id,
            number=ticket_id,
            subject=_text(raw.get("subject")) or _text(raw.get("raw_subject")),
            status=status,
            closed=status in CLOSED,
            source_channel=_text((via or {}).get("channel")),
            agent_external_id=str(assignee) if assignee else None,
            requester_name=_text(requester.get("name")),
            requester_email=_text(requester.get("email")) or None,
            requester_phone=_text(requester.get("phone")) or None,
            created_at=_time(raw.get("created_at")),
            closed_at=closed_at,
            locale=_text(requester.get("locale")) or None,
            url=self.crm.url_for("case", ticket_id),
            messages=messages or [],
        )

    async def _comments(self, ticket_id: str) -> list[Message]:
        url: URL | None = (self.api / "tickets" / ticket_id / "comments.json").with_query(
            {"page[size]": "100", "include": "users"}
        )
        messages: list[Message] = []
        while url is not None:
            response = await self._get(url, export=False)
            body = response.body if isinstance(response.body, dict) else {}
            authors = {str(u.get("id")): u for u in _items(body, "users")}
            for comment in _items(body, "comments"):
                message = message_of(comment, authors)
                if message is not None:
                    messages.append(message)
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            links = body.get("links") if isinstance(body.get("links"), dict) else {}
            following = (links or {}).get("next")
            url = (
                URL(following)
                if (meta or {}).get("has_more") and isinstance(following, str)
                else None
            )
            if url is not None and url.origin() != self.crm.base.origin():
                url = None  # never follow a link off the account
        return messages
