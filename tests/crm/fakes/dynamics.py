"""A fake Dataverse (Dynamics 365) Web API v9.2 organisation.

Follows the public documentation of:
* Query data using the Web API (``$select``, ``$filter``, ``$top``, ``Prefer:
  odata.maxpagesize``, ``@odata.nextLink`` paging)
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/overview
* Create a table row using the Web API (``204 No Content`` + ``OData-EntityId``;
  associating rows with ``<navigation property>@odata.bind``; the primary key value may be
  chosen by the client, and a value already in use is refused: 412 with code
  ``0x80040237`` "Cannot insert duplicate key" -- activities share one key space,
  ``activityid`` of activitypointer, so a task and a phonecall cannot share an id)
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
  https://learn.microsoft.com/troubleshoot/power-platform/dataverse/user-permissions/client-errors
* Update and delete table rows (``PATCH`` with ``If-Match: *`` to prevent an upsert)
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api
* Compose HTTP requests and handle errors (``{"error": {"code", "message"}}``)
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
* Service protection API limits (429 + ``Retry-After``, codes 0x80072322/21/26)
  https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
* Wildcards in string functions (``[%]``, ``[_]``, ``[[]`` escapes in ``contains``)
  https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows

``$filter`` subset: ``field eq 'str'``, ``field eq <guid>``, ``field eq null``,
``contains(field,'str')``, ``startswith(field,'str')`` (on the raw column string, as
Dataverse: no phone normalisation) combined with ``and``/``or``/parentheses. String literals use
OData quoting (``''`` is one quote); anything else is a 400 syntax error.

Access tokens are checked against the :class:`FakeEntra` that issued them (audience =
the org URL's ``/.default`` scope).

Security roles, as far as a caller sees rows
(https://learn.microsoft.com/power-platform/admin/security-roles-privileges, "Access
levels"; sharing: https://learn.microsoft.com/power-apps/developer/data-platform/security-sharing-assigning):
an app-only token is the application user, whose role reads at Organization level (every
row); a user's token (On-Behalf-Of) is that user's, whose role reads at User level unless
``organization_users`` names them: they see the rows they own (``owner=`` of :meth:`add`,
the creator of a row) and the rows shared with them (:meth:`share`); a list leaves the
others out, a retrieve or update of one is refused with 403 ``0x80040220`` as Dataverse's
``SecLib::AccessCheckEx`` refusal is, and so is a new activity regarding a row the user
cannot see (AppendTo). Fault knobs: ``latency``, ``error_rate``,
``throttle(n, retry_after, code)`` (service-protection 429 bursts), ``fail_next``,
token expiry through ``FakeEntra.expire_all()``.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from aiohttp import web

from tests.crm.fakes.entra import FakeEntra

API = "/api/data/v9.2"

# entity set -> (logical name, primary key, columns)
ENTITIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "accounts": (
        "account",
        "accountid",
        ("accountid", "name", "telephone1", "emailaddress1", "websiteurl", "address1_city"),
    ),
    "contacts": (
        "contact",
        "contactid",
        (
            "contactid",
            "firstname",
            "lastname",
            "fullname",
            "emailaddress1",
            "telephone1",
            "mobilephone",
            "jobtitle",
            "_parentcustomerid_value",
        ),
    ),
    "leads": (
        "lead",
        "leadid",
        (
            "leadid",
            "firstname",
            "lastname",
            "fullname",
            "emailaddress1",
            "telephone1",
            "mobilephone",
            "companyname",
        ),
    ),
    "incidents": (
        "incident",
        "incidentid",
        (
            "incidentid",
            "title",
            "ticketnumber",
            "description",
            "statecode",
            "statuscode",
            "_customerid_value",
        ),
    ),
    "opportunities": (
        "opportunity",
        "opportunityid",
        ("opportunityid", "name", "estimatedvalue", "_parentaccountid_value"),
    ),
    "tasks": (
        "task",
        "activityid",
        (
            "activityid",
            "subject",
            "description",
            "_regardingobjectid_value",
            "statecode",
            "statuscode",
        ),
    ),
    "phonecalls": (
        "phonecall",
        "activityid",
        (
            "activityid",
            "subject",
            "description",
            "_regardingobjectid_value",
            "directioncode",
            "statecode",
            "statuscode",
        ),
    ),
}
SETS_BY_LOGICAL = {logical: name for name, (logical, _, _) in ENTITIES.items()}
# Valid (statecode, statuscode) pairs of activities and cases; a row created without them
# is Open (a case Active) with the default status.
#   https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/task
#   https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/phonecall
#   https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/incident
STATES: dict[str, dict[int, tuple[int, ...]]] = {
    "tasks": {0: (2, 3, 4, 7), 1: (5,), 2: (6,)},
    "phonecalls": {0: (1,), 1: (2, 4), 2: (3,)},
    "incidents": {0: (1, 2, 3, 4), 1: (5, 1000), 2: (6, 2000)},
}
DEFAULT_STATE = {"tasks": (0, 2), "phonecalls": (0, 1), "incidents": (0, 1)}
# Text columns' documented MaxLength (the same three reference pages; a case's title and
# description: https://learn.microsoft.com/dynamics365/customerengagement/on-premises/developer/entities/incident).
# A longer value is refused as Dataverse refuses it: 400, code 0x80044331 (validation
# failed, "StringLengthTooLong"), nothing written.
MAX_LENGTHS: dict[str, dict[str, int]] = {
    "tasks": {"subject": 200, "description": 2000},
    "phonecalls": {"subject": 200, "description": 2000},
    "incidents": {"title": 200, "description": 2000},
}
STRING_LENGTH_TOO_LONG = "0x80044331"
SERVICE_PROTECTION = {
    "0x80072322": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    "0x80072321": "Combined execution time of incoming requests exceeded limit of 1,200,000 "
    "milliseconds over time window of 300 seconds. Decrease number of concurrent requests "
    "or reduce the duration of requests and try again later.",
    "0x80072326": "Number of concurrent requests exceeded the limit of 52.",
}
# Lookups a new row must bind, per entity set: a case belongs to a customer (incident
# ``customerid``, RequiredLevel SystemRequired, an account or a contact,
# https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/incident#BKMK_CustomerId),
# refused without one as Dataverse's platform does (its code here: InvalidArgument).
# Columns of RequiredLevel ApplicationRequired (a case's ``title``, a contact's
# ``lastname``) are enforced by forms only, not by the Web API, so not here either; an
# unknown column (``subject`` on incident, ``name`` on contact) is refused by ``_apply``.
REQUIRED_LOOKUPS: dict[str, tuple[str, str]] = {
    "incidents": ("_customerid_value", "You should specify a parent contact or account.")
}
ACTIVITY_SETS = ("tasks", "phonecalls")  # one activityid key space (activitypointer)
CALLER: web.RequestKey[str | None] = web.RequestKey("dataverse_caller", str)
"""The calling user's Entra object id; None for the application user."""


def _binds() -> dict[str, dict[str, tuple[str, str]]]:
    binds: dict[str, dict[str, tuple[str, str]]] = {
        "contacts": {
            "parentcustomerid_account": ("_parentcustomerid_value", "accounts"),
            "parentcustomerid_contact": ("_parentcustomerid_value", "contacts"),
        },
        "incidents": {
            "customerid_account": ("_customerid_value", "accounts"),
            "customerid_contact": ("_customerid_value", "contacts"),
        },
        "opportunities": {"parentaccountid": ("_parentaccountid_value", "accounts")},
    }
    for activity in ("task", "phonecall"):
        binds[f"{activity}s"] = {
            f"regardingobjectid_{target}_{activity}": ("_regardingobjectid_value", f"{target}s")
            for target in ("account", "contact", "lead", "opportunity")
        }
        binds[f"{activity}s"][f"regardingobjectid_incident_{activity}"] = (
            "_regardingobjectid_value",
            "incidents",
        )
    return binds


BINDS = _binds()
LOOKUP_TYPE = "@Microsoft.Dynamics.CRM.lookuplogicalname"
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_KEYED = re.compile(rf"^(?P<set>[a-z]+)\((?P<id>{_GUID})\)$")


class FilterError(Exception):
    pass


_TOKEN = re.compile(
    rf"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<guid>{_GUID})|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<sym>[(),])|(?P<bad>\S))"
)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup == "bad":
            raise FilterError(f"Syntax error at position {pos} in '{text}'")
        kind = m.lastgroup
        assert kind is not None
        value = m.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'")
        tokens.append((kind, value))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], columns: tuple[str, ...]) -> None:
        self.tokens = tokens
        self.columns = columns
        self.i = 0

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise FilterError("Syntax error: unexpected end of $filter")
        self.i += 1
        return self.tokens[self.i - 1]

    def word(self, word: str) -> bool:
        if self.i < len(self.tokens) and self.tokens[self.i] == ("id", word):
            self.i += 1
            return True
        return False

    def parse(self) -> Any:
        node = self.expr()
        if self.i != len(self.tokens):
            raise FilterError(f"Syntax error: unexpected '{self.tokens[self.i][1]}'")
        return node

    def expr(self) -> Any:
        node = self.conj()
        while self.word("or"):
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Any:
        node = self.atom()
        while self.word("and"):
            node = ("and", node, self.atom())
        return node

    def column(self) -> str:
        kind, name = self.take()
        if kind != "id":
            raise FilterError("Syntax error: expected a property name")
        if name not in self.columns:
            raise FilterError(f"Could not find a property named '{name}'.")
        return name

    def atom(self) -> Any:
        if self.i < len(self.tokens) and self.tokens[self.i] == ("sym", "("):
            self.i += 1
            node = self.expr()
            if self.take() != ("sym", ")"):
                raise FilterError("Syntax error: expected ')'")
            return node
        function = next((f for f in ("contains", "startswith") if self.word(f)), None)
        if function:
            if self.take() != ("sym", "("):
                raise FilterError("Syntax error: expected '('")
            name = self.column()
            if self.take() != ("sym", ","):
                raise FilterError("Syntax error: expected ','")
            kind, value = self.take()
            if kind != "str" or self.take() != ("sym", ")"):
                raise FilterError(f"Syntax error in {function}()")
            return (function, name, value)
        name = self.column()
        if not self.word("eq"):
            raise FilterError("Syntax error: only 'eq' is supported here")
        kind, value = self.take()
        if kind == "id" and value == "null":
            return ("eq", name, None)
        if kind not in ("str", "guid"):
            raise FilterError("Syntax error: expected a literal")
        return ("eq", name, value)


@functools.lru_cache(maxsize=1024)
def _like(pattern: str) -> re.Pattern[str]:
    """Dataverse LIKE wildcards inside contains(): % _ [..]; [%] [_] [[] are literals."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                out.append(re.escape(body) if len(body) == 1 else f"[{re.escape(body)}]")
                i = end
        elif c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.I | re.S)


def evaluate(node: Any, row: dict[str, Any]) -> bool:
    op = node[0]
    if op == "or":
        return evaluate(node[1], row) or evaluate(node[2], row)
    if op == "and":
        return evaluate(node[1], row) and evaluate(node[2], row)
    _, name, value = node
    actual = row.get(name)
    if op == "contains":
        return actual is not None and _like(value).search(str(actual)) is not None
    if op == "startswith":
        return actual is not None and _like(value).match(str(actual)) is not None
    if value is None:
        return actual is None
    return actual is not None and str(actual).lower() == value.lower()


def odata_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@dataclass
class FakeDataverse:
    entra: FakeEntra
    base_url: str = ""
    latency: float = 0.0
    error_rate: float = 0.0
    throttle_next: int = 0
    retry_after: str = "5"
    throttle_code: str = "0x80072322"
    fail_next: list[int] = field(default_factory=list)
    max_page_size: int = 5000
    rows: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in ENTITIES}
    )
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    """(entity set, row id) -> the owning user's Entra object id; unowned rows are the
    application user's."""
    shares: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(entity set, row id) -> users it is shared with (read and write access)."""
    organization_users: set[str] = field(default_factory=set)
    """Users whose security role reads and writes at Organization level."""
    _rng: random.Random = field(default_factory=lambda: random.Random(11))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", API + "/{path:.*}", self._dispatch)
        return app

    def add(self, entity_set: str, *, owner: str | None = None, **values: Any) -> str:
        """A row; ``owner``: the Entra object id of the user who owns it."""
        _, key, columns = ENTITIES[entity_set]
        row: dict[str, Any] = {c: None for c in columns}
        row.update(values)
        row[key] = row.get(key) or str(uuid.uuid4())
        self._compute(entity_set, row)
        self.rows[entity_set][row[key]] = row
        if owner is not None:
            self.owners[(entity_set, row[key])] = owner
        return str(row[key])

    def share(self, entity_set: str, row_id: str, user: str) -> None:
        """GrantAccess: ``user`` (an Entra object id) may read and write the row."""
        self.shares.setdefault((entity_set, row_id), set()).add(user)

    def can_access(self, caller: str | None, entity_set: str, row_id: str) -> bool:
        """Whether the caller (a user's object id; None for the application user) may read
        and write the row under the security roles described above."""
        if caller is None or caller in self.organization_users:
            return True
        row = (entity_set, row_id)
        return self.owners.get(row) == caller or caller in self.shares.get(row, set())

    def _refused(
        self, request: web.Request, entity_set: str, row_id: str, rights: str = "ReadAccess"
    ) -> web.Response:
        caller = request.get(CALLER)
        return odata_error(
            403,
            "0x80040220",
            f"SecLib::AccessCheckEx failed. Returned hr = -2147187962, ObjectID: {row_id}, "
            f"OwnerId: {self.owners.get((entity_set, row_id), 'application user')}, "
            f"OwnerIdType: 8 and CallingUser: {caller}. ObjectTypeCode: "
            f"{ENTITIES[entity_set][0]}, AccessRights: {rights} ",
        )

    def link(self, entity_set: str, row_id: str, lookup: str, target_set: str, target: str) -> None:
        row = self.rows[entity_set][row_id]
        row[lookup] = target
        row[lookup + LOOKUP_TYPE] = ENTITIES[target_set][0]

    def throttle(self, count: int, retry_after: str = "5", code: str = "0x80072322") -> None:
        """The next ``count`` requests hit the service-protection limit ``code``."""
        self.throttle_next = count
        self.retry_after = retry_after
        self.throttle_code = code

    def _state(self, entity_set: str, row: dict[str, Any]) -> web.Response | None:
        if entity_set not in STATES:
            return None
        state, status = DEFAULT_STATE[entity_set]
        row["statecode"] = state if row.get("statecode") is None else row["statecode"]
        if row.get("statuscode") is None:
            row["statuscode"] = STATES[entity_set].get(row["statecode"], (status,))[0]
        if row["statuscode"] not in STATES[entity_set].get(row["statecode"], ()):
            return odata_error(
                400,
                "0x8004431a",
                f"{row['statuscode']} is not a valid status code for state code "
                f"{ENTITIES[entity_set][0]}State.{row['statecode']}",
            )
        return None

    def _compute(self, entity_set: str, row: dict[str, Any]) -> None:
        if entity_set in ("contacts", "leads"):
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p)
        if entity_set == "incidents" and not row.get("ticketnumber"):
            row["ticketnumber"] = f"CAS-{len(self.rows['incidents']) + 1:05d}"

    def _view(self, entity_set: str, row: dict[str, Any], select: list[str] | None) -> dict:
        names = select or list(ENTITIES[entity_set][2])
        view: dict[str, Any] = {"@odata.etag": 'W/"1"'}
        for name in names:
            view[name] = row.get(name)
            if name.startswith("_") and row.get(name + LOOKUP_TYPE):
                view[name + LOOKUP_TYPE] = row[name + LOOKUP_TYPE]
        return view

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.throttle_next > 0:
            self.throttle_next -= 1
            code = self.throttle_code
            response = odata_error(429, code, SERVICE_PROTECTION[code])
            response.headers["Retry-After"] = self.retry_after
            return response
        if self.fail_next:
            return odata_error(self.fail_next.pop(0), "0x80040216", "Injected failure.")
        if self.error_rate and self._rng.random() < self.error_rate:
            return odata_error(500, "0x80040216", "An unexpected error occurred.")
        header = request.headers.get("Authorization", "")
        issued = (
            self.entra.issued_token(header[7:], scope_prefix=self.base_url)
            if header.startswith("Bearer ")
            else None
        )
        if issued is None:
            return web.Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        request[CALLER] = issued.user
        result: web.StreamResponse = await handler(request)
        return result

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        keyed = _KEYED.match(path)
        entity_set = keyed.group("set") if keyed else path
        if entity_set not in ENTITIES:
            return odata_error(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        if keyed:
            row_id = keyed.group("id").lower()
            if request.method == "GET":
                return self._get(request, entity_set, row_id)
            if request.method == "PATCH":
                return await self._update(request, entity_set, row_id)
        elif request.method == "GET":
            return self._list(request, entity_set)
        elif request.method == "POST":
            return await self._create(request, entity_set)
        return odata_error(405, "0x80060888", "Method not allowed")

    def _select(self, request: web.Request, entity_set: str) -> list[str] | None:
        select = request.query.get("$select")
        if not select:
            return None
        names = select.split(",")
        for name in names:
            if name not in ENTITIES[entity_set][2]:
                raise FilterError(f"Could not find a property named '{name}'.")
        return names

    def _list(self, request: web.Request, entity_set: str) -> web.Response:
        query = request.query
        try:
            select = self._select(request, entity_set)
            text = query.get("$filter")
            node = None
            if text is not None:
                self.filters.append(text)
                node = _Parser(tokenize(text), ENTITIES[entity_set][2]).parse()
        except FilterError as exc:
            return odata_error(400, "0x80060888", str(exc))
        caller, key = request.get(CALLER), ENTITIES[entity_set][1]
        rows = [
            r
            for r in self.rows[entity_set].values()
            if (node is None or evaluate(node, r)) and self.can_access(caller, entity_set, r[key])
        ]
        if "$top" in query:
            rows = rows[: int(query["$top"])]
        page_size = self.max_page_size
        prefer = request.headers.get("Prefer", "")
        m = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        if m:
            page_size = min(page_size, int(m.group(1)))
        skip = int(query.get("$skiptoken", "0") or 0)
        chunk = rows[skip : skip + page_size]
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}{API}/$metadata#{entity_set}",
            "value": [self._view(entity_set, r, select) for r in chunk],
        }
        if skip + page_size < len(rows):
            params = {k: v for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = str(skip + page_size)
            body["@odata.nextLink"] = f"{self.base_url}{API}/{entity_set}?{urlencode(params)}"
        return web.json_response(body)

    def _get(self, request: web.Request, entity_set: str, row_id: str) -> web.Response:
        row = self.rows[entity_set].get(row_id)
        if row is None:
            logical = ENTITIES[entity_set][0]
            return odata_error(404, "0x80040217", f"{logical} With Id = {row_id} Does Not Exist")
        if not self.can_access(request.get(CALLER), entity_set, row_id):
            return self._refused(request, entity_set, row_id)
        try:
            select = self._select(request, entity_set)
        except FilterError as exc:
            return odata_error(400, "0x80060888", str(exc))
        return web.json_response(self._view(entity_set, row, select))

    def _apply(
        self,
        request: web.Request,
        entity_set: str,
        row: dict[str, Any],
        body: Any,
        *,
        creating: bool = False,
    ) -> web.Response | None:
        if not isinstance(body, dict):
            return odata_error(
                400, "0x80048d19", "Error identified in Payload provided by the user"
            )
        columns = ENTITIES[entity_set][2]
        key = ENTITIES[entity_set][1]
        for name, value in body.items():
            if name.endswith("@odata.bind"):
                nav = name[: -len("@odata.bind")]
                bind = BINDS.get(entity_set, {}).get(nav)
                if bind is None:
                    return odata_error(
                        400,
                        "0x80060888",
                        f"An undeclared property '{nav}' which only has property annotations "
                        "in the payload but no property value was found in the payload.",
                    )
                lookup, target_set = bind
                m = re.fullmatch(rf"/?{target_set}\(({_GUID})\)", str(value))
                if m is None or m.group(1).lower() not in self.rows[target_set]:
                    return odata_error(
                        400, "0x80040217", f"{ENTITIES[target_set][0]} With Id Does Not Exist"
                    )
                if not self.can_access(request.get(CALLER), target_set, m.group(1).lower()):
                    return self._refused(request, target_set, m.group(1).lower(), "AppendToAccess")
                row[lookup] = m.group(1).lower()
                row[lookup + LOOKUP_TYPE] = ENTITIES[target_set][0]
            elif name == key and creating:
                if not isinstance(value, str) or not re.fullmatch(_GUID, value):
                    return odata_error(
                        400, "0x80048d19", f"Cannot convert the literal '{value}' to Edm.Guid"
                    )
                row[name] = value.lower()
            elif name not in columns or name.startswith("_") or name == key:
                return odata_error(
                    400,
                    "0x80060888",
                    f"The property '{name}' does not exist on type "
                    f"'Microsoft.Dynamics.CRM.{ENTITIES[entity_set][0]}'. Make sure to only "
                    "use property names that are defined by the type.",
                )
            else:
                limit = MAX_LENGTHS.get(entity_set, {}).get(name)
                if limit is not None and isinstance(value, str) and len(value) > limit:
                    return odata_error(
                        400,
                        STRING_LENGTH_TOO_LONG,
                        f"A validation error occurred. The length of the '{name}' attribute of "
                        f"the '{ENTITIES[entity_set][0]}' entity exceeded the maximum allowed "
                        f"length of '{limit}'.",
                    )
                row[name] = value
        return None

    async def _create(self, request: web.Request, entity_set: str) -> web.Response:
        body = await request.json()
        _, key, columns = ENTITIES[entity_set]
        row: dict[str, Any] = {c: None for c in columns}
        problem = self._apply(request, entity_set, row, body, creating=True) or self._state(
            entity_set, row
        )
        if problem:
            return problem
        required = REQUIRED_LOOKUPS.get(entity_set)
        if required is not None and row.get(required[0]) is None:
            return odata_error(400, "0x80040203", required[1])
        chosen = row.get(key)
        if chosen is not None:
            key_space = ACTIVITY_SETS if entity_set in ACTIVITY_SETS else (entity_set,)
            if any(chosen in self.rows[name] for name in key_space):
                return odata_error(412, "0x80040237", "Cannot insert duplicate key.")
        email = row.get("emailaddress1")
        if (
            entity_set == "contacts"
            and email
            and any(
                (r.get("emailaddress1") or "").lower() == str(email).lower()
                for r in self.rows["contacts"].values()
            )
        ):
            return odata_error(
                412,
                "0x80040333",
                "A record was not created or updated because a duplicate "
                "of the current record already exists.",
            )
        row[key] = chosen or str(uuid.uuid4())
        self._compute(entity_set, row)
        self.rows[entity_set][row[key]] = row
        if request.get(CALLER) is not None:  # the creating user owns the new row
            self.owners[(entity_set, row[key])] = request[CALLER]
        return web.Response(
            status=204,
            headers={
                "OData-Version": "4.0",
                "OData-EntityId": f"{self.base_url}{API}/{entity_set}({row[key]})",
            },
        )

    async def _update(self, request: web.Request, entity_set: str, row_id: str) -> web.Response:
        row = self.rows[entity_set].get(row_id)
        if row is None:
            if request.headers.get("If-Match") == "*":
                return odata_error(
                    404,
                    "0x80040217",
                    f"{ENTITIES[entity_set][0]} With Id = {row_id} Does Not Exist",
                )
            return odata_error(400, "0x80040203", "upsert not allowed in this fake")
        if not self.can_access(request.get(CALLER), entity_set, row_id):
            return self._refused(request, entity_set, row_id, "WriteAccess")
        body = await request.json()
        staged = dict(row)
        problem = self._apply(request, entity_set, staged, body)
        if problem:
            return problem
        row.update(staged)
        self._compute(entity_set, row)
        return web.Response(status=204)


def parse_query(url: str) -> dict[str, list[str]]:
    return parse_qs(url.partition("?")[2])
