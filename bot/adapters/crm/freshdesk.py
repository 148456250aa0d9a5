"""Freshdesk adapter (API v2): contacts, companies (accounts), tickets (cases).

Auth is the API key as the basic-auth user name with ``X`` as password. Phones and
emails are found with the filter-contacts search (``/api/v2/search/contacts?query=
"email:'a@b.c' OR phone:'+1...' OR mobile:'+1...'"``,
https://developers.freshdesk.com/api/#filter_contacts); values are single-quoted with
quotes and backslashes removed, so input cannot add clauses, and long criteria are
split into several queries under Freshdesk's 512-character limit. ``phone`` and
``mobile`` are compared as stored strings, so a number is asked for in each of its
common written forms (:func:`~bot.adapters.crm.phones.written_forms`): about 3 queries
per number, each candidate then verified (:mod:`bot.adapters.crm.phones`). Freshdesk has
no prefix operator for them, so a number stored with an extension ("... x123") is not
found by phone. Search pages
are 30 long and limited to 10 pages by Freshdesk.

Names go through the contact autocomplete (which returns ids and names only), then each
match is read: a name search costs 1 + at most :data:`NAME_LOOKUPS` requests.
Lists (a contact's tickets) follow the ``link: <...>; rel="next"`` header, on the
helpdesk's own origin only. Note that Freshdesk's ticket list only returns tickets of
the last 30 days unless filtered otherwise.

API reference: https://developers.freshdesk.com/api/
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from bot.adapters.crm.credentials import TokenProvider
from bot.adapters.crm.http import HttpResponse
from bot.adapters.crm.phones import keep_candidate, written_forms
from bot.adapters.crm.restkit import (
    MAX_RESULTS,
    VendorCrm,
    all_at_once,
    as_text,
    clean_value,
    dedupe,
    follow_pages,
    int_id,
    make_http,
    map_status_error,
    no_such_record,
    not_supported,
    parse_link_header,
    unexpected_create,
    wanted_types,
)
from bot.adapters.crm.tokens import StaticSecret
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.services.crm import (
    CrmError,
    RecordNotFound,
    SearchCriteria,
)

_PATHS = {"contact": "contacts", "account": "companies", "case": "tickets"}
_QUERY_UNSAFE = "'\"\\"
SEARCH_PAGE_SIZE = 30
SEARCH_MAX_PAGE = 10
QUERY_MAX_LENGTH = 512
NAME_LOOKUPS = 5
"""Autocomplete matches read in full per name search (one GET each)."""
TICKET_STATUS = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}


@dataclass(frozen=True)
class FreshdeskSettings:
    """``helpdesk_url`` is ``https://{domain}.freshdesk.com``."""

    helpdesk_url: str
    api_key: str = field(repr=False)
    max_results: int = MAX_RESULTS
    page_size: int = 100


def search_queries(phones: list[str], emails: list[str]) -> list[str]:
    """Filter-contacts queries for these identifiers, each within Freshdesk's limit."""
    clauses: list[str] = []
    for email in emails:
        if value := clean_value(email, drop=_QUERY_UNSAFE, max_length=254):
            clauses.append(f"email:'{value}'")
    forms = dict.fromkeys(form for phone in phones for form in written_forms(phone))
    for form in forms:
        if value := clean_value(form, drop=_QUERY_UNSAFE, max_length=40):
            clauses += [f"phone:'{value}'", f"mobile:'{value}'"]
    queries: list[str] = []
    current = ""
    for clause in clauses:
        candidate = f"{current} OR {clause}" if current else clause
        if len(candidate) + 2 > QUERY_MAX_LENGTH and current:
            queries.append(f'"{current}"')
            candidate = clause
        current = candidate
    if current:
        queries.append(f'"{current}"')
    return queries


class FreshdeskCrm(VendorCrm):
    """``http_options`` go to :class:`ResilientHttp` (policy, clock, sleep, rand...)."""

    creatable = frozenset({"contact", "case"})
    """What the card offers to create here for an unknown caller or a case."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: FreshdeskSettings,
        *,
        settings_id: str,
        display_name: str = "Freshdesk",
        auth: TokenProvider | None = None,
        **http_options: Any,
    ) -> None:
        super().__init__(settings_id=settings_id, display_name=display_name)
        self.settings = settings
        self.base = URL(settings.helpdesk_url.rstrip("/"))
        self.api = self.base / "api" / "v2"
        self.http = make_http(
            session,
            name=display_name,
            auth=auth or StaticSecret.basic(settings.api_key, "X"),
            error_mapper=self._map_error,
            **http_options,
        )

    # -- errors ------------------------------------------------------------------------

    def _map_error(self, response: HttpResponse) -> CrmError | None:
        return map_status_error(
            self.display_name,
            response,
            credentials="our API key",
            denied=lambda body: as_text(body.get("message")) or "access denied",
            invalid=_invalid_reason,
        )

    # -- records -----------------------------------------------------------------------

    def url_for(self, record_type: str, record_id: str) -> str:
        return str(self.base / "a" / _PATHS[record_type] / record_id)

    def _record(self, record_type: str, raw: dict[str, Any]) -> CrmRecord:
        rid = str(raw["id"])
        fields = {k: v for k, value in raw.items() if (v := as_text(value)) is not None}
        fields = self.with_extra_fields(fields, raw.get("custom_fields"))
        if record_type == "contact":
            title = fields.get("name") or fields.get("email") or f"Contact {rid}"
            subtitle = fields.get("email") or fields.get("phone") or fields.get("mobile")
        elif record_type == "account":
            title = fields.get("name") or f"Company {rid}"
            subtitle = "Company"
        else:
            title = fields.get("subject") or f"Ticket #{rid}"
            status = raw.get("status")
            label = TICKET_STATUS.get(status, str(status)) if isinstance(status, int) else None
            if label:
                fields["status"] = label
            subtitle = " · ".join(p for p in (f"#{rid}", label) if p)
        return CrmRecord(
            ref=self.ref(record_type, rid),
            title=title,
            subtitle=subtitle,
            fields=fields,
            url=self.url_for(record_type, rid),
        )

    async def _list(self, path: str, params: dict[str, str], limit: int) -> list[dict[str, Any]]:
        per_page = max(1, min(limit, self.settings.page_size, 100))
        url = (self.api / path).with_query({**params, "per_page": str(per_page)})

        def read(response: HttpResponse) -> tuple[list[dict[str, Any]], bool, str | None]:
            page = response.body if isinstance(response.body, list) else []
            items = [i for i in page if isinstance(i, dict) and "id" in i]
            return items, bool(page), parse_link_header(response.headers.get("link")).get("next")

        items = await follow_pages(url, self.base, limit, self.http.get, read)
        return items[:limit]

    # -- CrmClient ---------------------------------------------------------------------

    async def _filtered(self, criteria: SearchCriteria, query: str) -> list[CrmRecord]:
        """The contacts one filter query finds, page by page up to the search's limit."""
        limit = self.settings.max_results
        records: list[CrmRecord] = []
        for page in range(1, SEARCH_MAX_PAGE + 1):
            response = await self.http.get(
                self.api / "search" / "contacts", params={"query": query, "page": str(page)}
            )
            body = response.body if isinstance(response.body, dict) else {}
            results = body.get("results") if isinstance(body.get("results"), list) else []
            found = [r for r in results or [] if isinstance(r, dict) and "id" in r]
            records.extend(
                self._record("contact", r)
                for r in found
                if keep_candidate(criteria, (r.get("phone"), r.get("mobile")), [r.get("email")])
            )
            total = body.get("total")
            seen = page * SEARCH_PAGE_SIZE
            if (
                len(found) < SEARCH_PAGE_SIZE
                or len(records) >= limit
                or (isinstance(total, int) and seen >= total)
            ):
                break
        return records

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        if "contact" not in wanted_types(criteria, ("contact",)):
            return []
        limit = self.settings.max_results
        # A number's written forms fill two or three 512-character queries: asked at once.
        queries = search_queries(criteria.phones, criteria.emails)
        found = await all_at_once(self._filtered(criteria, query) for query in queries)
        records = [record for part in found for record in part]
        name = clean_value(criteria.name) if criteria.name else ""
        if name:
            response = await self.http.get(
                self.api / "contacts" / "autocomplete", params={"term": name}
            )
            matches = response.body if isinstance(response.body, list) else []
            for match in matches[: min(NAME_LOOKUPS, limit)]:
                if isinstance(match, dict) and str(match.get("id", "")).isdigit():
                    try:
                        records.append(await self.get(self.ref("contact", match["id"])))
                    except RecordNotFound:
                        continue
        return dedupe(records, limit)

    async def _get_raw(self, ref: RecordRef) -> dict[str, Any]:
        response = await self.http.get(self.api / self.numeric_ref(ref, _PATHS) / ref.id)
        if not isinstance(response.body, dict) or "id" not in response.body:
            raise no_such_record(self.display_name)
        return response.body

    async def get(self, ref: RecordRef) -> CrmRecord:
        return self._record(ref.type, await self._get_raw(ref))

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        limit = self.settings.max_results
        raw = await self._get_raw(ref)
        records: list[CrmRecord] = []
        if ref.type == "contact":
            company = raw.get("company_id")
            if company:
                records.append(await self.get(self.ref("account", company)))
            tickets = await self._list("tickets", {"requester_id": ref.id}, limit)
            records.extend(self._record("case", t) for t in tickets)
        elif ref.type == "account":
            contacts = await self._list("contacts", {"company_id": ref.id}, limit)
            records.extend(self._record("contact", c) for c in contacts)
            tickets = await self._list("tickets", {"company_id": ref.id}, limit)
            records.extend(self._record("case", t) for t in tickets)
        else:
            requester = raw.get("requester_id")
            if requester:
                records.append(await self.get(self.ref("contact", requester)))
        return dedupe(records, limit)

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        if record_type not in _PATHS:
            raise not_supported(self.display_name, f"creating {record_type} records")
        payload: dict[str, Any] = {}
        custom: dict[str, str] = {}
        for key, value in record.fields.items():
            if key.startswith("cf_"):
                custom[key] = value
            else:
                payload[key] = value
        if record.tags:
            payload["tags"] = list(record.tags)
        if custom:
            payload["custom_fields"] = custom
        if record_type == "contact":
            first, last = payload.pop("first_name", ""), payload.pop("last_name", "")
            payload.setdefault("name", f"{first} {last}".strip())
            if related_to is not None and related_to.type == "account":
                payload["company_id"] = _int_id(related_to, self.display_name)
        elif record_type == "case":
            payload.setdefault("description", payload.get("subject", ""))
            payload.setdefault("status", 2)
            payload.setdefault("priority", 1)
            for key in ("status", "priority"):
                if isinstance(payload[key], str) and payload[key].isdigit():
                    payload[key] = int(payload[key])
            if related_to is not None and related_to.type == "contact":
                payload["requester_id"] = _int_id(related_to, self.display_name)
        response = await self.http.post(self.api / _PATHS[record_type], json_body=payload)
        if not isinstance(response.body, dict) or "id" not in response.body:
            raise unexpected_create(self.display_name)
        return self._record(record_type, response.body)


def _invalid_reason(body: dict[str, Any]) -> str:
    """The validation problems of a refused write (``errors[]``: field, message, code)."""
    problems = []
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            field_name = as_text(error.get("field"))
            message = as_text(error.get("message")) or as_text(error.get("code"))
            problems.append(f"{field_name}: {message}" if field_name else str(message))
    return "; ".join(problems) or as_text(body.get("description")) or "invalid"


def _int_id(ref: RecordRef, name: str) -> int:
    return int_id(ref, name, "a Freshdesk id")


__all__ = ["FreshdeskCrm", "FreshdeskSettings", "search_queries"]
