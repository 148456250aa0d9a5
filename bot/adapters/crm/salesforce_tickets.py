"""Salesforce's ticketing export for the ticket sync: Users and closed Cases, incrementally.

Reads, with the Salesforce adapter's HTTP caller and credentials:

* ``User`` (standard users: the agents) by ``SystemModstamp`` watermark; Salesforce never
  deletes users, it deactivates them (``IsActive``);
* closed ``Case`` records (``IsClosed = true``, closed within the retention window) by
  ``SystemModstamp`` watermark, each with its conversation as child relationship
  subqueries (``CaseComments``, ``EmailMessages``); ``OwnerId`` is the agent when it is a
  User (``005`` prefix), a queue owner is no agent; a case with more children than one
  batch (about 200) gets the first batch and a ``nextRecordsUrl`` per relationship,
  followed until ``done`` so a long conversation arrives whole;
* the case's chats: legacy Chat transcripts (``LiveChatTranscript``, the chat as HTML in
  ``Body``; Chat was retired on 2026-02-14, older cases keep theirs) and Messaging sessions
  (``MessagingSession``: web and in-app messaging, WhatsApp, SMS, Facebook, Apple), both
  found by ``CaseId``; a session's messages are the Connect REST API's conversation
  entries of its ``Conversation`` between the session's start and end (a conversation is
  every session with that customer, so the other sessions' messages stay with theirs);
  an org has these objects only with Chat or Messaging switched on, so Describe Global
  (``GET /sobjects``, once per export) says which of them to read;
* ``CaseComment``, ``EmailMessage``, ``LiveChatTranscript`` and ``MessagingSession`` by
  their own watermarks: a comment, email, chat or session added to a closed case later
  brings that case in again;
* cases by id (:meth:`SalesforceExport.tickets_by_id`): the ones the sync refused for
  an owner who is an imported user now;
* open ``Case`` ids by their own watermark: a case reopened since the last sync leaves the
  archive (it is no longer a closed one);
* a first full import of more than :attr:`SalesforceExport.bulk_threshold` cases runs as
  Bulk API 2.0 query jobs (Case, CaseComment, EmailMessage, LiveChatTranscript,
  MessagingSession; CSV results read with the ``Sforce-Locator`` header), since the REST
  query API would need thousands of calls.

Watermarks are compared with ``>=`` (records sharing the last timestamp are read again,
which the archive's replace-by-id absorbs) and are SOQL datetime literals.

Docs: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships_query_using.htm
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships_query_results.htm
https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/queries.htm
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_case.htm
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_livechattranscript.htm
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_messagingsession.htm
https://developer.salesforce.com/docs/atlas.en-us.chatterapi.meta/chatterapi/connect_resources_conversation_entries.htm
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_describeGlobal.htm
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from yarl import URL

from bot.adapters.crm.salesforce import SalesforceClient, soql_quote
from bot.domain.tickets import SALESFORCE_ORIGINS, CrmTicket, CrmUser, Message, TicketChannel
from bot.services.crm import CrmError, CrmUnavailable
from bot.services.ticketing.sync import ExportPage

EPOCH = "1970-01-01T00:00:00Z"
USER_FIELDS = "Id, FirstName, LastName, Email, IsActive, SystemModstamp"
CASE_FIELDS = (
    "Id, CaseNumber, Subject, Status, IsClosed, ClosedDate, CreatedDate, Origin, OwnerId, "
    "SuppliedName, SuppliedEmail, SuppliedPhone, Contact.Name, Contact.Email, Contact.Phone, "
    "SystemModstamp"
)
COMMENT_FIELDS = "Id, ParentId, CommentBody, IsPublished, CreatedDate, CreatedBy.Name"
EMAIL_FIELDS = "Id, ParentId, TextBody, FromName, Incoming, MessageDate"
CONVERSATION = (
    f"(SELECT {COMMENT_FIELDS.replace('ParentId, ', '')} FROM CaseComments "
    "ORDER BY CreatedDate), "
    f"(SELECT {EMAIL_FIELDS.replace('ParentId, ', '')} FROM EmailMessages ORDER BY MessageDate)"
)
TRANSCRIPT_FIELDS = "Id, CaseId, Body, StartTime, CreatedDate"
SESSION_FIELDS = "Id, CaseId, StartTime, EndTime, Conversation.ConversationIdentifier"
CHANGE_STREAMS = {
    "CaseComment": "ParentId",
    "EmailMessage": "ParentId",
    "LiveChatTranscript": "CaseId",
    "MessagingSession": "CaseId",
}
"""The case's conversation records read by their own watermark, with their case field."""
CHAT_FIELDS = {"LiveChatTranscript": TRANSCRIPT_FIELDS, "MessagingSession": SESSION_FIELDS}
"""Objects an org has only with Chat or Messaging switched on, and the fields read."""
IDS_PER_QUERY = 100
ENTRIES_PER_REQUEST = 1000
SESSION_FETCHES = 8
"""Messaging sessions whose conversation entries are read at the same time."""
SENDERS = {"EndUser": "Customer", "Agent": "Agent", "Supervisor": "Agent", "Chatbot": "Bot"}
"""A conversation entry's ``sender.role`` -> the author shown (entries name no person)."""
MessageReader = Callable[[dict[str, Any]], Message | None]


def soql_time(moment: datetime) -> str:
    """A SOQL datetime literal (unquoted), UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    """``2026-11-30T10:00:00.000+0000`` (REST) or ``...Z`` (Bulk CSV) -> aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parent(row: dict[str, Any], relation: str, field: str) -> str:
    """``Contact.Email`` from a REST row (nested object) or a Bulk CSV row (dotted key)."""
    nested = row.get(relation)
    if isinstance(nested, dict):
        return _text(nested.get(field))
    return _text(row.get(f"{relation}.{field}"))


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def comment_message(row: dict[str, Any]) -> Message | None:
    at = parse_time(row.get("CreatedDate"))
    if at is None:
        return None
    return Message(
        author=_parent(row, "CreatedBy", "Name") or "Salesforce user",
        at=at,
        body=_text(row.get("CommentBody")),
        public=_flag(row.get("IsPublished")),
        from_agent=True,
    )


def email_message(row: dict[str, Any]) -> Message | None:
    at = parse_time(row.get("MessageDate"))
    if at is None:
        return None
    return Message(
        author=_text(row.get("FromName")) or "Email",
        at=at,
        body=_text(row.get("TextBody")),
        from_agent=not _flag(row.get("Incoming")),
    )


_LINE_BREAK = re.compile(r"<br\s*/?>|</p>|</div>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def html_text(markup: str) -> str:
    """A chat transcript's HTML as text: one line per paragraph or line break."""
    text = html.unescape(_TAG.sub("", _LINE_BREAK.sub("\n", markup)))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def transcript_message(row: dict[str, Any]) -> Message | None:
    at = parse_time(row.get("StartTime")) or parse_time(row.get("CreatedDate"))
    if at is None:
        return None
    return Message(author="Chat transcript", at=at, body=html_text(_text(row.get("Body"))))


def entry_message(entry: dict[str, Any]) -> Message | None:
    """A conversation entry that says something, as a message; events say nothing."""
    stamp, body = entry.get("serverReceivedTimestamp"), _text(entry.get("messageText"))
    if not isinstance(stamp, int) or not body.strip():
        return None
    sender = entry.get("sender") if isinstance(entry.get("sender"), dict) else {}
    role = _text((sender or {}).get("role"))
    return Message(
        author=SENDERS.get(role, role or "Messaging"),
        at=datetime.fromtimestamp(stamp / 1000, UTC),
        body=body,
        from_agent=role not in ("EndUser", ""),
    )


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _records(result: Any) -> list[dict[str, Any]]:
    records = result.get("records") if isinstance(result, dict) else None
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


class SalesforceExport:
    """:class:`~bot.services.ticketing.sync.TicketSource` for one Salesforce org."""

    default_channels: dict[str, TicketChannel] = SALESFORCE_ORIGINS

    def __init__(
        self,
        client: SalesforceClient,
        *,
        bulk_threshold: int = 10_000,
        bulk_page: int = 10_000,
        poll_interval: float = 2.0,
        max_polls: int = 900,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.crm_id = client.settings_id
        self.crm_name = client.display_name
        self.bulk_threshold = bulk_threshold
        self.bulk_page = bulk_page
        self.poll_interval = poll_interval
        self.max_polls = max_polls
        self.sleep = sleep
        self.now = now
        self._chat_objects: frozenset[str] | None = None

    # -- REST queries -------------------------------------------------------------------

    async def _base(self) -> str:
        return f"{await self.client.instance_url()}/services/data/{self.client.api_version}"

    async def _more(self, result: dict[str, Any]) -> dict[str, Any] | None:
        """The next batch of a query result (outer or child relationship), if any."""
        link = result.get("nextRecordsUrl")
        prefix = f"/services/data/{self.client.api_version}/query/"
        if result.get("done", True) or not isinstance(link, str) or not link.startswith(prefix):
            return None  # never follow a link off the org's query resource
        response = await self.client.http.get(URL(await self.client.instance_url() + link))
        return response.body if isinstance(response.body, dict) else {}

    async def _pages(self, soql: str) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Each page of a SOQL query's rows with the query's ``totalSize``."""
        base = await self._base()
        response = await self.client.http.get(f"{base}/query", params={"q": soql})
        body: dict[str, Any] | None = response.body if isinstance(response.body, dict) else {}
        while body is not None:
            yield _records(body), int(body.get("totalSize") or 0)
            body = await self._more(body)

    async def _children(self, row: dict[str, Any], relation: str) -> list[dict[str, Any]]:
        """All of a child relationship's rows, batch after batch (null: none)."""
        result = row.get(relation)
        rows: list[dict[str, Any]] = []
        while isinstance(result, dict):
            rows += _records(result)
            result = await self._more(result)
        return rows

    async def _count(self, soql: str) -> int:
        async for _, total in self._pages(soql):
            return total
        return 0

    # -- users --------------------------------------------------------------------------

    async def users(self, cursors: dict[str, str]) -> AsyncIterator[ExportPage]:
        mark = cursors.get("users", EPOCH)
        soql = (
            f"SELECT {USER_FIELDS} FROM User WHERE UserType = 'Standard' "
            f"AND SystemModstamp >= {mark} ORDER BY SystemModstamp, Id"
        )
        async for rows, _ in self._pages(soql):
            page = ExportPage()
            for row in rows:
                if not row.get("Id"):
                    page.unreadable.append(("?", "user without an Id"))
                    continue
                page.users.append(
                    CrmUser(
                        crm_id=self.crm_id,
                        external_id=str(row["Id"]),
                        first_name=_text(row.get("FirstName")),
                        last_name=_text(row.get("LastName")),
                        email=_text(row.get("Email")),
                        active=_flag(row.get("IsActive")),
                    )
                )
            stamp = _last_stamp(rows)
            if stamp:
                page.cursors["users"] = stamp
            yield page

    # -- tickets ------------------------------------------------------------------------

    def _case(self, row: dict[str, Any], messages: list[Message], instance: str) -> CrmTicket:
        owner = _text(row.get("OwnerId"))
        case_id = str(row["Id"])
        return CrmTicket(
            crm_id=self.crm_id,
            external_id=case_id,
            number=_text(row.get("CaseNumber")) or case_id,
            subject=_text(row.get("Subject")),
            status="closed",
            closed=_flag(row.get("IsClosed")),
            source_channel=_text(row.get("Origin")),
            agent_external_id=owner if owner.startswith("005") else None,
            requester_name=_parent(row, "Contact", "Name") or _text(row.get("SuppliedName")),
            requester_email=_parent(row, "Contact", "Email") or _text(row.get("SuppliedEmail")),
            requester_phone=_parent(row, "Contact", "Phone") or _text(row.get("SuppliedPhone")),
            created_at=parse_time(row.get("CreatedDate")),
            closed_at=parse_time(row.get("ClosedDate")),
            url=f"{instance}/lightning/r/Case/{case_id}/view",
            messages=sorted(messages, key=lambda m: m.at),
        )

    async def _rest_case(
        self, row: dict[str, Any], chats: list[Message], instance: str
    ) -> CrmTicket:
        messages = [
            m
            for m in (
                *(comment_message(r) for r in await self._children(row, "CaseComments")),
                *(email_message(r) for r in await self._children(row, "EmailMessages")),
            )
            if m is not None
        ]
        return self._case(row, messages + chats, instance)

    async def _page(
        self, rows: list[dict[str, Any]], instance: str, total: int | None
    ) -> ExportPage:
        page = ExportPage(expected=total)
        chats = await self._chats([str(row["Id"]) for row in rows if row.get("Id")])
        for row in rows:
            if not row.get("Id"):
                page.unreadable.append(("?", "case without an Id"))
                continue
            page.tickets.append(await self._rest_case(row, chats.get(str(row["Id"]), []), instance))
        return page

    # -- chats and Messaging sessions ---------------------------------------------------

    async def _has(self, sobject: str) -> bool:
        """Whether the org can be asked for ``sobject``: every object but the chat ones,
        which Describe Global lists only where Chat or Messaging is switched on."""
        if sobject not in CHAT_FIELDS:
            return True
        if self._chat_objects is None:
            response = await self.client.http.get(f"{await self._base()}/sobjects")
            body = response.body if isinstance(response.body, dict) else {}
            listed = body.get("sobjects") if isinstance(body.get("sobjects"), list) else []
            self._chat_objects = (
                frozenset(
                    _text(o.get("name"))
                    for o in listed or []
                    if isinstance(o, dict) and o.get("queryable") is True
                )
                & CHAT_FIELDS.keys()
            )
        return sobject in self._chat_objects

    async def _chat_rows(self, where: str) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
        """(object, rows) of the org's transcripts and sessions matching ``where``."""
        for sobject, fields in CHAT_FIELDS.items():
            if await self._has(sobject):
                async for rows, _ in self._pages(f"SELECT {fields} FROM {sobject} WHERE {where}"):
                    yield sobject, rows

    async def _chats(self, case_ids: list[str]) -> dict[str, list[Message]]:
        """The chat transcripts' and Messaging sessions' messages of these cases."""
        found: dict[str, list[dict[str, Any]]] = {sobject: [] for sobject in CHAT_FIELDS}
        for chunk in _chunks(case_ids, IDS_PER_QUERY):
            listed = ", ".join(soql_quote(c) for c in chunk)
            async for sobject, rows in self._chat_rows(f"CaseId IN ({listed})"):
                found[sobject].extend(rows)
        return await self._chat_messages(found["LiveChatTranscript"], found["MessagingSession"])

    async def _chat_messages(
        self, transcripts: Iterable[dict[str, Any]], sessions: Iterable[dict[str, Any]]
    ) -> dict[str, list[Message]]:
        """Case id -> the messages of these transcript and session rows."""
        found: dict[str, list[Message]] = {}
        for row in transcripts:
            message = transcript_message(row)
            if message is not None and row.get("CaseId"):
                found.setdefault(str(row["CaseId"]), []).append(message)
        gate = asyncio.Semaphore(SESSION_FETCHES)

        async def one(row: dict[str, Any]) -> tuple[str, list[Message]]:
            async with gate:
                return str(row["CaseId"]), await self._session_messages(row)

        for case_id, messages in await asyncio.gather(
            *(one(row) for row in sessions if row.get("CaseId"))
        ):
            found.setdefault(case_id, []).extend(messages)
        return found

    async def _session_messages(self, row: dict[str, Any]) -> list[Message]:
        """The conversation entries between the session's start and end, oldest first,
        a thousand a request. The resource has no page link: the next request starts at
        the last entry's time. Each request's ``startTimestamp`` is a millisecond before
        the session's start or that time, so the entries at that very millisecond arrive
        whether the window's start is inclusive or not (the documentation does not say);
        the ones already read are dropped by identifier."""
        conversation = _parent(row, "Conversation", "ConversationIdentifier")
        start = parse_time(row.get("StartTime"))
        if not conversation or start is None:
            return []
        end = parse_time(row.get("EndTime")) or self.now()
        since, until = _millis(start) - 1, str(_millis(end))
        url = f"{await self._base()}/connect/conversation/{conversation}/entries"
        seen: set[str] = set()
        messages: list[Message] = []
        while True:
            response = await self.client.http.get(
                url,
                params={
                    "queryDirection": "FromStart",
                    "recordLimit": str(ENTRIES_PER_REQUEST),
                    "startTimestamp": str(since),
                    "endTimestamp": until,
                },
            )
            body = response.body if isinstance(response.body, dict) else {}
            entries = [e for e in body.get("conversationEntries") or [] if isinstance(e, dict)]
            fresh = [e for e in entries if _text(e.get("identifier")) not in seen]
            seen.update(_text(e.get("identifier")) for e in fresh)
            messages += [m for m in (entry_message(e) for e in fresh) if m is not None]
            stamps = [
                e["serverReceivedTimestamp"]
                for e in entries
                if isinstance(e.get("serverReceivedTimestamp"), int)
            ]
            if len(entries) < ENTRIES_PER_REQUEST or not fresh or not stamps:
                return messages
            since = max(stamps) - 1

    async def tickets(
        self, cursors: dict[str, str], *, since: datetime, full: bool
    ) -> AsyncIterator[ExportPage]:
        instance = await self.client.instance_url()
        started = soql_time(self.now())
        closed = f"IsClosed = true AND ClosedDate >= {soql_time(since)}"
        mark = cursors.get("cases")
        if mark is None:
            total = await self._count(f"SELECT COUNT() FROM Case WHERE {closed}")
            if total > self.bulk_threshold:
                async for page in self._bulk(closed, instance, total):
                    yield page
                yield ExportPage(
                    cursors={"cases": started, **dict.fromkeys(CHANGE_STREAMS, started)}
                )
                return
        soql = (
            f"SELECT {CASE_FIELDS}, {CONVERSATION} FROM Case WHERE {closed} "
            f"AND SystemModstamp >= {mark or EPOCH} ORDER BY SystemModstamp, Id"
        )
        async for rows, total in self._pages(soql):
            page = await self._page(rows, instance, total)
            stamp = _last_stamp(rows)
            if stamp:
                page.cursors["cases"] = stamp
            yield page
        if mark is None:  # the first import read every conversation with its case
            yield ExportPage(cursors=dict.fromkeys(CHANGE_STREAMS, started))
            return
        for sobject, parent in CHANGE_STREAMS.items():
            if not await self._has(sobject):
                continue
            async for page in self._conversation_changes(
                sobject, parent, cursors, closed, instance
            ):
                yield page
        async for page in self._reopened(cursors.get("reopened", mark)):
            yield page

    async def _reopened(self, mark: str) -> AsyncIterator[ExportPage]:
        """Cases open again since the watermark, as open tickets: the sync removes the ones
        it imported when they were closed."""
        soql = (
            f"SELECT Id, SystemModstamp FROM Case WHERE IsClosed = false "
            f"AND SystemModstamp >= {mark} ORDER BY SystemModstamp, Id"
        )
        async for rows, _ in self._pages(soql):
            page = ExportPage()
            page.tickets = [
                CrmTicket(crm_id=self.crm_id, external_id=str(row["Id"]), closed=False)
                for row in rows
                if row.get("Id")
            ]
            stamp = _last_stamp(rows)
            if stamp:
                page.cursors["reopened"] = stamp
            yield page

    async def _conversation_changes(
        self, sobject: str, parent: str, cursors: dict[str, str], closed: str, instance: str
    ) -> AsyncIterator[ExportPage]:
        """Cases whose comments, emails, chats or sessions changed since the watermark, read
        again. A stream without a watermark yet (a sync stored before it was read) starts
        at the beginning, so cases imported before get their chats."""
        mark = cursors.get(sobject, EPOCH)
        soql = (
            f"SELECT {parent}, SystemModstamp FROM {sobject} WHERE SystemModstamp >= {mark} "
            "ORDER BY SystemModstamp"
        )
        async for rows, _ in self._pages(soql):
            parents = list(dict.fromkeys(_text(r.get(parent)) for r in rows))
            page = ExportPage()
            async for found in self._cases([p for p in parents if p], closed, instance):
                page.tickets.extend(found.tickets)
            stamp = _last_stamp(rows)
            if stamp:
                page.cursors[sobject] = stamp
            yield page

    async def _cases(
        self, case_ids: list[str], closed: str, instance: str
    ) -> AsyncIterator[ExportPage]:
        """These cases, when ``closed`` holds for them, with their conversations."""
        for chunk in _chunks(case_ids, IDS_PER_QUERY):
            listed = ", ".join(soql_quote(c) for c in chunk)
            cases = (
                f"SELECT {CASE_FIELDS}, {CONVERSATION} FROM Case "
                f"WHERE Id IN ({listed}) AND {closed}"
            )
            async for rows, _ in self._pages(cases):
                yield await self._page(rows, instance, None)

    async def tickets_by_id(
        self, external_ids: Sequence[str], *, since: datetime
    ) -> AsyncIterator[ExportPage]:
        closed = f"IsClosed = true AND ClosedDate >= {soql_time(since)}"
        instance = await self.client.instance_url()
        async for page in self._cases(list(external_ids), closed, instance):
            yield page

    # -- Bulk API 2.0 -------------------------------------------------------------------

    async def _bulk_rows(self, soql: str) -> AsyncIterator[list[dict[str, str]]]:
        """Run one Bulk API 2.0 query job; its CSV results, page by page."""
        base = await self._base()
        created = await self.client.http.post(
            f"{base}/jobs/query", json_body={"operation": "query", "query": soql}
        )
        job = created.body if isinstance(created.body, dict) else {}
        job_id = _text(job.get("id"))
        if not job_id:
            raise CrmError(f"{self.crm_name} did not create the Bulk API query job")
        for _ in range(self.max_polls):
            status = await self.client.http.get(f"{base}/jobs/query/{job_id}")
            state = _text((status.body or {}).get("state")) if isinstance(status.body, dict) else ""
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted"):
                message = _text((status.body or {}).get("errorMessage")) or state
                raise CrmError(f"{self.crm_name} Bulk API query job {state.lower()}: {message}")
            await self.sleep(self.poll_interval)
        else:
            raise CrmUnavailable(f"{self.crm_name} Bulk API query job did not finish in time")
        locator: str | None = None
        while True:
            params = {"maxRecords": str(self.bulk_page)}
            if locator:
                params["locator"] = locator
            result = await self.client.http.get(
                f"{base}/jobs/query/{job_id}/results",
                params=params,
                headers={"Accept": "text/csv"},
            )
            yield list(csv.DictReader(io.StringIO(result.text)))
            locator = result.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    async def _bulk(self, closed: str, instance: str, total: int) -> AsyncIterator[ExportPage]:
        conversations: dict[str, list[Message]] = {}
        parent_closed = closed.replace("IsClosed", "Parent.IsClosed").replace(
            "ClosedDate", "Parent.ClosedDate"
        )
        readers: list[tuple[str, str, MessageReader]] = [
            ("CaseComment", COMMENT_FIELDS, comment_message),
            ("EmailMessage", EMAIL_FIELDS, email_message),
        ]
        for sobject, fields, read in readers:
            async for rows in self._bulk_rows(
                f"SELECT {fields} FROM {sobject} WHERE {parent_closed}"
            ):
                for row in rows:
                    message = read(dict(row))
                    if message is not None and row.get("ParentId"):
                        conversations.setdefault(row["ParentId"], []).append(message)
        case_closed = parent_closed.replace("Parent.", "Case.")
        chats: dict[str, list[dict[str, Any]]] = {sobject: [] for sobject in CHAT_FIELDS}
        for sobject, fields in CHAT_FIELDS.items():
            if not await self._has(sobject):
                continue
            async for rows in self._bulk_rows(
                f"SELECT {fields} FROM {sobject} WHERE {case_closed}"
            ):
                chats[sobject].extend(dict(row) for row in rows)
        found = await self._chat_messages(chats["LiveChatTranscript"], chats["MessagingSession"])
        for case_id, messages in found.items():
            conversations.setdefault(case_id, []).extend(messages)
        async for rows in self._bulk_rows(f"SELECT {CASE_FIELDS} FROM Case WHERE {closed}"):
            page = ExportPage(expected=total)
            for row in rows:
                if not row.get("Id"):
                    page.unreadable.append(("?", "case without an Id"))
                    continue
                page.tickets.append(
                    self._case(dict(row), conversations.pop(row["Id"], []), instance)
                )
            yield page


def _last_stamp(rows: list[dict[str, Any]]) -> str | None:
    stamps = [parse_time(r.get("SystemModstamp")) for r in rows]
    found = [s for s in stamps if s is not None]
    return soql_time(max(found)) if found else None


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
