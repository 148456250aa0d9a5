# Follows the public Oracle B2C Service (Connect REST API) reference:
#   https://docs.oracle.com/en/cloud/saas/b2c-service/cxsvc/op-services-rest-connect-v1.4-queryresults-get.html
#   https://docs.oracle.com/en/cloud/saas/b2c-service/cxsvc/c_osvc_roql_object_queries.html
#   https://docs.oracle.com/en/cloud/saas/b2c-service/cxsvc/c_osvc_error_codes.html
#   https://docs.oracle.com/en/cloud/saas/b2c-service/cxsvc/c_osvc_quick_start.html (headers)
# String literals are single-quoted; \' and \\ are the escapes.  A contact's phones carry
# "number" (as typed) and "rawNumber" (the same with its formatting stripped, digits only).
# Base path /services/rest/connect/v1.4.  Auth: HTTP basic (account user name/password)
# or an OAuth bearer token; every request must carry an OSvC-CREST-Application-Context
# header.  Tabular ROQL: GET queryResults?query=SELECT ... FROM contacts WHERE ... LIMIT n
# OFFSET m -> {"items": [{"tableName", "count", "columnNames", "rows"}], "links": [...]}.
# Collections (GET contacts?q=<ROQL where>&limit=&offset=) answer {"items", "hasMore",
# "links": [{"rel": "next", "href"}...]}.  Errors are problem details:
# {"type", "title", "status", "detail", "instance", "o:errorCode": "OSC-CREST-000NN"}.
"""A contract fake of Oracle B2C Service's Connect REST API (contacts, orgs, incidents)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .base import FakeCrm, Faults, basic_credentials, bearer_token, read_json

BASE = "/services/rest/connect/v1.4"
APP_CONTEXT = "OSvC-CREST-Application-Context"


class RoqlError(ValueError):
    pass


_ROQL_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+)|(?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,|\*)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))",
    re.S,
)
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "LIKE",
    "IS",
    "NULL",
    "LIMIT",
    "OFFSET",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
}


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip().rstrip(";")
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _ROQL_TOKEN.match(text, pos)
        if match is None:
            raise RoqlError(f"Unexpected character at position {pos}")
        if match["str"] is not None:
            raw = match["str"][1:-1]
            tokens.append(("str", re.sub(r"\\(.)", r"\1", raw)))
        elif match["num"] is not None:
            tokens.append(("num", match["num"]))
        elif match["op"] is not None:
            tokens.append(("op", match["op"]))
        else:
            word = match["word"]
            if word.upper() in _KEYWORDS:
                tokens.append(("kw", word.upper()))
            else:
                tokens.append(("id", word))
        pos = match.end()
    return tokens


class Query:
    def __init__(
        self, columns: list[str], table: str, where: Any, limit: int | None, offset: int
    ) -> None:
        self.columns = columns
        self.table = table
        self.where = where
        self.limit = limit
        self.offset = offset


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, value: Any = None) -> Any:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise RoqlError(f"Expected {value or kind} near token {self.i}")
        self.i += 1
        return token[1]

    def at(self, kind: str, value: Any = None) -> bool:
        token = self.peek()
        return token is not None and token[0] == kind and (value is None or token[1] == value)

    def select(self) -> Query:
        self.take("kw", "SELECT")
        columns = [self.take("id")]
        while self.at("op", ","):
            self.i += 1
            columns.append(self.take("id"))
        self.take("kw", "FROM")
        table = self.take("id")
        where = None
        if self.at("kw", "WHERE"):
            self.i += 1
            where = self.disjunction()
        limit: int | None = None
        offset = 0
        if self.at("kw", "LIMIT"):
            self.i += 1
            limit = int(self.take("num"))
        if self.at("kw", "OFFSET"):
            self.i += 1
            offset = int(self.take("num"))
        if self.peek() is not None:
            raise RoqlError(f"Unexpected input near token {self.i}")
        return Query(columns, table, where, limit, offset)

    def where_only(self) -> Any:
        node = self.disjunction()
        if self.peek() is not None:
            raise RoqlError(f"Unexpected input near token {self.i}")
        return node

    def disjunction(self) -> Any:
        parts = [self.conjunction()]
        while self.at("kw", "OR"):
            self.i += 1
            parts.append(self.conjunction())
        return ("or", parts) if len(parts) > 1 else parts[0]

    def conjunction(self) -> Any:
        parts = [self.negation()]
        while self.at("kw", "AND"):
            self.i += 1
            parts.append(self.negation())
        return ("and", parts) if len(parts) > 1 else parts[0]

    def negation(self) -> Any:
        if self.at("kw", "NOT"):
            self.i += 1
            return ("not", self.negation())
        if self.at("op", "("):
            self.i += 1
            node = self.disjunction()
            self.take("op", ")")
            return node
        column = self.take("id")
        if self.at("kw", "IS"):
            self.i += 1
            negate = self.at("kw", "NOT")
            if negate:
                self.i += 1
            self.take("kw", "NULL")
            return ("not", ("null", column)) if negate else ("null", column)
        if self.at("kw", "LIKE"):
            self.i += 1
            return ("like", column, self.literal())
        op = self.take("op")
        if op not in ("=", "!=", "<>"):
            raise RoqlError(f"Unsupported operator {op}")
        return ("eq" if op == "=" else "ne", column, self.literal())

    def literal(self) -> str:
        token = self.peek()
        if token is None or token[0] not in ("str", "num"):
            raise RoqlError(f"Expected a literal near token {self.i}")
        self.i += 1
        return str(token[1])


def parse_roql(text: str) -> Query:
    return _Parser(tokenize(text)).select()


def parse_where(text: str) -> Any:
    return _Parser(tokenize(text)).where_only()


def _resolve(record: dict[str, Any], path: str) -> list[Any]:
    values: list[Any] = [record]
    for part in path.split("."):
        found: list[Any] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    key = next((k for k in item if k.lower() == part.lower()), None)
                    if key is not None and item[key] is not None:
                        found.append(item[key])
        values = found
    flat: list[Any] = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _like(value: str, pattern: str) -> bool:
    regex = "^" + ".*".join(re.escape(p) for p in pattern.lower().split("%")) + "$"
    return re.match(regex, value.lower(), re.S) is not None


class OracleFake(FakeCrm):
    public_paths = frozenset({"/oauth/token"})

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        username: str = "api_user",
        password: str = "0racle!",
        client_id: str = "osvc-client",
        client_secret: str = "osvc-secret",
        seed: bool = True,
    ) -> None:
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.tables: dict[str, dict[int, dict[str, Any]]] = {
            "contacts": {},
            "organizations": {},
            "incidents": {},
        }
        self.queries: list[str] = []
        self._next = 10
        super().__init__(faults)
        if seed:
            self.seed()

    # -- data --------------------------------------------------------------------------

    def _id(self) -> int:
        self._next += 1
        return self._next

    def add_organization(self, name: str) -> dict[str, Any]:
        oid = self._id()
        self.tables["organizations"][oid] = {"id": oid, "name": name, "lookupName": name}
        return self.tables["organizations"][oid]

    def add_contact(
        self,
        first: str,
        last: str,
        email: str | None = None,
        phone: str | None = None,
        organization_id: int | None = None,
    ) -> dict[str, Any]:
        cid = self._id()
        self.tables["contacts"][cid] = {
            "id": cid,
            "lookupName": f"{first} {last}".strip(),
            "name": {"first": first, "last": last},
            "emails": [{"address": email, "addressType": {"id": 0}}] if email else [],
            "phones": (
                [{"number": phone, "rawNumber": re.sub(r"\D", "", phone), "phoneType": {"id": 0}}]
                if phone
                else []
            ),
            "organization": {"id": organization_id} if organization_id else None,
        }
        return self.tables["contacts"][cid]

    def add_incident(
        self, subject: str, contact_id: int, status: str = "Unresolved"
    ) -> dict[str, Any]:
        iid = self._id()
        self.tables["incidents"][iid] = {
            "id": iid,
            "lookupName": f"260101-{iid:06d}",
            "referenceNumber": f"260101-{iid:06d}",
            "subject": subject,
            "primaryContact": {"parentContact": {"id": contact_id}},
            "statusWithType": {"status": {"lookupName": status}},
        }
        return self.tables["incidents"][iid]

    def seed(self) -> None:
        acme = self.add_organization("Acme Corp")
        jane = self.add_contact("Jane", "Doe", "jane@example.com", "(415) 555-0100 x12", acme["id"])
        self.add_contact("John", "Smith", "john@example.com", "+1 415.555.0101")
        self.add_incident("Printer on fire", jane["id"])
        self.add_incident("Refund request", jane["id"], status="Solved")

    # -- protocol ----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        creds = basic_credentials(request)
        if creds is not None:
            return creds == (self.username, self.password)
        return self.tokens.valid(bearer_token(request))

    def problem(
        self, status: int, title: str, detail: str, code: str, instance: str = ""
    ) -> web.Response:
        return self.json(
            {
                "type": f"https://www.rfc-editor.org/rfc/rfc9110.html#status.{status}",
                "title": title,
                "status": status,
                "detail": detail,
                "instance": instance,
                "o:errorCode": code,
            },
            status=status,
        )

    def error(self, status: int, message: str, *, code: str | None = None) -> web.Response:
        titles = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
        }
        title = titles.get(status, "Internal Server Error" if status >= 500 else "Error")
        codes = {401: "OSC-CREST-00014", 404: "OSC-CREST-00013", 400: "OSC-CREST-00007"}
        return self.problem(status, title, message, codes.get(status, "OSC-CREST-00008"))

    def auth_error(self) -> web.Response:
        return self.problem(401, "Unauthorized", "Access Denied", "OSC-CREST-00014")

    @web.middleware
    async def _context_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(BASE) and not request.headers.get(APP_CONTEXT):
            return self.problem(
                400,
                "Bad Request",
                f"The {APP_CONTEXT} header is required",
                "OSC-CREST-00033",
                request.path,
            )
        response: web.StreamResponse = await handler(request)
        return response

    def routes(self, router: web.UrlDispatcher) -> None:
        self.app.middlewares.append(self._context_middleware)
        router.add_post("/oauth/token", self.oauth_token)
        router.add_get(f"{BASE}/queryResults", self.query_results)
        for table in self.tables:
            router.add_get(f"{BASE}/{table}", self.collection)
            router.add_get(BASE + f"/{table}/" + r"{id:\d+}", self.get_record)
            router.add_post(f"{BASE}/{table}", self.create)

    # -- handlers ----------------------------------------------------------------------

    async def oauth_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        creds = basic_credentials(request)
        client = creds or (form.get("client_id"), form.get("client_secret"))
        if form.get("grant_type") != "client_credentials":
            return self.json({"error": "unsupported_grant_type"}, status=400)
        if tuple(client) != (self.client_id, self.client_secret):
            return self.json({"error": "invalid_client"}, status=401)
        token, ttl = self.tokens.issue()
        return self.json({"access_token": token, "token_type": "Bearer", "expires_in": ttl})

    def _eval(self, record: dict[str, Any], node: Any) -> bool:
        kind = node[0]
        if kind == "or":
            return any(self._eval(record, n) for n in node[1])
        if kind == "and":
            return all(self._eval(record, n) for n in node[1])
        if kind == "not":
            return not self._eval(record, node[1])
        if kind == "null":
            return not _resolve(record, node[1])
        values = [str(v) for v in _resolve(record, node[1])]
        if kind == "eq":
            return any(v.lower() == node[2].lower() for v in values)
        if kind == "ne":
            return all(v.lower() != node[2].lower() for v in values)
        if kind == "like":
            return any(_like(v, node[2]) for v in values)
        raise RoqlError(f"bad node {kind}")

    def _table(self, name: str) -> dict[int, dict[str, Any]]:
        table = self.tables.get(name)
        if table is None:
            table = self.tables.get(name.lower() + "s")
        if table is None:
            raise RoqlError(f"Unknown table {name}")
        return table

    async def query_results(self, request: web.Request) -> web.Response:
        text = request.query.get("query")
        if not text:
            return self.problem(400, "Bad Request", "query is required", "OSC-CREST-00007")
        self.queries.append(text)
        items = []
        try:
            for statement in [s for s in text.split(";") if s.strip()]:
                query = parse_roql(statement)
                table = self._table(query.table)
                rows = [
                    r for r in table.values() if query.where is None or self._eval(r, query.where)
                ]
                rows = rows[query.offset :]
                if query.limit is not None:
                    rows = rows[: query.limit]
                out_rows = []
                for record in rows:
                    row = []
                    for column in query.columns:
                        found = _resolve(record, column)
                        row.append(None if not found else str(found[0]))
                    out_rows.append(row)
                items.append(
                    {
                        "tableName": query.table,
                        "count": len(out_rows),
                        "columnNames": list(query.columns),
                        "rows": out_rows,
                    }
                )
        except RoqlError as exc:
            return self.problem(
                400, "Bad Request", f"Invalid ROQL query: {exc}", "OSC-CREST-00007", request.path
            )
        return self.json(
            {
                "items": items,
                "links": [
                    {"rel": "self", "href": str(request.url)},
                    {"rel": "canonical", "href": str(request.url.with_query(None))},
                ],
            }
        )

    async def collection(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[-1]
        table = self.tables[name]
        try:
            limit = int(request.query.get("limit", "1000"))
            offset = int(request.query.get("offset", "0"))
            where = parse_where(request.query["q"]) if request.query.get("q") else None
            rows = [r for r in table.values() if where is None or self._eval(r, where)]
        except (RoqlError, ValueError) as exc:
            return self.problem(400, "Bad Request", str(exc), "OSC-CREST-00007", request.path)
        chunk = rows[offset : offset + limit]
        has_more = offset + limit < len(rows)
        base = request.url.with_path(request.path)
        links = [{"rel": "canonical", "href": str(base)}]
        if has_more:
            nxt = request.url.update_query(limit=str(limit), offset=str(offset + limit))
            links.append({"rel": "next", "href": str(nxt)})
        return self.json(
            {
                "items": [
                    {
                        "id": r["id"],
                        "lookupName": r["lookupName"],
                        "links": [{"rel": "canonical", "href": f"{base}/{r['id']}"}],
                    }
                    for r in chunk
                ],
                "hasMore": has_more,
                "links": links,
            }
        )

    async def get_record(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 2)[-2]
        record = self.tables[name].get(int(request.match_info["id"]))
        if record is None:
            return self.problem(
                404,
                "Not Found",
                f"Resource {name}/{request.match_info['id']} not found",
                "OSC-CREST-00013",
                request.path,
            )
        return self.json(record)

    async def create(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[-1]
        body = await read_json(request)
        if not isinstance(body, dict):
            return self.problem(
                400, "Bad Request", "Bad JSON syntax", "OSC-CREST-00011", request.path
            )
        failed = "OSC-CREST-00012"
        if name == "contacts":
            emails = [e.get("address") for e in body.get("emails") or [] if isinstance(e, dict)]
            for email in emails:
                for other in self.tables["contacts"].values():
                    if any(
                        (e["address"] or "").lower() == str(email).lower() for e in other["emails"]
                    ):
                        return self.problem(
                            400,
                            "Bad Request",
                            f"Email address {email} is already used by another contact",
                            failed,
                            request.path,
                        )
            nm = body.get("name") or {}
            phones = [p.get("number") for p in body.get("phones") or [] if isinstance(p, dict)]
            org = (body.get("organization") or {}).get("id")
            record = self.add_contact(
                nm.get("first", ""),
                nm.get("last", ""),
                emails[0] if emails else None,
                phones[0] if phones else None,
                org,
            )
        elif name == "organizations":
            if not body.get("name"):
                return self.problem(400, "Bad Request", "Name is required", failed, request.path)
            record = self.add_organization(body["name"])
        else:
            contact = (body.get("primaryContact") or {}).get("id")
            if not body.get("subject") or contact not in self.tables["contacts"]:
                return self.problem(
                    400,
                    "Bad Request",
                    "subject and a valid primaryContact are required",
                    failed,
                    request.path,
                )
            record = self.add_incident(body["subject"], contact)
        href = str(request.url.with_path(f"{request.path}/{record['id']}"))
        return self.json(
            {
                "id": record["id"],
                "lookupName": record["lookupName"],
                "links": [{"rel": "self", "href": href}, {"rel": "canonical", "href": href}],
            },
            status=201,
            headers={"Location": href},
        )


__all__ = ["APP_CONTEXT", "BASE", "OracleFake", "RoqlError", "parse_roql", "parse_where"]
