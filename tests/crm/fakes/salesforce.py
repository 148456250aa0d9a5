"""A fake Salesforce org: OAuth token endpoint, SOQL query with paging, sObject CRUD.

Follows the public documentation of:
* OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
  (and the Client Credentials Flow, ...id=sf.remoteaccess_oauth_client_credentials_flow.htm)
* REST API Developer Guide -- Execute a SOQL Query (``/services/data/vXX.X/query``,
  ``nextRecordsUrl`` paging), sObject Rows (GET/PATCH 204), Create a Record
  (201 ``{id, success, errors}``), Status Codes and Error Responses
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
  (error arrays ``[{"message", "errorCode", "fields"}]``; 401 INVALID_SESSION_ID;
  403 REQUEST_LIMIT_EXCEEDED)
* sObject Rows by External ID (``/sobjects/Obj/Field/value``): GET retrieves the record
  holding the value; PATCH upserts -- 201 ``{id, success, errors, created: true}`` when
  the value matched nothing, 200 ``{..., created: false}`` when it matched one record
  (updated), 300 with the matching records' URLs when it matched several, 404 NOT_FOUND
  when the field is not an external id of the object
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
* SOSL over the REST API (``GET /search?q=FIND {...} IN PHONE FIELDS RETURNING
  Obj(fields LIMIT n), ...`` -> ``{"searchRecords": [...]}``); phone-field search ignores
  formatting: a term's digits match a stored number whose digits (up to its extension,
  the first letter) are those digits or end with them
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_search.htm
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_sosl_in.htm
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_sosl_find.htm
* SOQL Quoted String Escape Sequences
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm

The SOQL subset understood: ``SELECT f, ... FROM Obj [WHERE expr] [LIMIT n]`` where
``expr`` combines ``Field = 'str'``, ``Field = null``, ``Field LIKE 'pat'`` with AND, OR and
parentheses. String literals are unescaped exactly as Salesforce documents; a stray
backslash or an unterminated literal is a 400 MALFORMED_QUERY, so unescaped user input
shows up either as a malformed query or as a broader match than intended.

Fault knobs: ``latency``, ``error_rate`` (seeded 500 UNKNOWN_EXCEPTION), ``throttle(n)``
(the next n requests get 403 REQUEST_LIMIT_EXCEEDED, the concurrent-request limit;
Salesforce sends no 429 and no Retry-After), ``request_limit_exceeded`` (403
REQUEST_LIMIT_EXCEEDED on every request: the org's daily total),
``fail_next`` (statuses the next requests get), ``expire_tokens()`` (401
INVALID_SESSION_ID), ``page_size``.
https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

API = "/services/data/v60.0"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

SCHEMA: dict[str, tuple[str, tuple[str, ...]]] = {
    "Account": ("001", ("Id", "Name", "Phone", "Website", "Industry", "BillingCity")),
    "Contact": (
        "003",
        (
            "Id",
            "FirstName",
            "LastName",
            "Name",
            "Email",
            "Phone",
            "MobilePhone",
            "AccountId",
            "Title",
            "Department",
        ),
    ),
    "Lead": (
        "00Q",
        (
            "Id",
            "FirstName",
            "LastName",
            "Name",
            "Email",
            "Phone",
            "MobilePhone",
            "Company",
            "Status",
        ),
    ),
    "Case": (
        "500",
        (
            "Id",
            "CaseNumber",
            "Subject",
            "Status",
            "Priority",
            "ContactId",
            "AccountId",
            "Description",
            "Origin",
            "IsClosed",
        ),
    ),
    "Opportunity": ("006", ("Id", "Name", "StageName", "Amount", "CloseDate", "AccountId")),
    "Task": (
        "00T",
        (
            "Id",
            "Subject",
            "Description",
            "Status",
            "WhoId",
            "WhatId",
            "ActivityDate",
            "TaskSubtype",
            "CallType",  # picklist Inbound / Internal / Outbound (Task object reference)
            "Priority",
            "Crmcard_Key__c",
        ),
    ),
}
# Fields marked "External ID" (and unique), per object: what upsert may key on.
EXTERNAL_IDS: dict[str, tuple[str, ...]] = {"Task": ("Crmcard_Key__c",)}
COMPUTED = {"Id", "Name", "CaseNumber"}
# Fields the describe marks createable but not updateable: an update (PATCH by id, or an
# upsert that matches a record) naming one is refused.  Task.TaskSubtype is one
# (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm:
# "Properties: Create, Filter, Group, Nillable, Restricted picklist, Sort").
CREATE_ONLY: dict[str, tuple[str, ...]] = {"Task": ("TaskSubtype",)}
# Text fields' lengths in the same Task reference (Subject: string 255, Description:
# textarea 32,000); a longer value is refused with 400 STRING_TOO_LONG, nothing written.
MAX_LENGTHS: dict[str, dict[str, int]] = {"Task": {"Subject": 255, "Description": 32_000}}
# Fields an insert must give, per object (the object reference's "Required" fields, not
# nillable and without a default): a Contact's LastName, a Lead's LastName and Company
# (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contact.htm,
# .../sforce_api_objects_lead.htm). An insert without one is a 400 REQUIRED_FIELD_MISSING
# naming them all; an unknown field name (``subject`` on Case, whose field is ``Subject``)
# is a 400 INVALID_FIELD, nothing written.
REQUIRED: dict[str, tuple[str, ...]] = {"Contact": ("LastName",), "Lead": ("LastName", "Company")}
# Audiences a JWT bearer assertion may name: the login hosts (production, sandbox) or
# the org's own URL (an Experience Cloud site / My Domain), per the JWT bearer flow doc.
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class SoqlError(Exception):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<sym>[(),=]|!=)|(?P<bad>\S))",
    re.S,
)
_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


@dataclass(frozen=True)
class Literal:
    """A SOQL string literal; ``like_escaped`` marks positions of \\% and \\_."""

    chars: tuple[tuple[str, bool], ...]

    @property
    def text(self) -> str:
        return "".join(c for c, _ in self.chars)

    def like_regex(self) -> re.Pattern[str]:
        parts = []
        for char, escaped in self.chars:
            if not escaped and char == "%":
                parts.append(".*")
            elif not escaped and char == "_":
                parts.append(".")
            else:
                parts.append(re.escape(char))
        return re.compile("".join(parts), re.I | re.S)


def _unescape(raw: str) -> Literal:
    body = raw[1:-1]
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body):
                raise SoqlError("stray backslash")
            n = body[i + 1]
            if n in _ESCAPES:
                out.append((_ESCAPES[n], False))
            elif n in "%_":
                out.append((n, True))
            elif n == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append((chr(int(body[i + 2 : i + 6], 16)), False))
                i += 4
            else:
                raise SoqlError(f"invalid escape \\{n}")
            i += 2
        else:
            out.append((c, False))
            i += 1
    return Literal(tuple(out))


def tokenize(soql: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    soql = soql.rstrip()
    while pos < len(soql):
        m = _TOKEN.match(soql, pos)
        if m is None or m.lastgroup == "bad":
            raise SoqlError(f"unexpected character at {pos}")
        kind = m.lastgroup
        assert kind is not None
        value: Any = m.group(kind)
        if kind == "str":
            value = _unescape(value)
        tokens.append((kind, value))
        pos = m.end()
    return tokens


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Any
    limit: int | None


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise SoqlError("unexpected end of query")
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "id" and token[1].upper() == word:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise SoqlError(f"expected {word}")

    def query(self) -> Query:
        self.expect_keyword("SELECT")
        fields = []
        while True:
            kind, value = self.take()
            if kind != "id":
                raise SoqlError("expected field")
            fields.append(value)
            if self.peek() == ("sym", ","):
                self.i += 1
                continue
            break
        self.expect_keyword("FROM")
        kind, sobject = self.take()
        if kind != "id" or sobject not in SCHEMA:
            raise SoqlError(f"sObject type '{sobject}' is not supported")
        where = self.expr() if self.keyword("WHERE") else None
        limit = None
        if self.keyword("LIMIT"):
            kind, value = self.take()
            if kind != "num":
                raise SoqlError("bad LIMIT")
            limit = int(value)
        if self.peek() is not None:
            raise SoqlError(f"unexpected token {self.peek()}")
        return Query(fields, sobject, where, limit)

    def expr(self) -> Any:
        node = self.conj()
        while self.keyword("OR"):
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Any:
        node = self.atom()
        while self.keyword("AND"):
            node = ("and", node, self.atom())
        return node

    def atom(self) -> Any:
        if self.peek() == ("sym", "("):
            self.i += 1
            node = self.expr()
            if self.take() != ("sym", ")"):
                raise SoqlError("expected )")
            return node
        kind, name = self.take()
        if kind != "id":
            raise SoqlError("expected field name")
        if self.keyword("LIKE"):
            op = "like"
        else:
            kind, op = self.take()
            if (kind, op) not in (("sym", "="), ("sym", "!=")):
                raise SoqlError("expected operator")
        kind, value = self.take()
        if kind == "id" and value.lower() == "null":
            value = None
        elif kind != "str":
            raise SoqlError("expected string literal")
        return (op, name, value)


def evaluate(node: Any, record: dict[str, Any]) -> bool:
    if node is None:
        return True
    op = node[0]
    if op == "or":
        return evaluate(node[1], record) or evaluate(node[2], record)
    if op == "and":
        return evaluate(node[1], record) and evaluate(node[2], record)
    _, name, literal = node
    if name not in record:
        raise SoqlError(f"No such column '{name}'")
    actual = record.get(name)
    if literal is None:
        return (actual is None) == (op == "=")
    if actual is None:
        return op == "!="
    if op == "like":
        return literal.like_regex().fullmatch(str(actual)) is not None
    equal = str(actual).lower() == literal.text.lower()
    return equal if op == "=" else not equal


# Phone fields per object (the describe's ``type: phone`` fields).
PHONE_FIELDS = {
    "Account": ("Phone",),
    "Contact": ("Phone", "MobilePhone"),
    "Lead": ("Phone", "MobilePhone"),
}
_SOSL = re.compile(
    r"^FIND\s*\{(?P<terms>[^{}]*)\}\s*IN\s+PHONE\s+FIELDS\s+RETURNING\s+(?P<returning>.+)$",
    re.I | re.S,
)
_RETURNING = re.compile(r"\s*(\w+)\s*\(([^()]*)\)\s*(?:,|$)")


def phone_search_matches(stored: Any, term: str) -> bool:
    """SOSL phone-field matching: formatting ignored, the extension left out."""
    if not isinstance(stored, str) or not term:
        return False
    digits = re.sub(r"\D", "", re.split(r"[A-Za-z]", stored, maxsplit=1)[0])
    return bool(digits) and digits.endswith(term)


def create_only_problem(sobject: str, body: dict[str, Any]) -> web.Response | None:
    named = [f for f in CREATE_ONLY.get(sobject, ()) if f in body]
    if not named:
        return None
    return sf_errors(
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(named)}. Please check the security "
        "settings of this field and verify that it is read/write for your profile or "
        "permission set.",
        named,
    )


def sf_errors(
    status: int, code: str, message: str, fields: list[str] | None = None
) -> web.Response:
    return web.json_response(
        [{"message": message, "errorCode": code, "fields": fields or []}], status=status
    )


@dataclass
class FakeSalesforce:
    public_key_pem: str
    client_id: str = "sf-consumer-key"
    client_secret: str = "sf-consumer-secret"
    users: set[str] = field(default_factory=lambda: {"integration@acme.example"})
    base_url: str = ""
    page_size: int = 2000
    latency: float = 0.0
    error_rate: float = 0.0
    throttle_next: int = 0
    request_limit_exceeded: bool = False
    fail_next: list[int] = field(default_factory=list)
    external_ids: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(EXTERNAL_IDS))
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in SCHEMA}
    )
    closed_case_statuses: set[str] = field(default_factory=lambda: {"Closed"})
    """The org's Case statuses flagged closed: a case in one has IsClosed true."""
    tokens: dict[str, bool] = field(default_factory=dict)
    token_grants: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _cursors: dict[str, tuple[list[dict[str, Any]], int]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/services/oauth2/token", self._token)
        app.router.add_get(f"{API}/query", self._query)
        app.router.add_get(f"{API}/query/{{locator}}", self._query_more)
        app.router.add_get(f"{API}/search", self._search)
        app.router.add_post(f"{API}/sobjects/{{type}}", self._create)
        app.router.add_get(f"{API}/sobjects/{{type}}/{{id}}", self._get)
        app.router.add_patch(f"{API}/sobjects/{{type}}/{{id}}", self._update)
        app.router.add_get(f"{API}/sobjects/{{type}}/{{field}}/{{value}}", self._get_by_external)
        app.router.add_patch(f"{API}/sobjects/{{type}}/{{field}}/{{value}}", self._upsert)
        return app

    # -- data ----------------------------------------------------------------------------

    def add(self, sobject: str, **values: Any) -> str:
        prefix, columns = SCHEMA[sobject]
        record_id = f"{prefix}{next(self._ids):015d}"
        record = {c: None for c in columns}
        record.update(values)
        record["Id"] = record_id
        self._compute(sobject, record)
        self.records[sobject][record_id] = record
        return record_id

    def _compute(self, sobject: str, record: dict[str, Any]) -> None:
        if sobject in ("Contact", "Lead"):
            record["Name"] = " ".join(
                p for p in (record.get("FirstName"), record.get("LastName")) if p
            )
        if sobject == "Case" and not record.get("CaseNumber"):
            record["CaseNumber"] = f"{len(self.records['Case']) + 1:08d}"
        if sobject == "Case":
            record["IsClosed"] = record.get("Status") in self.closed_case_statuses

    def expire_tokens(self) -> None:
        for token in self.tokens:
            self.tokens[token] = False

    def throttle(self, count: int) -> None:
        self.throttle_next = count

    def _view(self, sobject: str, record: dict[str, Any], fields: list[str] | None = None):
        shown = {k: record[k] for k in (fields or record) if k in record}
        return {
            "attributes": {"type": sobject, "url": f"{API}/sobjects/{sobject}/{record['Id']}"},
            **shown,
        }

    # -- middleware: faults and auth ------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.throttle_next > 0:  # Salesforce answers API limits with 403, not 429
            self.throttle_next -= 1
            return sf_errors(
                403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."
            )
        if self.fail_next:
            return sf_errors(self.fail_next.pop(0), "UNKNOWN_EXCEPTION", "Injected failure")
        if self.error_rate and self._rng.random() < self.error_rate:
            return sf_errors(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred")
        if request.path != "/services/oauth2/token":
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer ") or not self.tokens.get(header[7:]):
                return sf_errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if self.request_limit_exceeded:
                return sf_errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        result: web.StreamResponse = await handler(request)
        return result

    # -- OAuth --------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        if grant == JWT_GRANT:
            try:
                claims = jwt.decode(
                    str(form.get("assertion", "")),
                    self.public_key_pem,
                    algorithms=["RS256"],
                    audience=[*LOGIN_AUDIENCES, self.base_url],
                    issuer=self.client_id,
                    options={"require": ["exp", "iss", "aud", "sub"]},
                )
            except jwt.PyJWTError as exc:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": f"invalid assertion: {exc}"},
                    status=400,
                )
            if claims["exp"] - time.time() > 300:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "expiration too far"},
                    status=400,
                )
            if claims["sub"] not in self.users:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "user hasn't approved"},
                    status=400,
                )
        elif grant == "client_credentials":
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id,
                self.client_secret,
            ):
                return web.json_response(
                    {"error": "invalid_client", "error_description": "invalid client credentials"},
                    status=400,
                )
        else:
            return web.json_response(
                {"error": "unsupported_grant_type", "error_description": "grant type"},
                status=400,
            )
        token = f"00Dfake!{uuid.uuid4().hex}"
        self.tokens[token] = True
        self.token_grants.append(grant)
        return web.json_response(
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": f"{self.base_url}/id/00Dfake/005fake",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "scope": "api",
                "signature": "c2lnbmF0dXJl",
            }
        )

    # -- query ----------------------------------------------------------------------------

    async def _query(self, request: web.Request) -> web.Response:
        soql = request.query.get("q", "")
        self.queries.append(soql)
        try:
            query = _Parser(tokenize(soql)).query()
            for name in query.fields:
                if name not in SCHEMA[query.sobject][1]:
                    raise SoqlError(f"No such column '{name}' on entity '{query.sobject}'")
            rows = [
                self._view(query.sobject, r, query.fields)
                for r in self.records[query.sobject].values()
                if evaluate(query.where, r)
            ]
        except SoqlError as exc:
            code = "INVALID_FIELD" if "No such column" in str(exc) else "MALFORMED_QUERY"
            return sf_errors(400, code, str(exc))
        if query.limit is not None:
            rows = rows[: query.limit]
        return self._page(rows, 0)

    def _page(self, rows: list[dict[str, Any]], start: int) -> web.Response:
        chunk = rows[start : start + self.page_size]
        body: dict[str, Any] = {
            "totalSize": len(rows),
            "done": start + self.page_size >= len(rows),
            "records": chunk,
        }
        if not body["done"]:
            locator = f"01gFAKE{uuid.uuid4().hex[:8]}-{start + self.page_size}"
            self._cursors[locator] = (rows, start + self.page_size)
            body["nextRecordsUrl"] = f"{API}/query/{locator}"
        return web.json_response(body)

    async def _search(self, request: web.Request) -> web.Response:
        sosl = request.query.get("q", "")
        self.searches.append(sosl)
        match = _SOSL.match(sosl.strip())
        if match is None:
            return sf_errors(400, "MALFORMED_SEARCH", "only FIND {...} IN PHONE FIELDS here")
        terms = [
            re.sub(r"\D", "", t) for t in re.split(r"\s+OR\s+", match["terms"].strip(), flags=re.I)
        ]
        found: list[dict[str, Any]] = []
        for sobject, spec in _RETURNING.findall(match["returning"]):
            if sobject not in PHONE_FIELDS:
                return sf_errors(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported")
            columns, _, limit = spec.upper().partition(" LIMIT ")
            fields = [f.strip() for f in spec[: len(columns)].split(",") if f.strip()]
            for name in fields:
                if name not in SCHEMA[sobject][1]:
                    return sf_errors(400, "INVALID_FIELD", f"No such column '{name}'")
            rows = [
                self._view(sobject, r, fields)
                for r in self.records[sobject].values()
                if any(
                    phone_search_matches(r.get(f), t) for f in PHONE_FIELDS[sobject] for t in terms
                )
            ]
            found += rows[: int(limit)] if limit.strip().isdigit() else rows
        return web.json_response({"searchRecords": found})

    async def _query_more(self, request: web.Request) -> web.Response:
        cursor = self._cursors.pop(request.match_info["locator"], None)
        if cursor is None:
            return sf_errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(*cursor)

    # -- sObject rows -------------------------------------------------------------------

    def _sobject(self, request: web.Request) -> str | web.Response:
        sobject = request.match_info["type"]
        if sobject not in SCHEMA:
            return sf_errors(404, "NOT_FOUND", "The requested resource does not exist")
        return sobject

    async def _get(self, request: web.Request) -> web.Response:
        sobject = self._sobject(request)
        if isinstance(sobject, web.Response):
            return sobject
        record = self.records[sobject].get(request.match_info["id"])
        if record is None:
            return sf_errors(404, "NOT_FOUND", "The requested resource does not exist")
        fields = request.query.get("fields")
        return web.json_response(self._view(sobject, record, fields.split(",") if fields else None))

    def _check_fields(self, sobject: str, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return sf_errors(400, "JSON_PARSER_ERROR", "Cannot deserialize request")
        for name in body:
            if name not in SCHEMA[sobject][1] or name in COMPUTED:
                return sf_errors(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                )
        for name, limit in MAX_LENGTHS.get(sobject, {}).items():
            value = body.get(name)
            if isinstance(value, str) and len(value) > limit:
                return sf_errors(
                    400,
                    "STRING_TOO_LONG",
                    f"{name}: data value too large: {value[:20]}... (max length={limit})",
                    [name],
                )
        for name, prefix in (("AccountId", "001"), ("ContactId", "003")):
            value = body.get(name)
            if value and (
                not str(value).startswith(prefix)
                or value not in self.records["Account" if prefix == "001" else "Contact"]
            ):
                return sf_errors(
                    400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name]
                )
        return None

    async def _create(self, request: web.Request) -> web.Response:
        sobject = self._sobject(request)
        if isinstance(sobject, web.Response):
            return sobject
        body = await request.json()
        problem = self._check_fields(sobject, body)
        if problem:
            return problem
        missing = [name for name in REQUIRED.get(sobject, ()) if not body.get(name)]
        if missing:
            return sf_errors(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        email = body.get("Email")
        if (
            sobject == "Contact"
            and email
            and any(
                (r.get("Email") or "").lower() == email.lower()
                for r in self.records["Contact"].values()
            )
        ):
            return sf_errors(400, "DUPLICATES_DETECTED", "Use one of these records?", [])
        record_id = self.add(sobject, **body)
        return web.json_response({"id": record_id, "success": True, "errors": []}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        sobject = self._sobject(request)
        if isinstance(sobject, web.Response):
            return sobject
        record = self.records[sobject].get(request.match_info["id"])
        if record is None:
            return sf_errors(404, "NOT_FOUND", "The requested resource does not exist")
        body = await request.json()
        problem = self._check_fields(sobject, body) or create_only_problem(sobject, body)
        if problem:
            return problem
        record.update(body)
        self._compute(sobject, record)
        return web.Response(status=204)

    # -- sObject rows by external id ------------------------------------------------------

    def _external(self, request: web.Request) -> tuple[str, str, str] | web.Response:
        sobject = self._sobject(request)
        if isinstance(sobject, web.Response):
            return sobject
        name = request.match_info["field"]
        if name not in self.external_ids.get(sobject, ()):
            return sf_errors(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {name}",
            )
        return sobject, name, request.match_info["value"]

    def _matching(self, sobject: str, name: str, value: str) -> list[dict[str, Any]]:
        return [r for r in self.records[sobject].values() if r.get(name) == value]

    async def _get_by_external(self, request: web.Request) -> web.Response:
        key = self._external(request)
        if isinstance(key, web.Response):
            return key
        sobject, name, value = key
        found = self._matching(sobject, name, value)
        if not found:
            return sf_errors(404, "NOT_FOUND", "The requested resource does not exist")
        if len(found) > 1:
            return web.json_response(
                [f"{API}/sobjects/{sobject}/{r['Id']}" for r in found], status=300
            )
        fields = request.query.get("fields")
        return web.json_response(
            self._view(sobject, found[0], fields.split(",") if fields else None)
        )

    async def _upsert(self, request: web.Request) -> web.Response:
        key = self._external(request)
        if isinstance(key, web.Response):
            return key
        sobject, name, value = key
        body = await request.json()
        problem = self._check_fields(sobject, body)
        if problem:
            return problem
        if name in body and body[name] != value:
            return sf_errors(
                400, "INVALID_FIELD", f"The external ID field {name} differs from the URL", [name]
            )
        found = self._matching(sobject, name, value)
        if len(found) > 1:
            return web.json_response(
                [f"{API}/sobjects/{sobject}/{r['Id']}" for r in found], status=300
            )
        if found:
            record = found[0]
            problem = create_only_problem(sobject, body)
            if problem:
                return problem
            record.update(body)
            self._compute(sobject, record)
            return web.json_response(
                {"id": record["Id"], "success": True, "errors": [], "created": False}
            )
        record_id = self.add(sobject, **{**body, name: value})
        return web.json_response(
            {"id": record_id, "success": True, "errors": [], "created": True}, status=201
        )
