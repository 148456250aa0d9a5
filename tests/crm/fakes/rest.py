# A generic JSON REST CRM, for the configurable "generic REST" connector.  It follows no
# single vendor; its conventions are the common ones documented in RFC 9110 (status codes,
# Retry-After: https://www.rfc-editor.org/rfc/rfc9110.html#name-retry-after), RFC 6750
# (bearer tokens: https://www.rfc-editor.org/rfc/rfc6750) and RFC 7617 (basic auth:
# https://www.rfc-editor.org/rfc/rfc7617).  Auth is one of none / basic / bearer / an
# API-key header.  GET /v2/people?phone=&email=&name= answers
# {"data": {"items": [...]}, "next": <url or null>}; GET /v2/people/{id} answers
# {"person": {...}}.  Numbers are kept as typed; the phone search normalises the way
# such APIs do with libphonenumber: a stored number matches when its national
# significant number (read in the query's country when it has no country code) is the
# query's, whatever the formatting; a suffix alone never matches.
# PATCH /v2/people/{id} {"custom": {...}} merges custom fields and answers
# {"person": {...}}; POST /v2/people/{id}/notes {"note": {"title", "text",
# "kind"}} answers 201 {"id": "n-..."} (the note is in person["notes"]); errors are
# {"message": ..., "code": ...}.
"""A contract fake of an arbitrary JSON REST CRM, for the generic REST adapter."""

from __future__ import annotations

from typing import Any, Literal

import phonenumbers
from aiohttp import web

from .base import FakeCrm, Faults, basic_credentials, bearer_token, read_json

AuthScheme = Literal["none", "basic", "bearer", "api_key"]


def _same_line(stored: str, query: str) -> bool:
    try:
        b = phonenumbers.parse(query, "US")
        a = phonenumbers.parse(stored, phonenumbers.region_code_for_number(b))
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.national_significant_number(a) == phonenumbers.national_significant_number(
        b
    )


class RestFake(FakeCrm):
    def __init__(
        self,
        faults: Faults | None = None,
        *,
        auth: AuthScheme = "bearer",
        secret: str = "rest-token",
        username: str = "svc",
        api_key_header: str = "X-Api-Key",
        page_size: int = 2,
        seed: bool = True,
    ) -> None:
        self.auth = auth
        self.secret = secret
        self.username = username
        self.api_key_header = api_key_header
        self.page_size = page_size
        self.people: dict[str, dict[str, Any]] = {}
        self._next = 0
        super().__init__(faults)
        if seed:
            self.seed()

    def add_person(
        self,
        name: str,
        email: str | None = None,
        phone: str | None = None,
        company: str | None = None,
    ) -> dict[str, Any]:
        self._next += 1
        pid = f"p-{self._next}"
        self.people[pid] = {
            "id": pid,
            "profile": {"displayName": name, "company": {"name": company}},
            "contact": {
                "emails": [email] if email else [],
                "phones": [{"number": phone}] if phone else [],
            },
        }
        return self.people[pid]

    def seed(self) -> None:
        self.add_person("Jane Doe", "jane@example.com", "(415) 555-0100", "Acme Corp")
        self.add_person("John Smith", "john@example.com", "415 555 0101")

    def authenticate(self, request: web.Request) -> bool:
        if self.auth == "none":
            return True
        if self.auth == "basic":
            return basic_credentials(request) == (self.username, self.secret)
        if self.auth == "bearer":
            return bearer_token(request) == self.secret
        return request.headers.get(self.api_key_header) == self.secret

    def error(self, status: int, message: str, *, code: str | None = None) -> web.Response:
        return self.json({"message": message, "code": code or str(status)}, status=status)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v2/people", self.search)
        router.add_get("/v2/people/{id}", self.get)
        router.add_post("/v2/people", self.create)
        router.add_patch("/v2/people/{id}", self.update)
        router.add_post("/v2/people/{id}/notes", self.add_note)

    def _matches(self, person: dict[str, Any], query: Any) -> bool:
        if "phone" in query:
            numbers = [p["number"] for p in person["contact"]["phones"]]
            if not any(_same_line(n, query["phone"]) for n in numbers):
                return False
        if "email" in query:
            emails = [e.lower() for e in person["contact"]["emails"]]
            if query["email"].lower() not in emails:
                return False
        return "name" not in query or (
            query["name"].lower() in person["profile"]["displayName"].lower()
        )

    async def search(self, request: web.Request) -> web.Response:
        query = {k: v for k, v in request.query.items() if k in ("phone", "email", "name")}
        if not query:
            return self.error(400, "phone, email or name is required", code="bad_request")
        found = [p for p in self.people.values() if self._matches(p, query)]
        try:
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            return self.error(400, "offset must be an integer", code="bad_request")
        chunk = found[offset : offset + self.page_size]
        more = offset + self.page_size < len(found)
        next_url = (
            str(request.url.update_query(offset=str(offset + self.page_size))) if more else None
        )
        return self.json({"data": {"items": chunk}, "next": next_url})

    async def get(self, request: web.Request) -> web.Response:
        person = self.people.get(request.match_info["id"])
        if person is None:
            return self.error(404, "person not found", code="not_found")
        return self.json({"person": person})

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("name"):
            return self.error(422, "name is required", code="validation")
        person = self.add_person(body["name"], body.get("email"), body.get("phone"))
        return self.json({"person": person}, status=201)

    async def update(self, request: web.Request) -> web.Response:
        person = self.people.get(request.match_info["id"])
        if person is None:
            return self.error(404, "person not found", code="not_found")
        body = await read_json(request)
        custom = body.get("custom") if isinstance(body, dict) else None
        if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
            return self.error(422, "custom must be an object of strings", code="validation")
        person.setdefault("custom", {}).update(custom)
        return self.json({"person": person})

    async def add_note(self, request: web.Request) -> web.Response:
        person = self.people.get(request.match_info["id"])
        if person is None:
            return self.error(404, "person not found", code="not_found")
        body = await read_json(request)
        note = body.get("note") if isinstance(body, dict) else None
        if not isinstance(note, dict) or not isinstance(note.get("title"), str):
            return self.error(422, "note.title is required", code="validation")
        self._next += 1
        note_id = f"n-{self._next}"
        person.setdefault("notes", []).append({"id": note_id, **note})
        return self.json({"id": note_id}, status=201)


__all__ = ["AuthScheme", "RestFake"]
