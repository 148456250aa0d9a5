# Follows the public Freshdesk API v2 reference:
#   https://developers.freshdesk.com/api/#authentication
#   https://developers.freshdesk.com/api/#filter_contacts (GET /api/v2/search/contacts?query="...")
#   https://developers.freshdesk.com/api/#list_all_contacts (?email= / ?phone= / ?mobile=)
#   https://developers.freshdesk.com/api/#pagination (page/per_page, "link" header rel="next")
#   https://developers.freshdesk.com/api/#ratelimit and #error
# Auth: HTTP basic with the API key as user name and "X" as password.  Search queries are
# wrapped in double quotes, values in single quotes: "email:'a@b.c' OR phone:'123'"; search
# pages are 30 long, page <= 10, answer {"results": [...], "total": n}.  Errors: 400/409
# {"description": "Validation failed", "errors": [{"field", "message", "code"}]}, 401
# {"code": "invalid_credentials", "message": ...}, 404 with an empty body.
"""A contract fake of the Freshdesk API v2 (contacts, companies, tickets)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .base import FakeCrm, Faults, basic_credentials, read_json

SEARCH_PAGE = 30
_TOKEN = re.compile(r"\s*(?:(\()|(\))|(AND|OR)\b|(\w+):(?:'([^']*)'|(\w+)))", re.I)


class QueryError(ValueError):
    pass


def parse_search_query(query: str) -> Any:
    """``"a:'x' OR (b:'y' AND c:2)"`` -> nested ("or"/"and", [...]) / ("eq", field, value)."""
    if len(query) < 2 or not (query.startswith('"') and query.endswith('"')):
        raise QueryError("query must be enclosed in double quotes")
    text = query[1:-1]
    if len(text) > 512:
        raise QueryError("query is longer than 512 characters")
    tokens: list[tuple[str, ...]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QueryError(f"unexpected input at {pos}")
        lpar, rpar, op, field, quoted, bare = match.groups()
        if lpar:
            tokens.append(("(",))
        elif rpar:
            tokens.append((")",))
        elif op:
            tokens.append((op.upper(),))
        else:
            tokens.append(("term", field.lower(), quoted if quoted is not None else bare))
        pos = match.end()

    def expr(i: int) -> tuple[Any, int]:
        node, i = conj(i)
        parts = [node]
        while i < len(tokens) and tokens[i][0] == "OR":
            node, i = conj(i + 1)
            parts.append(node)
        return (("or", parts) if len(parts) > 1 else parts[0]), i

    def conj(i: int) -> tuple[Any, int]:
        node, i = atom(i)
        parts = [node]
        while i < len(tokens) and tokens[i][0] == "AND":
            node, i = atom(i + 1)
            parts.append(node)
        return (("and", parts) if len(parts) > 1 else parts[0]), i

    def atom(i: int) -> tuple[Any, int]:
        if i >= len(tokens):
            raise QueryError("query ends too early")
        token = tokens[i]
        if token[0] == "(":
            node, i = expr(i + 1)
            if i >= len(tokens) or tokens[i][0] != ")":
                raise QueryError("unbalanced parenthesis")
            return node, i + 1
        if token[0] == "term":
            return ("eq", token[1], token[2]), i + 1
        raise QueryError(f"unexpected {token[0]}")

    node, end = expr(0)
    if end != len(tokens):
        raise QueryError("unexpected trailing input")
    return node


class FreshdeskFake(FakeCrm):
    rate_limit = 400

    def __init__(
        self, faults: Faults | None = None, *, api_key: str = "fd-api-key", seed: bool = True
    ) -> None:
        self.api_key = api_key
        self.contacts: dict[int, dict[str, Any]] = {}
        self.companies: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.last_query: str | None = None
        self.last_tree: Any = None
        self._next = 100
        super().__init__(faults)
        if seed:
            self.seed()

    # -- data --------------------------------------------------------------------------

    def _id(self) -> int:
        self._next += 1
        return self._next

    def add_company(self, name: str) -> dict[str, Any]:
        cid = self._id()
        self.companies[cid] = {"id": cid, "name": name, "description": None, "domains": []}
        return self.companies[cid]

    def add_contact(
        self,
        name: str,
        email: str | None = None,
        phone: str | None = None,
        mobile: str | None = None,
        company_id: int | None = None,
    ) -> dict[str, Any]:
        cid = self._id()
        self.contacts[cid] = {
            "id": cid,
            "name": name,
            "email": email,
            "phone": phone,
            "mobile": mobile,
            "company_id": company_id,
            "active": True,
            "job_title": None,
        }
        return self.contacts[cid]

    def add_ticket(self, subject: str, requester_id: int, status: int = 2) -> dict[str, Any]:
        tid = self._id()
        requester = self.contacts.get(requester_id, {})
        self.tickets[tid] = {
            "id": tid,
            "subject": subject,
            "status": status,
            "priority": 1,
            "requester_id": requester_id,
            "company_id": requester.get("company_id"),
        }
        return self.tickets[tid]

    def seed(self) -> None:
        acme = self.add_company("Acme Corp")
        jane = self.add_contact("Jane Doe", "jane@example.com", "(415) 555-0100", None, acme["id"])
        self.add_contact("John Smith", "john@example.com", None, "415.555.0101")
        self.add_ticket("Printer on fire", jane["id"])
        self.add_ticket("Refund request", jane["id"], status=4)

    # -- protocol ----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        return basic_credentials(request) == (self.api_key, "X")

    def auth_error(self) -> web.Response:
        return self.json(
            {
                "code": "invalid_credentials",
                "message": "You have to be logged in to perform this action.",
            },
            status=401,
        )

    def error(self, status: int, message: str, *, code: str | None = None) -> web.Response:
        if status == 404:
            return web.Response(status=404)
        if status == 429:
            return self.json({"message": message}, status=429)
        if status in (400, 409):
            return self.validation(code or "invalid_value", "base", message, status)
        return self.json({"code": code or "error", "message": message}, status=status)

    def validation(
        self, code: str, field: str, message: str, status: int = 400, **extra: Any
    ) -> web.Response:
        error: dict[str, Any] = {"field": field, "message": message, "code": code}
        if extra:
            error["additional_info"] = extra
        return self.json({"description": "Validation failed", "errors": [error]}, status=status)

    def rate_limit_headers(self) -> dict[str, str]:
        return {
            "X-Ratelimit-Total": str(self.rate_limit),
            "X-Ratelimit-Remaining": str(max(self.rate_limit - self.used, 0)),
            "X-Ratelimit-Used-CurrentRequest": "1",
        }

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v2/search/contacts", self.search_contacts)
        router.add_get("/api/v2/contacts/autocomplete", self.autocomplete)
        router.add_get("/api/v2/contacts", self.list_contacts)
        router.add_get(r"/api/v2/contacts/{id:\d+}", self.get_contact)
        router.add_get(r"/api/v2/companies/{id:\d+}", self.get_company)
        router.add_get(r"/api/v2/tickets/{id:\d+}", self.get_ticket)
        router.add_get("/api/v2/tickets", self.list_tickets)
        router.add_post("/api/v2/contacts", self.create_contact)
        router.add_post("/api/v2/companies", self.create_company)
        router.add_post("/api/v2/tickets", self.create_ticket)

    # -- paging ------------------------------------------------------------------------

    def _list_page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        try:
            page = max(int(request.query.get("page", "1")), 1)
            per_page = int(request.query.get("per_page", "30"))
        except ValueError:
            return self.validation("data_type_mismatch", "page", "It should be a Positive Integer")
        if not 1 <= per_page <= 100:
            return self.validation(
                "invalid_value",
                "per_page",
                "It should be a Positive Integer less than or equal to 100",
            )
        start = (page - 1) * per_page
        headers = {}
        if start + per_page < len(items):
            next_url = request.url.update_query(page=str(page + 1), per_page=str(per_page))
            headers["link"] = f'<{next_url}>; rel="next"'
        return self.json(items[start : start + per_page], headers=headers)

    # -- search ------------------------------------------------------------------------

    def _eval(self, contact: dict[str, Any], node: Any) -> bool:
        kind = node[0]
        if kind == "or":
            return any(self._eval(contact, n) for n in node[1])
        if kind == "and":
            return all(self._eval(contact, n) for n in node[1])
        _, field, value = node
        if field in ("phone", "mobile"):  # the stored string, as typed: no normalisation
            return bool(contact.get(field)) and contact[field].strip() == value.strip()
        if field == "email":
            return (contact.get("email") or "").lower() == value.lower()
        if field in ("company_id", "active"):
            return str(contact.get(field)).lower() == value.lower()
        raise QueryError(f"{field} is not a searchable contact field")

    async def search_contacts(self, request: web.Request) -> web.Response:
        query = request.query.get("query")
        if query is None:
            return self.validation("missing_field", "query", "It should be present")
        self.last_query = query
        try:
            tree = parse_search_query(query)
            self.last_tree = tree
            found = [c for c in self.contacts.values() if self._eval(c, tree)]
            page = int(request.query.get("page", "1"))
        except (QueryError, ValueError) as exc:
            return self.validation("invalid_value", "query", str(exc))
        if not 1 <= page <= 10:
            return self.validation("invalid_value", "page", "It should be between 1 and 10")
        start = (page - 1) * SEARCH_PAGE
        return self.json({"results": found[start : start + SEARCH_PAGE], "total": len(found)})

    async def autocomplete(self, request: web.Request) -> web.Response:
        term = (request.query.get("term") or "").lower()
        if not term:
            return self.validation("missing_field", "term", "It should be present")
        found = [
            {"id": c["id"], "name": c["name"]}
            for c in self.contacts.values()
            if any(word.startswith(term) for word in c["name"].lower().split())
            or c["name"].lower().startswith(term)
        ]
        return self.json(found)

    async def list_contacts(self, request: web.Request) -> web.Response:
        items = list(self.contacts.values())
        for key in ("email", "phone", "mobile", "company_id"):
            if key in request.query:
                want = request.query[key]
                items = [c for c in items if str(c.get(key) or "").lower() == want.lower()]
        return self._list_page(request, items)

    async def list_tickets(self, request: web.Request) -> web.Response:
        items = list(self.tickets.values())
        for key in ("requester_id", "company_id"):
            if key in request.query:
                items = [t for t in items if str(t.get(key)) == request.query[key]]
        return self._list_page(request, items)

    # -- get / create ------------------------------------------------------------------

    async def get_contact(self, request: web.Request) -> web.Response:
        contact = self.contacts.get(int(request.match_info["id"]))
        return self.json(contact) if contact else self.error(404, "")

    async def get_company(self, request: web.Request) -> web.Response:
        company = self.companies.get(int(request.match_info["id"]))
        return self.json(company) if company else self.error(404, "")

    async def get_ticket(self, request: web.Request) -> web.Response:
        ticket = self.tickets.get(int(request.match_info["id"]))
        return self.json(ticket) if ticket else self.error(404, "")

    async def create_contact(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("name"):
            return self.validation("missing_field", "name", "It should be a/an String")
        if not any(body.get(k) for k in ("email", "phone", "mobile", "twitter_id")):
            return self.validation(
                "missing_field", "email", "Please fill at least 1 of email, mobile, phone fields"
            )
        email = body.get("email")
        for contact in self.contacts.values():
            if email and (contact.get("email") or "").lower() == str(email).lower():
                return self.validation(
                    "duplicate_value",
                    "email",
                    "It should be a unique value",
                    409,
                    user_id=contact["id"],
                )
        contact = self.add_contact(
            body["name"], email, body.get("phone"), body.get("mobile"), body.get("company_id")
        )
        return self.json(contact, status=201)

    async def create_company(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("name"):
            return self.validation("missing_field", "name", "It should be a/an String")
        if any(c["name"].lower() == str(body["name"]).lower() for c in self.companies.values()):
            return self.validation("duplicate_value", "name", "It should be a unique value", 409)
        return self.json(self.add_company(body["name"]), status=201)

    async def create_ticket(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            return self.validation("invalid_json", "base", "Request body has invalid json format")
        for field in ("subject", "description"):
            if not body.get(field):
                return self.validation("missing_field", field, "It should be a/an String")
        requester = body.get("requester_id")
        if requester is None or requester not in self.contacts:
            return self.validation(
                "invalid_value",
                "requester_id",
                "There is no contact matching the given requester_id",
            )
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            return self.validation("datatype_mismatch", "tags", "It should be a/an Array")
        ticket = self.add_ticket(body["subject"], requester, status=int(body.get("status", 2)))
        ticket["tags"] = tags
        return self.json(ticket, status=201)


__all__ = ["FreshdeskFake", "QueryError", "parse_search_query"]
