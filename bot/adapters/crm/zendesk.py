"""Zendesk Support adapter: users (contacts), organizations (accounts), tickets (cases).

Auth is an API token (basic ``{email}/token:{token}``), a long-lived OAuth access token,
or an OAuth client-credentials grant against ``/oauth/tokens``.

Search uses ``GET /api/v2/search.json`` (offset pages by ``next_page``), which counts
against the account's general API limit (200-700 requests a minute by plan), not the
export search's 100 a minute. A caller lookup by phone is one request:
``type:user phone:*4155550100`` -- digits without "+", a leading ``*`` so the stored
formatting does not matter, as Zendesk documents for finding a caller
(https://developer.zendesk.com/documentation/voice/talk-partner-edition/retrieving-the-zendesk-user-id-of-a-caller/);
candidates are then verified (:mod:`bot.adapters.crm.phones`). A name is one query over
users and organizations together (``name:"..."``, told apart by ``result_type``). Every
value is digits only or a quoted phrase with quotes and backslashes removed, so input
like ``x" role:admin`` cannot add search terms. Tickets of a user or organization are
read with cursor pagination. Updates and timeline activities are not supported.

API reference: https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/
and https://developer.zendesk.com/api-reference/introduction/rate-limits/
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from bot.adapters.crm.credentials import TokenProvider
from bot.adapters.crm.http import HttpResponse
from bot.adapters.crm.phones import keep_candidate, national_number
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
    nest,
    no_credentials,
    no_such_record,
    not_supported,
    oauth_endpoint,
    unexpected_create,
    wanted_types,
)
from bot.adapters.crm.tokens import StaticSecret
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.services.crm import (
    CrmError,
    SearchCriteria,
)

_QUERY_UNSAFE = '"\\'
_KINDS = {"contact": "user", "account": "organization", "case": "ticket"}
_PATHS = {"contact": "users", "account": "organizations", "case": "tickets"}
_TYPES_BY_KIND = {"user": "contact", "organization": "account"}


@dataclass(frozen=True)
class ZendeskSettings:
    """``base_url`` is ``https://{subdomain}.zendesk.com``. Give one credential:
    ``email`` + ``api_token``; or ``oauth_token``; or ``client_id`` + ``client_secret``."""

    base_url: str
    email: str | None = None
    api_token: str | None = field(default=None, repr=False)
    oauth_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scope: str = "read write"
    max_results: int = MAX_RESULTS


class ZendeskCrm(VendorCrm):
    """``http_options`` go to :class:`ResilientHttp` (policy, clock, sleep, rand...)."""

    creatable = frozenset({"contact", "case"})
    """What the card offers to create here for an unknown caller or a case."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ZendeskSettings,
        *,
        settings_id: str,
        display_name: str = "Zendesk",
        auth: TokenProvider | None = None,
        **http_options: Any,
    ) -> None:
        super().__init__(settings_id=settings_id, display_name=display_name)
        self.settings = settings
        self.base = URL(settings.base_url.rstrip("/"))
        self.http = make_http(
            session,
            name=display_name,
            auth=auth or self._auth(session, settings, http_options),
            error_mapper=self._map_error,
            **http_options,
        )

    def _auth(
        self, session: aiohttp.ClientSession, s: ZendeskSettings, options: dict[str, Any]
    ) -> TokenProvider:
        if s.email and s.api_token:
            return StaticSecret.basic(f"{s.email}/token", s.api_token)
        if s.oauth_token:
            return StaticSecret(s.oauth_token)
        if s.client_id and s.client_secret:
            return oauth_endpoint(
                session,
                str(self.base / "oauth" / "tokens"),
                name=self.display_name,
                error_mapper=self._map_error,
                http_options=options,
                client_id=s.client_id,
                client_secret=s.client_secret,
                scope=s.scope,
                json_body=True,
            )
        raise no_credentials(self.display_name)

    # -- errors ------------------------------------------------------------------------

    def _map_error(self, response: HttpResponse) -> CrmError | None:
        return map_status_error(
            self.display_name,
            response,
            denied=lambda body: as_text(body.get("description")) or "permission denied",
            invalid=_invalid_reason,
        )

    # -- records -----------------------------------------------------------------------

    def url_for(self, record_type: str, record_id: str) -> str:
        return str(self.base / "agent" / _PATHS[record_type] / record_id)

    def _record(self, record_type: str, raw: dict[str, Any]) -> CrmRecord:
        rid = str(raw["id"])
        if record_type == "contact":
            title = as_text(raw.get("name")) or as_text(raw.get("email")) or f"User {rid}"
            keys: tuple[str, ...] = ("email", "phone", "organization_id", "role")
            subtitle = as_text(raw.get("email")) or as_text(raw.get("phone"))
        elif record_type == "account":
            title = as_text(raw.get("name")) or f"Organization {rid}"
            keys = ("name", "details")
            subtitle = "Organization"
        else:
            title = as_text(raw.get("subject")) or f"Ticket #{rid}"
            keys = ("subject", "status", "priority", "requester_id", "organization_id")
            subtitle = " · ".join(p for p in (f"#{rid}", as_text(raw.get("status"))) if p)
        fields = {k: v for k in keys if (v := as_text(raw.get(k))) is not None}
        fields = self.with_extra_fields(
            fields, raw, raw.get("user_fields"), raw.get("organization_fields")
        )
        return CrmRecord(
            ref=self.ref(record_type, rid),
            title=title,
            subtitle=subtitle,
            fields=fields,
            url=self.url_for(record_type, rid),
        )

    # -- paging ------------------------------------------------------------------------

    async def _cursor(
        self, url: URL, params: dict[str, str], key: str, limit: int
    ) -> list[dict[str, Any]]:
        def read(response: HttpResponse) -> tuple[list[dict[str, Any]], bool, str | None]:
            body = response.body if isinstance(response.body, dict) else {}
            page = body.get(key)
            items = [p for p in page if isinstance(p, dict)] if isinstance(page, list) else []
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            links = body.get("links") if isinstance(body.get("links"), dict) else {}
            return items, bool((meta or {}).get("has_more")), (links or {}).get("next")

        items = await follow_pages(url.update_query(params), self.base, limit, self.http.get, read)
        return items[:limit]

    # -- CrmClient ---------------------------------------------------------------------

    def search_queries(self, criteria: SearchCriteria) -> list[str]:
        """The search.json queries for ``criteria``: one per phone and per email, one for
        a name over the wanted users and organizations."""
        types = wanted_types(criteria, ("contact", "account"))
        queries: list[str] = []
        if "contact" in types:
            numbers = dict.fromkeys(n for p in criteria.phones if (n := national_number(p)))
            queries += [f"type:user phone:*{number}" for number in numbers]
            for email in criteria.emails:
                if value := clean_value(email, drop=_QUERY_UNSAFE):
                    queries.append(f'type:user email:"{value}"')
        name = clean_value(criteria.name, drop=_QUERY_UNSAFE) if criteria.name else ""
        if name:
            kinds = [_KINDS[t] for t in types]
            prefix = f"type:{kinds[0]} " if len(kinds) == 1 else ""
            if kinds:
                queries.append(f'{prefix}name:"{name}"')
        return queries

    async def _found(self, criteria: SearchCriteria, query: str) -> list[CrmRecord]:
        """The records one search.json query finds, up to the search's limit."""
        limit = self.settings.max_results
        first = (self.base / "api" / "v2" / "search.json").with_query(
            query=query, per_page=str(min(limit, 100))
        )
        found = await follow_pages(first, self.base, limit, self.http.get, _search_page)
        records: list[CrmRecord] = []
        for raw in found[:limit]:
            record_type = _TYPES_BY_KIND.get(str(raw.get("result_type")))
            if record_type is None or "id" not in raw:
                continue
            if record_type == "contact" and not keep_candidate(
                criteria, [raw.get("phone")], [raw.get("email")]
            ):
                continue
            records.append(self._record(record_type, raw))
        return records

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        # one query per number and address: asked at once, one Zendesk round trip
        queries = self.search_queries(criteria)
        found = await all_at_once(self._found(criteria, query) for query in queries)
        return dedupe((record for part in found for record in part), self.settings.max_results)

    async def _get_raw(self, ref: RecordRef) -> dict[str, Any]:
        path = self.numeric_ref(ref, _PATHS)
        response = await self.http.get(self.base / "api" / "v2" / path / f"{ref.id}.json")
        body = response.body if isinstance(response.body, dict) else {}
        raw = body.get(_KINDS[ref.type])
        if not isinstance(raw, dict):
            raise no_such_record(self.display_name)
        return raw

    async def get(self, ref: RecordRef) -> CrmRecord:
        return self._record(ref.type, await self._get_raw(ref))

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        limit = self.settings.max_results
        api = self.base / "api" / "v2"
        size = {"page[size]": str(min(limit, 100))}
        raw = await self._get_raw(ref)
        records: list[CrmRecord] = []
        if ref.type == "contact":
            org_id = raw.get("organization_id")
            if org_id:
                records.append(await self.get(self.ref("account", org_id)))
            tickets = await self._cursor(
                api / "users" / ref.id / "tickets" / "requested.json", size, "tickets", limit
            )
            records.extend(self._record("case", t) for t in tickets)
        elif ref.type == "account":
            users = await self._cursor(
                api / "organizations" / ref.id / "users.json", size, "users", limit
            )
            records.extend(self._record("contact", u) for u in users)
            tickets = await self._cursor(
                api / "organizations" / ref.id / "tickets.json", size, "tickets", limit
            )
            records.extend(self._record("case", t) for t in tickets)
        else:
            requester = raw.get("requester_id")
            if requester:
                records.append(await self.get(self.ref("contact", requester)))
        return dedupe(records, limit)

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        if record_type not in _KINDS:
            raise not_supported(self.display_name, f"creating {record_type} records")
        extra = dict(record.fields)
        payload: dict[str, Any]
        if record_type == "contact":
            first, last = extra.pop("first_name", ""), extra.pop("last_name", "")
            name = extra.pop("name", "") or f"{first} {last}".strip()
            payload = {"name": name, **nest(extra)}
            if related_to is not None and related_to.type == "account":
                payload["organization_id"] = _int_id(related_to, self.display_name)
        elif record_type == "account":
            payload = nest(extra)
        else:
            description = extra.pop("description", "") or extra.get("subject", "")
            payload = {**nest(extra), "comment": {"body": description}}
            if related_to is not None and related_to.type == "contact":
                payload["requester_id"] = _int_id(related_to, self.display_name)
            elif related_to is not None and related_to.type == "account":
                payload["organization_id"] = _int_id(related_to, self.display_name)
        if record.tags:  # an array of strings on users, organizations and tickets alike
            payload["tags"] = list(record.tags)
        kind = _KINDS[record_type]
        response = await self.http.post(
            self.base / "api" / "v2" / f"{_PATHS[record_type]}.json", json_body={kind: payload}
        )
        body = response.body if isinstance(response.body, dict) else {}
        raw = body.get(kind)
        if not isinstance(raw, dict) or "id" not in raw:
            raise unexpected_create(self.display_name)
        return self._record(record_type, raw)


def _search_page(response: HttpResponse) -> tuple[list[dict[str, Any]], bool, str | None]:
    body = response.body if isinstance(response.body, dict) else {}
    page = body.get("results")
    items = [p for p in page if isinstance(p, dict)] if isinstance(page, list) else []
    next_page = as_text(body.get("next_page"))
    return items, bool(items and next_page), next_page


def _invalid_reason(body: dict[str, Any]) -> str:
    """The validation messages of a refused write (``details.{field}[].description``)."""
    messages: list[str] = []
    details = body.get("details")
    if isinstance(details, dict):
        for problems in details.values():
            for problem in problems if isinstance(problems, list) else []:
                if isinstance(problem, dict) and problem.get("description"):
                    messages.append(str(problem["description"]))
    if not messages:
        messages.append(as_text(body.get("description")) or as_text(body.get("error")) or "invalid")
    return "; ".join(messages)


def _int_id(ref: RecordRef, name: str) -> int:
    return int_id(ref, name, "a Zendesk id")


__all__ = ["ZendeskCrm", "ZendeskSettings"]
