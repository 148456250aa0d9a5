"""Zendesk's incremental ticket event export: the comments of many tickets per request.

``GET /api/v2/incremental/ticket_events.json?start_time=...&include=comment_events``
returns every ticket update (audit) since ``start_time``, up to 1,000 a page, each with
its child events; with the ``comment_events`` sideload, a comment the update added is a
child event of type ``Comment`` (a Talk call's, ``VoiceComment``) with its author, body and
visibility. The export is
time-based: each page gives ``end_time`` (the next page's ``start_time``) and
``end_of_stream``; the events of the page's last second can come again on the next page
(they are kept by id, once), and the minute before the request is never included.

:class:`CommentStream` reads that export forward, alongside the ticket export, and keeps
the comments of the tickets it has not handed out yet. It holds a ticket's whole
conversation when the ticket was created at or after the stream's start and last updated
no later than what the stream has read; for any other ticket (an older one in an
incremental sync, one updated within the last minute, one whose comments were dropped
when it was exported unsolved) the caller reads the comments itself.

Docs: https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-ticket-event-export
https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api/
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from yarl import URL

Fetch = Callable[[URL], Awaitable[dict[str, Any]]]
RECENT = 60
"""Seconds before the request that the export leaves out (and refuses as start_time)."""
COMMENT_EVENTS = frozenset({"Comment", "VoiceComment"})
"""Child events that are part of the conversation: comments, and Talk's calls (the call's
details and transcription), as the comments endpoint lists them too."""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class CommentStream:
    """The ticket event export from ``start`` (Unix seconds), read as far as needed."""

    def __init__(
        self,
        fetch: Fetch,
        api: URL,
        start: int,
        *,
        per_page: int = 1000,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._now = now
        self._api = api
        self.start = start
        self.position = start
        """Where the next page starts (and where a later sync may start the stream)."""
        self.read_until = start - 1
        """Every event up to this second (inclusive) has been read."""
        self.ended = False
        self._per_page = per_page
        self._comments: dict[str, dict[str, dict[str, Any]]] = {}
        self._partial: set[str] = set()
        """Tickets whose comments the stream no longer holds whole (handed out, dropped)."""

    def _url(self) -> URL:
        query = {"start_time": str(self.position), "include": "comment_events"}
        if self._per_page != 1000:
            query["per_page"] = str(self._per_page)
        return (self._api / "incremental" / "ticket_events.json").with_query(query)

    async def advance(self, until: int) -> None:
        """Read pages until every event up to ``until`` is read, or the stream ends."""
        while not self.ended and self.read_until < until:
            if self.position > self._now() - RECENT:
                self.ended = True  # nothing that recent is exported yet
                return
            body = await self._fetch(self._url())
            events = body.get("ticket_events")
            for event in events if isinstance(events, list) else []:
                if isinstance(event, dict):
                    self._keep(event)
            end = _int(body.get("end_time"))
            done = body.get("end_of_stream", True) is not False
            if end is None or (not done and end <= self.position):
                self.ended = True  # no way forward: what was read stands, the rest is fetched
                return
            self.read_until = max(self.read_until, end if done else end - 1)
            self.position = max(self.position, end)
            self.ended = done

    def _keep(self, event: dict[str, Any]) -> None:
        ticket_id = str(event.get("ticket_id", ""))
        if not ticket_id or ticket_id in self._partial:
            return
        children = event.get("child_events")
        for child in children if isinstance(children, list) else []:
            if not isinstance(child, dict) or child.get("event_type") not in COMMENT_EVENTS:
                continue
            comment = {"created_at": event.get("created_at"), **child}
            self._comments.setdefault(ticket_id, {})[str(child.get("id"))] = comment

    def covers(self, ticket_id: str, created: int | None, updated: int | None) -> bool:
        """Whether the stream holds all of this ticket's comments."""
        if created is None or updated is None or ticket_id in self._partial:
            return False
        return self.start <= created and updated <= self.read_until

    def take(self, ticket_id: str) -> list[dict[str, Any]]:
        """The ticket's comments, oldest first; the stream forgets them (and the ticket)."""
        self._partial.add(ticket_id)
        found = self._comments.pop(ticket_id, {})
        return sorted(found.values(), key=lambda c: (str(c.get("created_at")), str(c.get("id"))))

    def drop(self, ticket_id: str) -> None:
        """Forget a ticket exported unsolved (its later comments alone would be partial)."""
        self._comments.pop(ticket_id, None)
        self._partial.add(ticket_id)
