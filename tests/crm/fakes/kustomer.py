# Follows the public Kustomer API reference:
#   https://developer.kustomer.com/kustomer-api-docs/reference/authentication
#   https://developer.kustomer.com/kustomer-api-docs/reference/customersearch
#   (POST /v1/customers/search)
#   https://developer.kustomer.com/kustomer-api-docs/reference/getcustomerbyid
#   https://developer.kustomer.com/kustomer-api-docs/reference/rate-limiting
# Auth: "Authorization: Bearer {API_KEY}".  Bodies are JSON:API-like: {"data": {"type",
# "id", "attributes", "relationships", "links"}}, lists add top-level "links" (self,
# first, prev, next) and "meta"; paging uses ?page=&pageSize=.  Search takes a JSON
# body {"and"|"or": [{"customer_email": {"equals": ...}}...], "queryContext": "customer"}.
# Errors: {"errors": [{"status": 404, "code": "not_found", "title": ..., "detail": ...}]}.
# Rate-limit headers: x-ratelimit-limit / x-ratelimit-remaining / x-ratelimit-reset.
# A customer's relationships hold "org" -- the Kustomer tenant itself ({"type": "org"},
# /v1/orgs/{id}), on every record -- and "company", the customer's company when set
# (https://developer.kustomer.com/docs/concepts/data-model: a customer optionally belongs
# to a company).  customer_phone criteria compare the phone as stored (no normalisation):
# "equals" the whole string, "contains" a part of it.
# Conversation tags: a conversation's ``tags`` attribute holds tag ids (24-hex object ids
# of the org's tags), never names. Kustomer documents no answer for a name there; the
# fake refuses it, 400 in Kustomer's error shape (code validation_error).
# "Append tags to conversation", POST /v1/conversations/{id}/tags
# (https://developer.kustomer.com/api/core-resources/append-tags-to-conversation), takes a
# bare JSON array of tag names (body ``["<string>"]``, as the operation's schema at
# https://api-docs.integration.app/apps/kustomer/operations/append-tags-to-conversation
# shows, and ``body?: Array<string>`` in a client generated from Kustomer's OpenAPI,
# https://github.com/LarisLab/kustomer-client/blob/main/src/api/types.gen.ts), "Adds tags
# to a conversation by the tag name [...] Creates a new tag if a tag does not exist yet",
# and answers 200 with the conversation, its ``attributes.tags`` the ids. Another body
# (an object such as {"tags": [...]}, a string, an array of objects) is not that schema;
# Kustomer documents no answer for one, the fake refuses it as a bad parameter, 400
# validation_error ("400 Bad parameter: This usually is related to invalid data in the
# URL or request body", https://developer.kustomer.com/kustomer-api-docs/reference/errors).
# It needs the role org.permission.conversation.update (legacy
# org.user.conversation.write); a key without it gets 403 here. (That errors page lists
# no 403 and says a 401 "can be the result of an missing role"; which status this
# endpoint answers is not documented, so the fake keeps 403.)
"""A contract fake of the Kustomer API (customers, companies, conversations)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from .base import FakeCrm, Faults, bearer_token, read_json

_OPERATORS = ("equals", "contains", "eq")
ORG_ID = "5f2b7c1e9d3a4b0012345678"  # the tenant org every record belongs to
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


class KustomerFake(FakeCrm):
    rate_limit = 1000

    def __init__(
        self, faults: Faults | None = None, *, api_key: str = "kust-api-key", seed: bool = True
    ) -> None:
        self.api_key = api_key
        self.customers: dict[str, dict[str, Any]] = {}
        self.companies: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, str] = {}
        """The org's conversation tags, id -> name."""
        self.may_update_conversations = True
        """Whether the API key holds org.permission.conversation.update."""
        self.last_search: Any = None
        super().__init__(faults)
        if seed:
            self.seed()

    # -- data --------------------------------------------------------------------------

    @staticmethod
    def _id() -> str:
        return secrets.token_hex(12)

    def add_company(self, name: str) -> dict[str, Any]:
        cid = self._id()
        self.companies[cid] = {"id": cid, "name": name}
        return self.companies[cid]

    def add_customer(
        self,
        name: str,
        email: str | None = None,
        phone: str | None = None,
        company_id: str | None = None,
    ) -> dict[str, Any]:
        cid = self._id()
        self.customers[cid] = {
            "id": cid,
            "name": name,
            "emails": [{"type": "home", "email": email}] if email else [],
            "phones": [{"type": "mobile", "phone": phone}] if phone else [],
            "company": company_id,
        }
        return self.customers[cid]

    def add_conversation(self, name: str, customer_id: str, status: str = "open") -> dict[str, Any]:
        cid = self._id()
        self.conversations[cid] = {
            "id": cid,
            "name": name,
            "status": status,
            "customer": customer_id,
            "tags": [],
        }
        return self.conversations[cid]

    def tag_id(self, name: str) -> str:
        """The id of the org's tag ``name``, created when the org has none yet."""
        for tid, known in self.tags.items():
            if known == name:
                return tid
        tid = self._id()
        self.tags[tid] = name
        return tid

    def tag_names(self, conversation_id: str) -> list[str]:
        return [self.tags[tid] for tid in self.conversations[conversation_id]["tags"]]

    def seed(self) -> None:
        acme = self.add_company("Acme Corp")
        jane = self.add_customer("Jane Doe", "jane@example.com", "+1 (415) 555-0100", acme["id"])
        self.add_customer("John Smith", "john@example.com", "415-555-0101")
        self.add_conversation("Where is my order?", jane["id"])
        self.add_conversation("Refund", jane["id"], status="done")

    # -- protocol ----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        return bearer_token(request) == self.api_key

    def error(self, status: int, message: str, *, code: str | None = None) -> web.Response:
        titles = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            422: "Unprocessable Entity",
            429: "Too Many Requests",
        }
        title = titles.get(status, "Internal Server Error" if status >= 500 else "Error")
        return self.json(
            {
                "errors": [
                    {
                        "status": status,
                        "code": code or title.lower().replace(" ", "_"),
                        "title": title,
                        "detail": message,
                    }
                ]
            },
            status=status,
        )

    def auth_error(self) -> web.Response:
        return self.error(401, "Invalid or missing API key", code="unauthorized")

    def rate_limit_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(self.rate_limit - self.used, 0)),
            "x-ratelimit-reset": "60",
        }

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/customers/search", self.search)
        router.add_get("/v1/customers/{id}", self.get_customer)
        router.add_get("/v1/customers/{id}/conversations", self.customer_conversations)
        router.add_get("/v1/companies/{id}", self.get_company)
        router.add_get("/v1/conversations/{id}", self.get_conversation)
        router.add_post("/v1/customers", self.create_customer)
        router.add_post("/v1/companies", self.create_company)
        router.add_post("/v1/conversations", self.create_conversation)
        router.add_post("/v1/conversations/{id}/tags", self.append_conversation_tags)

    # -- rendering ---------------------------------------------------------------------

    def _customer_resource(self, c: dict[str, Any]) -> dict[str, Any]:
        relationships: dict[str, Any] = {
            "org": {"data": {"type": "org", "id": ORG_ID}, "links": {"self": f"/v1/orgs/{ORG_ID}"}}
        }
        if c.get("company"):
            relationships["company"] = {
                "data": {"type": "company", "id": c["company"]},
                "links": {"self": f"/v1/companies/{c['company']}"},
            }
        return {
            "type": "customer",
            "id": c["id"],
            "attributes": {
                "name": c["name"],
                "displayName": c["name"],
                "emails": c["emails"],
                "phones": c["phones"],
            },
            "relationships": relationships,
            "links": {"self": f"/v1/customers/{c['id']}"},
        }

    def _company_resource(self, c: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "company",
            "id": c["id"],
            "attributes": {"name": c["name"]},
            "links": {"self": f"/v1/companies/{c['id']}"},
        }

    def _conversation_resource(self, c: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "conversation",
            "id": c["id"],
            "attributes": {"name": c["name"], "status": c["status"], "tags": c["tags"]},
            "relationships": {
                "customer": {
                    "data": {"type": "customer", "id": c["customer"]},
                    "links": {"self": f"/v1/customers/{c['customer']}"},
                }
            },
            "links": {"self": f"/v1/conversations/{c['id']}"},
        }

    def _page(
        self, request: web.Request, items: list[dict[str, Any]], default_size: int = 100
    ) -> web.Response:
        try:
            page = max(int(request.query.get("page", "1")), 1)
            size = min(max(int(request.query.get("pageSize", str(default_size))), 1), 500)
        except ValueError:
            return self.error(400, "page and pageSize must be integers", code="invalid_paging")
        start = (page - 1) * size
        chunk = items[start : start + size]

        def link(p: int) -> str:
            return f"{request.path}?page={p}&pageSize={size}"

        links = {
            "self": link(page),
            "first": link(1),
            "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if start + size < len(items) else None,
        }
        return self.json(
            {
                "meta": {"page": page, "pageSize": size, "totalPages": -(-len(items) // size)},
                "data": chunk,
                "links": links,
            }
        )

    # -- search ------------------------------------------------------------------------

    def _criterion_matches(self, customer: dict[str, Any], criterion: Any) -> bool:
        if not isinstance(criterion, dict) or len(criterion) != 1:
            raise ValueError("each criterion names one attribute")
        ((attribute, condition),) = criterion.items()
        if attribute in ("and", "or"):
            return self._group_matches(customer, attribute, condition)
        if not isinstance(condition, dict) or len(condition) != 1:
            raise ValueError(f"bad condition for {attribute}")
        ((operator, value),) = condition.items()
        if operator not in _OPERATORS or not isinstance(value, str):
            raise ValueError(f"unsupported operator {operator}")
        if attribute == "customer_email":
            haves = [e["email"].lower() for e in customer["emails"]]
        elif attribute == "customer_phone":
            haves = [p["phone"].lower() for p in customer["phones"]]
        elif attribute == "customer_name":
            haves = [customer["name"].lower()]
        else:
            raise ValueError(f"unknown attribute {attribute}")
        want = value.lower()
        if operator == "contains":
            return any(want in h for h in haves)
        return any(want == h for h in haves)

    def _group_matches(self, customer: dict[str, Any], kind: str, criteria: Any) -> bool:
        if not isinstance(criteria, list) or not criteria:
            raise ValueError(f"{kind} must be a non-empty list")
        results = [self._criterion_matches(customer, c) for c in criteria]
        return all(results) if kind == "and" else any(results)

    async def search(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        self.last_search = body
        if not isinstance(body, dict) or body.get("queryContext") != "customer":
            return self.error(400, "queryContext must be customer", code="invalid_search")
        groups = [k for k in ("and", "or") if k in body]
        if len(groups) != 1:
            return self.error(400, "exactly one of and/or is required", code="invalid_search")
        try:
            found = [
                self._customer_resource(c)
                for c in self.customers.values()
                if self._group_matches(c, groups[0], body[groups[0]])
            ]
        except ValueError as exc:
            return self.error(400, str(exc), code="invalid_search")
        return self._page(request, found, default_size=25)

    # -- get / related / create --------------------------------------------------------

    async def get_customer(self, request: web.Request) -> web.Response:
        customer = self.customers.get(request.match_info["id"])
        if customer is None:
            return self.error(404, "Customer not found", code="not_found")
        return self.json({"data": self._customer_resource(customer)})

    async def get_company(self, request: web.Request) -> web.Response:
        company = self.companies.get(request.match_info["id"])
        if company is None:
            return self.error(404, "Company not found", code="not_found")
        return self.json({"data": self._company_resource(company)})

    async def get_conversation(self, request: web.Request) -> web.Response:
        conversation = self.conversations.get(request.match_info["id"])
        if conversation is None:
            return self.error(404, "Conversation not found", code="not_found")
        return self.json({"data": self._conversation_resource(conversation)})

    async def customer_conversations(self, request: web.Request) -> web.Response:
        customer_id = request.match_info["id"]
        if customer_id not in self.customers:
            return self.error(404, "Customer not found", code="not_found")
        items = [
            self._conversation_resource(c)
            for c in self.conversations.values()
            if c["customer"] == customer_id
        ]
        return self._page(request, items)

    async def create_customer(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("name"):
            return self.error(400, '"name" is required', code="validation_error")
        emails = [e.get("email") for e in body.get("emails") or [] if isinstance(e, dict)]
        for email in emails:
            if any(
                email and email.lower() == e["email"].lower()
                for c in self.customers.values()
                for e in c["emails"]
            ):
                return self.error(409, f"email {email} already in use", code="duplicate")
        phones = [p.get("phone") for p in body.get("phones") or [] if isinstance(p, dict)]
        customer = self.add_customer(
            body["name"],
            emails[0] if emails else None,
            phones[0] if phones else None,
            body.get("company"),
        )
        return self.json({"data": self._customer_resource(customer)}, status=201)

    async def create_company(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("name"):
            return self.error(400, '"name" is required', code="validation_error")
        return self.json({"data": self._company_resource(self.add_company(body["name"]))}, 201)

    async def create_conversation(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict) or body.get("customer") not in self.customers:
            return self.error(
                400, '"customer" must be an existing customer id', code="validation_error"
            )
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(
            isinstance(tag, str) and _OBJECT_ID.match(tag) and tag in self.tags for tag in tags
        ):
            return self.error(400, '"tags" must be an array of tag ids', code="validation_error")
        conversation = self.add_conversation(
            body.get("name") or "New conversation", body["customer"]
        )
        conversation["tags"] = list(dict.fromkeys(tags))
        return self.json({"data": self._conversation_resource(conversation)}, status=201)

    async def append_conversation_tags(self, request: web.Request) -> web.Response:
        if not self.may_update_conversations:
            return self.error(403, "requires org.permission.conversation.update", code="forbidden")
        conversation = self.conversations.get(request.match_info["id"])
        if conversation is None:
            return self.error(404, "Conversation not found", code="not_found")
        names = await read_json(request)
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            return self.error(400, "body must be an array of tag names", code="validation_error")
        ids = [self.tag_id(name) for name in names]
        conversation["tags"] = list(dict.fromkeys([*conversation["tags"], *ids]))
        return self.json({"data": self._conversation_resource(conversation)})


__all__ = ["KustomerFake"]
