# Follows Salesforce's published contracts for what the ticket sync reads:
#   REST query: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
#     GET /services/data/vXX.X/query?q=SOQL -> {"totalSize", "done", "records",
#     "nextRecordsUrl"}; each record has "attributes" {"type", "url"}; relationship fields
#     are nested objects (null when empty); child subqueries are nested query results,
#     null when the parent has no children; SELECT COUNT() answers totalSize, no records.
#   Child subquery results are paged like any query result: a parent with more children
#   than a batch (about 200) gets the first batch with "done": false and its own
#   "nextRecordsUrl", read like the outer query's; see "Understanding Query Results":
#   https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships_query_results.htm
#   SOQL datetime literals: https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm
#   Bulk API 2.0 query: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/queries.htm
#     POST /jobs/query {"operation": "query", "query"} -> job info (state UploadComplete);
#     GET /jobs/query/{id} -> state InProgress ... JobComplete; GET
#     /jobs/query/{id}/results?maxRecords=&locator= -> CSV (relationship columns dotted,
#     booleans true/false, nulls empty) with Sforce-Locator ("null" on the last page) and
#     Sforce-NumberOfRecords headers. Bulk queries take no child subqueries.
#   Errors: [{"message", "errorCode"}]; REQUEST_LIMIT_EXCEEDED is 403.
#   Chat transcripts (legacy Chat, retired 2026-02-14) are LiveChatTranscript records, the
#   chat's text in Body (HTML), the case in CaseId:
#   https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_livechattranscript.htm
#   Messaging (Messaging for In-App and Web, WhatsApp, SMS, Facebook, Apple) sessions are
#   MessagingSession records (CaseId, StartTime, EndTime, ConversationId -> Conversation
#   with its ConversationIdentifier); the messages are not SOQL records but conversation
#   entries of the Connect REST API, GET /connect/conversation/{ConversationIdentifier}/
#   entries?startTimestamp=&endTimestamp= (ms), queryDirection (FromEnd by default,
#   FromStart), recordLimit (1-1000, 25 by default) -> {"conversationEntries": [{
#   "identifier", "messageText", "sender": {"appType", "role", "subject"},
#   "serverReceivedTimestamp" (ms), "clientTimestamp", "clientDuration",
#   "relatedRecords"}]}. No page parameter is documented (the GET parameters are these
#   four; the fake answers no next-page link or "more" flag): for a window holding more
#   entries than recordLimit the fake answers the first recordLimit in the query's
#   direction (FromEnd: the newest first), and the rest are read by asking again from the
#   last one's serverReceivedTimestamp (whether startTimestamp itself is in the window is
#   not documented: the fake does either, ``entries_after_start``). The resource is meant
#   for single conversations,
#   with its own hourly rate limit (1,000 calls per app and user by default):
#   https://help.salesforce.com/apex/HTViewHelpDoc?id=service.access_conv_data_using_conversation_entries.htm
#   A Conversation spans every session with that end user:
#   https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_messagingsession.htm
#   https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_conversation.htm
#   https://developer.salesforce.com/docs/atlas.en-us.chatterapi.meta/chatterapi/connect_resources_conversation_entries.htm
#   An org has LiveChatTranscript only with Chat, MessagingSession only with Messaging;
#   querying an object the org lacks answers 400 [{"errorCode": "INVALID_TYPE", "message":
#   "sObject type 'X' is not supported."}]. Describe Global, GET /sobjects -> {"encoding",
#   "maxBatchSize", "sobjects": [{"name", "label", "queryable", ...}]}, lists the org's:
#   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_describeGlobal.htm
#   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
# The SOQL understood is the subset the sync sends: one FROM object, conditions joined by
# AND (=, >=, IN, != null, on a field or a Parent./Case./Contact. path), ORDER BY, child
# subqueries on CaseComments and EmailMessages.
"""A contract fake of the Salesforce REST query and Bulk API 2.0 endpoints, for tickets."""

from __future__ import annotations

import csv
import io
import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

API = "/services/data/v60.0"
TOKEN = "sf-ticket-token"

_SUBQUERY = re.compile(r"\(SELECT[^()]*FROM\s+(\w+)[^()]*\)", re.IGNORECASE)
_CONDITION = re.compile(r"^([\w.]+)\s*(=|>=|!=|IN)\s*(.+)$", re.IGNORECASE)


def sf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _parse_time(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    if text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text)


def _value(raw: str) -> Any:
    raw = raw.strip()
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    if raw.startswith("("):
        return [v.strip().strip("'") for v in raw.strip("()").split(",")]
    if raw.startswith("'"):
        return raw.strip("'")
    return _parse_time(raw)


@dataclass
class SalesforceExports:
    users: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[dict[str, Any]] = field(default_factory=list)
    messaging_sessions: list[dict[str, Any]] = field(default_factory=list)
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """ConversationIdentifier -> the conversation's entries, oldest first."""
    entries_after_start: bool = False
    """Whether ``startTimestamp`` leaves out the entries at that very millisecond: the
    documentation does not say whether the window's start is inclusive, so the fake
    takes either (inclusive by default)."""
    chat_objects: tuple[str, ...] = ("LiveChatTranscript", "MessagingSession")
    """The chat objects the org has (Chat, Messaging switched on)."""
    batch_size: int = 2000
    child_batch_size: int = 200
    """Child subquery rows per batch (the rest behind the relationship's nextRecordsUrl)."""
    queries: list[str] = field(default_factory=list)
    bulk_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _cursors: dict[str, tuple[list[dict[str, Any]], int, int]] = field(default_factory=dict)

    # -- data -----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):015d}"[:18]

    def add_user(self, first: str | None, last: str, email: str | None, *, at: datetime) -> str:
        user_id = self._id("005")
        self.users.append(
            {
                "Id": user_id,
                "FirstName": first,
                "LastName": last,
                "Email": email,
                "IsActive": True,
                "UserType": "Standard",
                "SystemModstamp": sf_time(at),
            }
        )
        return user_id

    def change(
        self, records: list[dict[str, Any]], record_id: str, at: datetime, **values: Any
    ) -> None:
        record = next(r for r in records if r["Id"] == record_id)
        record.update(values, SystemModstamp=sf_time(at))

    def add_case(
        self,
        subject: str,
        *,
        owner: str,
        closed_at: datetime | None,
        origin: str = "Email",
        contact: dict[str, str] | None = None,
        at: datetime,
    ) -> str:
        case_id = self._id("500")
        self.cases.append(
            {
                "Id": case_id,
                "CaseNumber": f"{len(self.cases) + 1:08d}",
                "Subject": subject,
                "Status": "Closed" if closed_at else "New",
                "IsClosed": closed_at is not None,
                "ClosedDate": sf_time(closed_at) if closed_at else None,
                "CreatedDate": sf_time(at),
                "Origin": origin,
                "OwnerId": owner,
                "SuppliedName": None,
                "SuppliedEmail": None,
                "SuppliedPhone": None,
                "Contact": contact,
                "SystemModstamp": sf_time(at),
            }
        )
        return case_id

    def add_comment(self, case_id: str, body: str, *, by: str, at: datetime) -> None:
        self.comments.append(
            {
                "Id": self._id("00a"),
                "ParentId": case_id,
                "CommentBody": body,
                "IsPublished": True,
                "CreatedDate": sf_time(at),
                "CreatedBy": {"Name": by},
                "SystemModstamp": sf_time(at),
            }
        )

    def add_email(
        self, case_id: str, body: str, *, sender: str, incoming: bool, at: datetime
    ) -> None:
        self.emails.append(
            {
                "Id": self._id("02s"),
                "ParentId": case_id,
                "TextBody": body,
                "FromName": sender,
                "Incoming": incoming,
                "MessageDate": sf_time(at),
                "SystemModstamp": sf_time(at),
            }
        )

    def add_transcript(self, case_id: str, body: str, *, at: datetime) -> None:
        """A legacy Chat transcript of the case (Body as Chat stores it: HTML)."""
        self.transcripts.append(
            {
                "Id": self._id("570"),
                "CaseId": case_id,
                "Body": body,
                "StartTime": sf_time(at),
                "EndTime": sf_time(at),
                "CreatedDate": sf_time(at),
                "SystemModstamp": sf_time(at),
            }
        )

    def add_messaging_session(
        self,
        case_id: str,
        conversation: str,
        messages: list[tuple[str, str]],
        *,
        at: datetime,
        ended: datetime,
    ) -> None:
        """A Messaging session of the case in ``conversation`` (its identifier), with
        (sender role, text) messages a minute apart from ``at``."""
        self.messaging_sessions.append(
            {
                "Id": self._id("0Mw"),
                "CaseId": case_id,
                "StartTime": sf_time(at),
                "EndTime": sf_time(ended),
                "Conversation": {"ConversationIdentifier": conversation},
                "SystemModstamp": sf_time(ended),
            }
        )
        entries = self.entries.setdefault(conversation, [])
        for n, (role, text) in enumerate(messages):
            stamp = int((at.timestamp() + 60 * n) * 1000)
            entries.append(
                {
                    "identifier": f"{conversation}-{len(entries)}",
                    "messageText": text,
                    "sender": {"appType": "chat", "role": role, "subject": f"{role}-id"},
                    "serverReceivedTimestamp": stamp,
                    "clientTimestamp": stamp,
                    "clientDuration": 0,
                    "relatedRecords": [],
                }
            )

    # -- SOQL -----------------------------------------------------------------------------

    def _table(self, sobject: str) -> list[dict[str, Any]]:
        return {
            "User": self.users,
            "Case": self.cases,
            "CaseComment": self.comments,
            "EmailMessage": self.emails,
            "LiveChatTranscript": self.transcripts,
            "MessagingSession": self.messaging_sessions,
        }[sobject]

    def _field(self, record: dict[str, Any], path: str) -> Any:
        head, _, rest = path.partition(".")
        if rest and head in ("Parent", "Case"):
            key = record.get(f"{head}Id")
            parent = next((c for c in self.cases if c["Id"] == key), {})
            return parent.get(rest)
        if rest:
            nested = record.get(head) or {}
            return nested.get(rest)
        return record.get(path)

    def _matches(self, record: dict[str, Any], where: str) -> bool:
        for clause in filter(None, (c.strip() for c in re.split(r"\s+AND\s+", where))):
            match = _CONDITION.match(clause)
            assert match, f"the fake does not understand {clause!r}"
            path, op, raw = match.groups()
            actual, expected = self._field(record, path), _value(raw)
            if isinstance(expected, datetime):
                if actual is None:
                    return False
                actual = _parse_time(actual)
            if op == "=" and actual != expected:
                return False
            if op == ">=" and not actual >= expected:
                return False
            if op == "!=" and actual == expected:
                return False
            if op.upper() == "IN" and actual not in expected:
                return False
        return True

    def lacks(self, soql: str) -> str | None:
        """The object a query names that the org does not have, if any."""
        found = re.search(r"\sFROM\s+(LiveChatTranscript|MessagingSession)\b", soql)
        return found.group(1) if found and found.group(1) not in self.chat_objects else None

    def run(self, soql: str) -> tuple[list[dict[str, Any]], bool]:
        """The matching records (REST shape) and whether it was a COUNT() query."""
        self.queries.append(soql)
        children = _SUBQUERY.findall(soql)
        outer = _SUBQUERY.sub("", soql)
        match = re.search(
            r"SELECT\s+(.*?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.*?))?(?:\s+ORDER BY\s+(.*))?$",
            outer,
            re.IGNORECASE | re.DOTALL,
        )
        assert match, f"the fake does not understand {soql!r}"
        fields, sobject, where, order = match.groups()
        rows = [r for r in self._table(sobject) if self._matches(r, where or "")]
        if order:
            keys = [k.strip() for k in order.split(",")]
            rows.sort(key=lambda r: tuple(str(r.get(k) or "") for k in keys))
        shaped = []
        for row in rows:
            view = {"attributes": {"type": sobject, "url": f"{API}/sobjects/{sobject}/{row['Id']}"}}
            view.update(row)
            for relation in children:
                source = self.comments if relation == "CaseComments" else self.emails
                kids = [k for k in source if k["ParentId"] == row["Id"]]
                view[relation] = self._batch(kids, 0, self.child_batch_size) if kids else None
            shaped.append(view)
        return shaped, fields.strip().upper() == "COUNT()"

    # -- HTTP -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get(f"{API}/sobjects", self._describe_global)
        app.router.add_get(f"{API}/query", self._query)
        app.router.add_get(f"{API}/query/{{cursor}}", self._more)
        app.router.add_post(f"{API}/jobs/query", self._create_job)
        app.router.add_get(f"{API}/jobs/query/{{job}}", self._job)
        app.router.add_get(f"{API}/jobs/query/{{job}}/results", self._results)
        app.router.add_get(f"{API}/connect/conversation/{{conversation}}/entries", self._entries)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                status=401,
            )
        return await handler(request)

    def _batch(self, rows: list[dict[str, Any]], start: int, size: int) -> dict[str, Any]:
        """One batch of a query result; a locator for the rest when there is more."""
        chunk = rows[start : start + size]
        done = start + size >= len(rows)
        body: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": chunk}
        if not done:
            cursor = f"01g{len(self._cursors):012d}-{start + size}"
            self._cursors[cursor] = (rows, start + size, size)
            body["nextRecordsUrl"] = f"{API}/query/{cursor}"
        return body

    def _page(self, rows: list[dict[str, Any]], start: int) -> web.Response:
        return web.json_response(self._batch(rows, start, self.batch_size))

    def _invalid_type(self, soql: str) -> web.Response | None:
        missing = self.lacks(soql)
        if missing is None:
            return None
        message = f"sObject type '{missing}' is not supported."
        return web.json_response([{"message": message, "errorCode": "INVALID_TYPE"}], status=400)

    async def _describe_global(self, request: web.Request) -> web.Response:
        names = ["User", "Case", "CaseComment", "EmailMessage", *self.chat_objects]
        return web.json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [{"name": n, "label": n, "queryable": True} for n in names],
            }
        )

    async def _query(self, request: web.Request) -> web.Response:
        refused = self._invalid_type(request.query["q"])
        if refused is not None:
            return refused
        rows, count = self.run(request.query["q"])
        if count:
            return web.json_response({"totalSize": len(rows), "done": True, "records": []})
        return self._page(rows, 0)

    async def _more(self, request: web.Request) -> web.Response:
        self.queries.append(request.path)
        found = self._cursors.pop(request.match_info["cursor"], None)
        if found is None:
            return web.json_response(
                [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}],
                status=400,
            )
        rows, start, size = found
        return web.json_response(self._batch(rows, start, size))

    async def _entries(self, request: web.Request) -> web.Response:
        self.queries.append(request.path_qs)
        found = self.entries.get(request.match_info["conversation"])
        if found is None:
            return web.json_response(
                [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
                status=404,
            )
        start = int(request.query.get("startTimestamp", "0"))
        end = int(request.query.get("endTimestamp", str(2**62)))
        limit = int(request.query.get("recordLimit", "25"))
        if not 1 <= limit <= 1000:
            return web.json_response(
                [{"message": "recordLimit must be 1-1000", "errorCode": "INVALID_INPUT"}],
                status=400,
            )
        after = start + 1 if self.entries_after_start else start
        within = [e for e in found if after <= e["serverReceivedTimestamp"] <= end]
        if request.query.get("queryDirection", "FromEnd") == "FromEnd":
            within = within[::-1]
        return web.json_response({"conversationEntries": within[:limit]})

    async def _create_job(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = self._invalid_type(body["query"])
        if refused is not None:
            return refused
        job_id = f"750{len(self.bulk_jobs):015d}"
        rows, _ = self.run(body["query"])
        self.bulk_jobs[job_id] = {"query": body["query"], "rows": rows, "polls": 0}
        return web.json_response(
            {"id": job_id, "operation": "query", "object": "x", "state": "UploadComplete"}
        )

    async def _job(self, request: web.Request) -> web.Response:
        job = self.bulk_jobs[request.match_info["job"]]
        job["polls"] += 1
        state = "InProgress" if job["polls"] == 1 else "JobComplete"
        return web.json_response(
            {
                "id": request.match_info["job"],
                "state": state,
                "numberRecordsProcessed": len(job["rows"]),
            }
        )

    async def _results(self, request: web.Request) -> web.Response:
        job = self.bulk_jobs[request.match_info["job"]]
        fields = [
            f.strip()
            for f in re.search(r"SELECT\s+(.*?)\s+FROM\s", job["query"], re.I | re.S)
            .group(1)
            .split(",")  # type: ignore[union-attr]
        ]
        size = int(request.query.get("maxRecords", "50000"))
        start = int(request.query.get("locator") or 0)
        chunk = job["rows"][start : start + size]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(fields)
        for row in chunk:
            values = []
            for name in fields:
                value = self._field(row, name)
                values.append(
                    ""
                    if value is None
                    else str(value).lower()
                    if isinstance(value, bool)
                    else value
                )
            writer.writerow(values)
        following = start + size
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            headers={
                "Sforce-Locator": str(following) if following < len(job["rows"]) else "null",
                "Sforce-NumberOfRecords": str(len(chunk)),
            },
        )
