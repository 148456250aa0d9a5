# Follows Zendesk's published contract for incremental exports and ticket comments:
#   https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
#   https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api/
#   https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
#   https://developer.zendesk.com/api-reference/introduction/rate-limits/
#   https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-ticket-event-export
#   https://developer.zendesk.com/api-reference/ticketing/users/users/#show-many-users
# Cursor-based exports: GET /api/v2/incremental/{users,tickets}/cursor.json with
# start_time (Unix seconds) for the first page, then cursor=<after_cursor>; every answer
# holds the items, after_cursor, after_url, before_cursor and end_of_stream. per_page is
# at most 1000. Tickets sideload metric_sets (solved_at) and users with include=. The
# incremental endpoints allow 10 requests per minute; beyond, 429 with Retry-After
# (seconds). Comments: cursor pagination (page[size] <= 100, meta.has_more,
# meta.after_cursor, links.next), sideloading users. Auth: basic "{email}/token:{token}".
# Ticket events: time-based, GET /api/v2/incremental/ticket_events.json?start_time= (one
# of the rate-limited incremental endpoints); start_time must be at least a minute in the
# past (400 otherwise) and events of the last minute are left out. An event is one ticket
# update: id, ticket_id, timestamp, created_at, updater_id, via, event_type "Audit" and
# child_events (Create / Change of fields). A comment the update added is a child event
# of type "Comment" (author_id, body, html_body, public, attachments, audit_id), a Talk
# call's "VoiceComment" (the same, plus the call's data), only with
# include=comment_events; without it the event says comment_present / comment_public.
# Each page holds up to per_page events (1000) plus the rest of its last second, gives
# end_time (the last event's second: the next start_time, so that second comes again),
# next_page, count and end_of_stream. show_many: GET /api/v2/users/show_many.json?ids=
# (comma separated, at most 100) -> {"users": [...]}. Tickets by id: GET
# /api/v2/tickets/show_many.json?ids= (at most 100) -> {"tickets": [...]}, the ones that
# exist; like every ticket endpoint it sideloads with include= (users, metric_sets):
#   https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#show-multiple-tickets
#   https://developer.zendesk.com/documentation/ticketing/using-the-zendesk-api/side_loading/
"""A contract fake of Zendesk's incremental export API, for the ticket sync."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot.domain.crm_config import ApiKeyAuth, CrmConfig, CrmKind
from bot.domain.tickets import TicketingSettings
from tests.crm.fakes.base import basic_credentials

EMAIL, TOKEN = "sync@example.com", "zd-token"
COMMENT_TYPES = ("Comment", "VoiceComment")


def zendesk_config(base_url: str, **ticketing: Any) -> CrmConfig:
    """A demo-tenant Zendesk configuration with ticketing on, signed in to the fake."""
    return CrmConfig(
        settings_id="zendesk",
        tenant_id="demo-tenant",
        kind=CrmKind.ZENDESK,
        display_name="Zendesk",
        base_url=base_url.rstrip("/"),
        auth=ApiKeyAuth(username=EMAIL),
        secret=SecretStr(TOKEN),
        ticketing=TicketingSettings(export_requests_per_minute=1000, **ticketing),
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{position}||".encode()).decode()


def _position(cursor: str) -> int:
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().split("||")[0])


def _key(item: dict[str, Any]) -> tuple[float, int]:
    """Export order: last update, then id (what Zendesk's export cursors encode)."""
    updated = datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00")).timestamp()
    return updated, int(item["id"])


def _export_cursor(key: tuple[float, int]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}||{key[1]}".encode()).decode()


def _export_key(cursor: str) -> tuple[float, int]:
    updated, _, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("||")
    return float(updated), int(item_id)


@dataclass
class ZendeskExports:
    """An account's users, tickets and comments; ``clock`` is the fake's "now" (Unix s)."""

    clock: Callable[[], float]
    users: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    """Ticket events (audits), in the order they happened."""
    solved_at: dict[str, str] = field(default_factory=dict)
    rate_limit: int | None = 10
    """Incremental export requests allowed per minute (None: unlimited)."""
    throttle_next: int = 0
    """The next N export requests get 429 whatever the count."""
    fail_next: list[int] = field(default_factory=list)
    outage_after: int | None = None
    """After this many export requests every further one answers 503 (an outage)."""
    broken_bytes: dict[str, bytes] = field(default_factory=dict)
    """ticket id -> raw bytes served as its comments page (broken UTF-8 and all)."""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _window: list[float] = field(default_factory=list)
    _next_id: int = 1000

    # -- data -----------------------------------------------------------------------------

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_user(self, name: str, email: str | None, *, role: str = "agent", **extra: Any) -> str:
        user = {
            "id": self._id(),
            "name": name,
            "email": email,
            "role": role,
            "active": True,
            "suspended": False,
            "locale": "en-US",
            "phone": None,
            "updated_at": iso(datetime.fromtimestamp(self.clock(), UTC)),
            **extra,
        }
        self.users.append(user)
        return str(user["id"])

    def change_user(self, user_id: str, **changes: Any) -> None:
        user = next(u for u in self.users if str(u["id"]) == user_id)
        user.update(changes, updated_at=iso(datetime.fromtimestamp(self.clock(), UTC)))

    def add_ticket(
        self,
        subject: str,
        *,
        status: str = "solved",
        assignee: str | None,
        requester: str | None = None,
        channel: str = "email",
        comments: list[tuple[str, ...]] = (),  # type: ignore[assignment]
        solved_at: datetime | None = None,
    ) -> str:
        now = datetime.fromtimestamp(self.clock(), UTC)
        ticket_id = self._id()
        self.ticket_events(ticket_id, comments, status, int(assignee or 0), now)
        self.tickets.append(
            {
                "id": ticket_id,
                "url": f"https://example.zendesk.com/api/v2/tickets/{ticket_id}.json",
                "subject": subject,
                "raw_subject": subject,
                "status": status,
                "requester_id": int(requester) if requester else None,
                "assignee_id": int(assignee) if assignee else None,
                "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": iso(now),
                "updated_at": iso(now),
                "generated_timestamp": int(now.timestamp()),
            }
        )
        if solved_at is not None:
            self.solved_at[str(ticket_id)] = iso(solved_at)
        return str(ticket_id)

    def update_ticket(
        self, ticket_id: str, *, status: str, comment: tuple[str, str] | None = None
    ) -> None:
        """An agent's update now: maybe a comment, then the new status."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        ticket = next(t for t in self.tickets if str(t["id"]) == ticket_id)
        ticket.update(status=status, updated_at=iso(now), generated_timestamp=int(now.timestamp()))
        if status in ("solved", "closed"):
            self.solved_at[ticket_id] = iso(now)
        assignee = int(ticket["assignee_id"] or 0)
        self.ticket_events(int(ticket_id), [comment] if comment else [], status, assignee, now)

    def ticket_events(
        self,
        ticket_id: int,
        comments: list[tuple[str, ...]],
        status: str,
        assignee: int,
        at: datetime,
    ) -> None:
        """The ticket's audits: one per comment (the first creates it), then the status.
        A comment is (author, body) or (author, body, type): "VoiceComment" for a call."""
        kept = self.comments.setdefault(str(ticket_id), [])
        created = not kept and not any(e["ticket_id"] == ticket_id for e in self.events)
        for n, (author, body, *kind) in enumerate(
            comments or ([(str(assignee), "")] if created else [])
        ):
            comment_type = kind[0] if kind else "Comment"
            audit = self._id()
            children: list[dict[str, Any]] = []
            if n == 0 and created:
                children.append(
                    {
                        "id": self._id(),
                        "event_type": "Create",
                        "field_name": "status",
                        "value": "new",
                    }
                )
            if body:
                comment = {
                    "id": self._id(),
                    "type": comment_type,
                    "event_type": comment_type,
                    "author_id": int(author),
                    "body": body,
                    "html_body": f"<p>{body}</p>",
                    "plain_body": body,
                    "public": True,
                    "attachments": [],
                    "audit_id": audit,
                    "created_at": iso(at),
                }
                kept.append(comment)
                children.append(comment)
            self._event(ticket_id, audit, int(author), at, children)
        if status != "new":
            change = {
                "id": self._id(),
                "event_type": "Change",
                "field_name": "status",
                "value": status,
                "previous_value": "new",
            }
            self._event(ticket_id, self._id(), assignee, at, [change])

    def _event(
        self, ticket_id: int, audit: int, updater: int, at: datetime, children: list[Any]
    ) -> None:
        self.events.append(
            {
                "id": audit,
                "ticket_id": ticket_id,
                "timestamp": int(at.timestamp()),
                "created_at": iso(at),
                "updater_id": updater,
                "via": "Web form",
                "event_type": "Audit",
                "child_events": children,
            }
        )

    # -- HTTP -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v2/incremental/{resource}/cursor.json", self._export)
        app.router.add_get("/api/v2/incremental/ticket_events.json", self._ticket_events)
        app.router.add_get("/api/v2/users/show_many.json", self._show_many)
        app.router.add_get("/api/v2/tickets/show_many.json", self._show_many_tickets)
        app.router.add_get("/api/v2/tickets/{ticket_id}/comments.json", self._comments)
        return app

    def _authorized(self, request: web.Request) -> bool:
        return basic_credentials(request) == (f"{EMAIL}/token", TOKEN)

    def _limited(self) -> web.Response | None:
        now = self.clock()
        self._window = [t for t in self._window if now - t < 60]
        if self.throttle_next:
            self.throttle_next -= 1
            retry = 7
        elif self.rate_limit is not None and len(self._window) >= self.rate_limit:
            retry = int(60 - (now - self._window[0])) + 1
        else:
            self._window.append(now)
            return None
        return web.json_response(
            {
                "error": "APIRateLimitExceeded",
                "description": "Number of allowed API requests per minute exceeded",
            },
            status=429,
            headers={"Retry-After": str(retry)},
        )

    def _refused(self, request: web.Request) -> web.Response | None:
        """What an incremental export request gets instead of its page, if anything."""
        self.requests.append((request.path, dict(request.query)))
        if not self._authorized(request):
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        if self.fail_next:
            return web.json_response({"error": "Internal"}, status=self.fail_next.pop(0))
        exports = sum(1 for path, _ in self.requests if "/incremental/" in path)
        if self.outage_after is not None and exports > self.outage_after:
            return web.json_response({"error": "ServiceUnavailable"}, status=503)
        return self._limited()

    async def _export(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        resource = request.match_info["resource"]
        if resource not in ("users", "tickets"):
            return web.json_response({"error": "InvalidEndpoint"}, status=404)
        per_page = min(int(request.query.get("per_page", "1000")), 1000)
        items = sorted(self.users if resource == "users" else self.tickets, key=_key)
        if "cursor" in request.query:
            after = _export_key(request.query["cursor"])
            rest = [item for item in items if _key(item) > after]
        elif "start_time" in request.query:
            since = int(request.query["start_time"])
            rest = [item for item in items if _key(item)[0] >= since]
        else:
            return web.json_response(
                {"error": "InvalidValue", "description": "start_time or cursor is required"},
                status=400,
            )
        page = rest[:per_page]
        last = (
            _key(page[-1])
            if page
            else _export_key(request.query["cursor"])
            if ("cursor" in request.query)
            else (float(request.query["start_time"]) - 1, 0)
        )
        after_cursor = _export_cursor(last)
        body: dict[str, Any] = {
            resource: page,
            "after_cursor": after_cursor,
            "after_url": str(request.url.with_query({"cursor": after_cursor})),
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": len(rest) <= per_page,
        }
        if resource == "tickets":
            body.update(self._sideloads(page, request.query.get("include", "")))
        return web.json_response(body)

    def _sideloads(self, tickets: list[dict[str, Any]], include: str) -> dict[str, Any]:
        wanted = include.split(",")
        loaded: dict[str, Any] = {}
        if "metric_sets" in wanted:
            loaded["metric_sets"] = [
                {"ticket_id": t["id"], "solved_at": self.solved_at.get(str(t["id"]))}
                for t in tickets
            ]
        if "users" in wanted:
            people = {t["requester_id"] for t in tickets} | {t["assignee_id"] for t in tickets}
            loaded["users"] = [u for u in self.users if u["id"] in people]
        return loaded

    def _show_many_ids(self, request: web.Request) -> list[str] | web.Response:
        """A show_many request's ``ids``, or Zendesk's refusal of the request."""
        self.requests.append((request.path, dict(request.query)))
        if not self._authorized(request):
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if len(ids) > 100:
            return web.json_response(
                {"error": "InvalidValue", "description": "at most 100 ids"}, status=400
            )
        return ids

    async def _show_many_tickets(self, request: web.Request) -> web.Response:
        ids = self._show_many_ids(request)
        if isinstance(ids, web.Response):
            return ids
        found = [t for t in self.tickets if str(t["id"]) in ids]
        return web.json_response(
            {"tickets": found, **self._sideloads(found, request.query.get("include", ""))}
        )

    async def _ticket_events(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        now = int(self.clock())
        start = request.query.get("start_time", "")
        if not start.isdigit() or int(start) > now - 60:
            return web.json_response(
                {
                    "error": "InvalidValue",
                    "description": "start_time must be at least one minute in the past",
                },
                status=400,
            )
        per_page = min(int(request.query.get("per_page", "1000")), 1000)
        rest = sorted(
            (e for e in self.events if int(start) <= e["timestamp"] <= now - 60),
            key=lambda e: (e["timestamp"], e["id"]),
        )
        page = rest[:per_page]
        while len(page) < len(rest) and rest[len(page)]["timestamp"] == page[-1]["timestamp"]:
            page.append(rest[len(page)])  # the page ends with a whole second
        comments = "comment_events" in request.query.get("include", "").split(",")
        shaped = [self._shaped(event, comments) for event in page]
        end = page[-1]["timestamp"] if page else int(start)
        return web.json_response(
            {
                "ticket_events": shaped,
                "count": len(shaped),
                "end_time": end,
                "next_page": str(request.url.update_query({"start_time": str(end)})),
                "end_of_stream": len(page) == len(rest),
            }
        )

    @staticmethod
    def _shaped(event: dict[str, Any], comments: bool) -> dict[str, Any]:
        if comments:
            return event
        said = [c for c in event["child_events"] if c["event_type"] in COMMENT_TYPES]
        children = [c for c in event["child_events"] if c not in said]
        shaped = {**event, "child_events": children}
        if said:
            shaped.update(comment_present=True, comment_public=said[0]["public"])
        return shaped

    async def _show_many(self, request: web.Request) -> web.Response:
        ids = self._show_many_ids(request)
        if isinstance(ids, web.Response):
            return ids
        return web.json_response({"users": [u for u in self.users if str(u["id"]) in ids]})

    async def _comments(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        if not self._authorized(request):
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        ticket_id = request.match_info["ticket_id"]
        if ticket_id in self.broken_bytes:
            return web.Response(
                body=self.broken_bytes[ticket_id],
                content_type="application/json",
                charset="utf-8",
            )
        comments = self.comments.get(ticket_id)
        if comments is None:
            return web.json_response({"error": "RecordNotFound"}, status=404)
        size = min(int(request.query.get("page[size]", "100")), 100)
        start = _position(request.query["page[after]"]) if "page[after]" in request.query else 0
        page = comments[start : start + size]
        more = start + size < len(comments)
        after = _cursor(start + size)
        authors = {c["author_id"] for c in page}
        return web.json_response(
            {
                "comments": page,
                "users": [u for u in self.users if u["id"] in authors],
                "meta": {"has_more": more, "after_cursor": after if more else None},
                "links": {
                    "next": str(request.url.update_query({"page[after]": after})) if more else None,
                },
            }
        )


def broken_comments(author: str) -> bytes:
    """A comments page whose body holds bytes that are not UTF-8 (and a lone surrogate)."""
    text = json.dumps(
        {
            "comments": [
                {
                    "id": 1,
                    "author_id": int(author),
                    "body": "BROKEN",
                    "plain_body": "BROKEN",
                    "public": True,
                    "created_at": "2026-11-30T10:00:00Z",
                },
                {
                    "id": 2,
                    "author_id": int(author),
                    "body": "lone \\ud800 surrogate",
                    "plain_body": "lone \\ud800 surrogate",
                    "public": True,
                    "created_at": "2026-11-30T10:01:00Z",
                },
            ],
            "users": [],
            "meta": {"has_more": False},
            "links": {"next": None},
        }
    ).replace("\\\\ud800", "\\ud800")
    return text.encode().replace(b"BROKEN", b"caf\xe9 cr\xe8me")


async def served_with_one_solved_ticket(aiohttp_server: Callable[..., Any]) -> str:
    """An account on real time with one agent and one ticket solved yesterday; its URL."""
    fake = ZendeskExports(clock=lambda: datetime.now(UTC).timestamp())
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    fake.add_ticket("Printer", assignee=ada, solved_at=datetime.now(UTC) - timedelta(days=1))
    return str((await aiohttp_server(fake.app())).make_url(""))
