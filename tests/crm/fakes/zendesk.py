# Follows the public Zendesk Support API reference:
#   https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/
#   https://developer.zendesk.com/api-reference/introduction/pagination/ (cursor pagination)
#   https://developer.zendesk.com/api-reference/introduction/security-and-auth/
#   https://developer.zendesk.com/api-reference/introduction/rate-limits/
#   https://developer.zendesk.com/api-reference/ticketing/users/users/
#   https://developer.zendesk.com/documentation/voice/talk-partner-edition/retrieving-the-zendesk-user-id-of-a-caller/
#   (phone:*digits matches any formatting of a stored number ending in those digits)
#   https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/ (and the users
#   and organizations pages): ``tags`` is an array of strings. The docs give no other
#   form, so the fake takes the strict reading: anything else is refused as Zendesk
#   refuses an invalid field, 422 RecordInvalid with ``details.tags``.
# Auth: HTTP basic with "{email}/token:{api_token}", or an OAuth bearer token obtained
# from POST /oauth/tokens (client_credentials grant).  Search: GET /api/v2/search.json
# (offset pages, next_page) and GET /api/v2/search/export.json (cursor pages:
# meta.has_more / meta.after_cursor / links.next).  Errors: {"error": ..., "description":
# ..., "details": {...}}; 401 is {"error": "Couldn't authenticate you"}.
"""A contract fake of the Zendesk Support API (users, organizations, tickets)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .base import FakeCrm, Faults, basic_credentials, bearer_token, read_json

_TERM = re.compile(r'(-?)(?:(\w+):)?("([^"]*)"?|[^\s"]+)')


@dataclass(frozen=True)
class SearchTerm:
    key: str | None
    value: str
    negated: bool = False


def parse_query(query: str) -> list[SearchTerm]:
    """Zendesk search syntax, enough of it: ``key:value``, ``key:"a phrase"``, words."""
    terms = []
    for match in _TERM.finditer(query):
        negated, key, raw, quoted = match.groups()
        value = quoted if quoted is not None else raw
        terms.append(
            SearchTerm(key=key.lower() if key else None, value=value, negated=bool(negated))
        )
    return terms


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def phone_matches(stored: Any, term: str) -> bool:
    """``phone:5135557611`` matches those digits exactly; ``phone:*5135557611`` matches
    any stored formatting ending in them ("+1 513.555.7611", "(513) 555-7611"), as the
    caller-lookup guide documents. The extension (from the first letter on) is not part
    of the number."""
    if not isinstance(stored, str) or not stored:
        return False
    digits = _digits(re.split(r"[A-Za-z]", stored, maxsplit=1)[0])
    want = _digits(term)
    if not want:
        return False
    return digits.endswith(want) if term.startswith("*") else digits == want


@dataclass
class ZendeskData:
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1000


class ZendeskFake(FakeCrm):
    public_paths = frozenset({"/oauth/tokens"})

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        email: str = "agent@example.com",
        api_token: str = "zd-api-token",
        client_id: str = "zd-client",
        client_secret: str = "zd-secret",
        seed: bool = True,
    ) -> None:
        self.email = email
        self.api_token = api_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.data = ZendeskData()
        self.last_query: str | None = None
        self.last_terms: list[SearchTerm] = []
        super().__init__(faults)
        if seed:
            self.seed()

    # -- data --------------------------------------------------------------------------

    def _id(self) -> int:
        self.data.next_id += 1
        return self.data.next_id

    def add_organization(self, name: str) -> dict[str, Any]:
        org_id = self._id()
        org = {"id": org_id, "name": name, "url": f"/api/v2/organizations/{org_id}.json"}
        self.data.organizations[org_id] = org
        return org

    def add_user(
        self,
        name: str,
        email: str | None = None,
        phone: str | None = None,
        organization_id: int | None = None,
    ) -> dict[str, Any]:
        user_id = self._id()
        user = {
            "id": user_id,
            "name": name,
            "email": email,
            "phone": phone,
            "role": "end-user",
            "organization_id": organization_id,
            "url": f"/api/v2/users/{user_id}.json",
        }
        self.data.users[user_id] = user
        return user

    def add_ticket(
        self,
        subject: str,
        requester_id: int,
        status: str = "open",
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        ticket_id = self._id()
        requester = self.data.users.get(requester_id, {})
        ticket = {
            "id": ticket_id,
            "subject": subject,
            "status": status,
            "requester_id": requester_id,
            "organization_id": requester.get("organization_id"),
            "tags": tags or [],
            "url": f"/api/v2/tickets/{ticket_id}.json",
        }
        self.data.tickets[ticket_id] = ticket
        return ticket

    def seed(self) -> None:
        acme = self.add_organization("Acme Corp")
        jane = self.add_user("Jane Doe", "jane@example.com", "+1 (415) 555-0100", acme["id"])
        self.add_user("John Smith", "john@example.com", "415.555.0101")
        self.add_ticket("Printer on fire", jane["id"])
        self.add_ticket("Refund request", jane["id"], status="solved")

    # -- protocol ----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        creds = basic_credentials(request)
        if creds is not None:
            return creds == (f"{self.email}/token", self.api_token)
        return self.tokens.valid(bearer_token(request))

    def auth_error(self) -> web.Response:
        return self.json({"error": "Couldn't authenticate you"}, status=401)

    def error(self, status: int, message: str, *, code: str | None = None) -> web.Response:
        names = {
            400: "InvalidRequest",
            403: "Forbidden",
            404: "RecordNotFound",
            422: "RecordInvalid",
            429: "TooManyRequests",
        }
        name = names.get(status, "InternalServerError" if status >= 500 else "Error")
        return self.json({"error": name, "description": message}, status=status)

    def rate_limit_headers(self) -> dict[str, str]:
        remaining = str(max(self.rate_limit - self.used, 0))
        return {
            "X-Rate-Limit": str(self.rate_limit),
            "X-Rate-Limit-Remaining": remaining,
            "ratelimit-limit": str(self.rate_limit),
            "ratelimit-remaining": remaining,
            "ratelimit-reset": "60",
        }

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/oauth/tokens", self.oauth_token)
        router.add_get("/api/v2/search.json", self.search)
        router.add_get("/api/v2/search/export.json", self.search_export)
        router.add_get(r"/api/v2/users/{id:\d+}.json", self.get_user)
        router.add_get(r"/api/v2/organizations/{id:\d+}.json", self.get_organization)
        router.add_get(r"/api/v2/tickets/{id:\d+}.json", self.get_ticket)
        router.add_get(r"/api/v2/users/{id:\d+}/tickets/requested.json", self.user_tickets)
        router.add_get(r"/api/v2/organizations/{id:\d+}/users.json", self.org_users)
        router.add_get(r"/api/v2/organizations/{id:\d+}/tickets.json", self.org_tickets)
        router.add_post("/api/v2/users.json", self.create_user)
        router.add_post("/api/v2/tickets.json", self.create_ticket)
        router.add_post("/api/v2/organizations.json", self.create_organization)

    # -- handlers ----------------------------------------------------------------------

    async def oauth_token(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if body is None:
            body = dict(await request.post())
        if body.get("grant_type") != "client_credentials":
            return self.json({"error": "unsupported_grant_type"}, status=400)
        if (body.get("client_id"), body.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return self.json(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                status=401,
            )
        token, ttl = self.tokens.issue()
        return self.json(
            {
                "access_token": token,
                "token_type": "bearer",
                "scope": "read write",
                "expires_in": ttl,
            }
        )

    def _matches(self, record: dict[str, Any], kind: str, terms: list[SearchTerm]) -> bool:
        for term in terms:
            if term.key == "type":
                ok = term.value.lower() == kind
            elif term.key == "phone":
                ok = phone_matches(record.get("phone"), term.value)
            elif term.key in ("email", "name", "subject", "status"):
                have = str(record.get(term.key) or "").lower()
                want = term.value.lower()
                ok = have == want if term.key == "email" else bool(want) and want in have
            elif term.key is None:
                ok = any(term.value.lower() in str(v).lower() for v in record.values() if v)
            else:
                ok = False
            if ok == term.negated:
                return False
        return True

    def _search(self, query: str) -> list[dict[str, Any]]:
        self.last_query = query
        terms = parse_query(query)
        self.last_terms = terms
        results: list[dict[str, Any]] = []
        for kind, table in (
            ("user", self.data.users),
            ("organization", self.data.organizations),
            ("ticket", self.data.tickets),
        ):
            for record in table.values():
                if self._matches(record, kind, terms):
                    results.append({**record, "result_type": kind})
        return results

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("query")
        if not query:
            return self.error(400, "query parameter is required")
        try:
            page = int(request.query.get("page", "1"))
            per_page = min(int(request.query.get("per_page", "100")), 100)
        except ValueError:
            return self.error(400, "Invalid parameter: page must be an integer")
        results = self._search(query)
        start = (page - 1) * per_page
        chunk = results[start : start + per_page]
        more = start + per_page < len(results)
        next_page = (
            str(request.url.update_query(page=str(page + 1), per_page=str(per_page)))
            if more
            else None
        )
        return self.json(
            {"results": chunk, "count": len(results), "next_page": next_page, "previous_page": None}
        )

    def _cursor_page(
        self, request: web.Request, items: list[dict[str, Any]], key: str, default_size: int = 100
    ) -> web.Response:
        try:
            size = min(int(request.query.get("page[size]", str(default_size))), 100)
        except ValueError:
            return self.error(400, "page[size] must be an integer")
        after = request.query.get("page[after]")
        start = int(after[1:]) if after and after.startswith("c") and after[1:].isdigit() else 0
        chunk = items[start : start + size]
        has_more = start + size < len(items)
        after_cursor = f"c{start + size}" if has_more else None
        next_url: str | None = None
        if has_more:
            query = dict(request.query)
            query["page[after]"] = after_cursor or ""
            query["page[size]"] = str(size)
            next_url = str(request.url.with_query(query))
        return self.json(
            {
                key: chunk,
                "meta": {
                    "has_more": has_more,
                    "after_cursor": after_cursor,
                    "before_cursor": f"c{start}" if start else None,
                },
                "links": {"next": next_url, "prev": None},
            }
        )

    async def search_export(self, request: web.Request) -> web.Response:
        query = request.query.get("query")
        kind = request.query.get("filter[type]")
        if not query or kind not in ("user", "organization", "ticket", "group"):
            return self.error(400, "query and filter[type] are required")
        results = [r for r in self._search(query) if r["result_type"] == kind]
        return self._cursor_page(request, results, "results", default_size=1000)

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.data.users.get(int(request.match_info["id"]))
        if user is None:
            return self.error(404, "Not found")
        return self.json({"user": user})

    async def get_organization(self, request: web.Request) -> web.Response:
        org = self.data.organizations.get(int(request.match_info["id"]))
        if org is None:
            return self.error(404, "Not found")
        return self.json({"organization": org})

    async def get_ticket(self, request: web.Request) -> web.Response:
        ticket = self.data.tickets.get(int(request.match_info["id"]))
        if ticket is None:
            return self.error(404, "Not found")
        return self.json({"ticket": ticket})

    async def user_tickets(self, request: web.Request) -> web.Response:
        user_id = int(request.match_info["id"])
        if user_id not in self.data.users:
            return self.error(404, "Not found")
        tickets = [t for t in self.data.tickets.values() if t["requester_id"] == user_id]
        return self._cursor_page(request, tickets, "tickets")

    async def org_users(self, request: web.Request) -> web.Response:
        org_id = int(request.match_info["id"])
        if org_id not in self.data.organizations:
            return self.error(404, "Not found")
        users = [u for u in self.data.users.values() if u["organization_id"] == org_id]
        return self._cursor_page(request, users, "users")

    async def org_tickets(self, request: web.Request) -> web.Response:
        org_id = int(request.match_info["id"])
        if org_id not in self.data.organizations:
            return self.error(404, "Not found")
        tickets = [t for t in self.data.tickets.values() if t["organization_id"] == org_id]
        return self._cursor_page(request, tickets, "tickets")

    def _invalid(self, details: dict[str, list[dict[str, str]]]) -> web.Response:
        return self.json(
            {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": details,
            },
            status=422,
        )

    def _invalid_tags(self, record: dict[str, Any]) -> web.Response | None:
        """The 422 for a ``tags`` value that is not an array of strings, else None."""
        tags = record.get("tags", [])
        if isinstance(tags, list) and all(isinstance(tag, str) for tag in tags):
            return None
        return self._invalid(
            {"tags": [{"description": "Tags: is invalid", "error": "InvalidValue"}]}
        )

    async def create_user(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        user = (body or {}).get("user") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            return self.error(400, "Missing user")
        if refused := self._invalid_tags(user):
            return refused
        if not user.get("name"):
            return self._invalid(
                {"name": [{"description": "Name: cannot be blank", "error": "BlankValue"}]}
            )
        email = user.get("email")
        if email and any(u["email"] == email for u in self.data.users.values()):
            return self._invalid(
                {
                    "email": [
                        {
                            "description": f"Email: {email} is already being used by another user",
                            "error": "DuplicateValue",
                        }
                    ]
                }
            )
        created = self.add_user(user["name"], email, user.get("phone"), user.get("organization_id"))
        return self.json({"user": created}, status=201)

    async def create_ticket(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        ticket = (body or {}).get("ticket") if isinstance(body, dict) else None
        if not isinstance(ticket, dict):
            return self.error(400, "Missing ticket")
        if refused := self._invalid_tags(ticket):
            return refused
        comment = ticket.get("comment") or {}
        if not (isinstance(comment, dict) and comment.get("body")):
            return self._invalid(
                {"base": [{"description": "Description: cannot be blank", "error": "BlankValue"}]}
            )
        requester_id = ticket.get("requester_id")
        if requester_id is not None and requester_id not in self.data.users:
            return self._invalid(
                {"requester": [{"description": "Requester: is invalid", "error": "InvalidValue"}]}
            )
        created = self.add_ticket(
            ticket.get("subject") or comment["body"][:50],
            requester_id or 0,
            tags=ticket.get("tags"),
        )
        return self.json({"ticket": created}, status=201)

    async def create_organization(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        org = (body or {}).get("organization") if isinstance(body, dict) else None
        if not isinstance(org, dict) or not org.get("name"):
            return self._invalid(
                {"name": [{"description": "Name: cannot be blank", "error": "BlankValue"}]}
            )
        if refused := self._invalid_tags(org):
            return refused
        if any(o["name"] == org["name"] for o in self.data.organizations.values()):
            return self._invalid(
                {
                    "name": [
                        {"description": "Name: has already been taken", "error": "DuplicateValue"}
                    ]
                }
            )
        return self.json({"organization": self.add_organization(org["name"])}, status=201)


__all__ = ["SearchTerm", "ZendeskFake", "parse_query"]
