"""Kustomer adapter: customers (contacts), companies (accounts), conversations (cases).

Auth is an API key sent as ``Authorization: Bearer {key}``. Searches go to
``POST /v1/customers/search`` as a JSON criteria document (``{"or": [{"customer_phone":
{"contains": ...}}], "queryContext": "customer"}``) -- values are JSON strings, never
spliced into query text -- and are paged by re-posting to ``links.next``. Phones are
kept as typed, so a number is asked for as each of its common written forms
(:func:`~bot.adapters.crm.phones.written_forms`, ``contains`` so extensions do not hide
it) and every candidate is verified (:mod:`bot.adapters.crm.phones`). Lists (a
customer's conversations) follow ``links.next`` too, on the API's own origin only.

A customer's company is its ``relationships.company``; ``relationships.org`` is the
Kustomer tenant (``type: org``) every record carries, never a company
(https://developer.kustomer.com/docs/concepts/data-model). A new conversation's tags
(names, from the record-creation policy) are appended by name once it exists
(https://developer.kustomer.com/api/core-resources/append-tags-to-conversation): its
``tags`` attribute takes tag ids only. Updates and timeline activities are not supported.

API reference: https://developer.kustomer.com/kustomer-api-docs/reference
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import aiohttp
from yarl import URL

from bot.adapters.crm.credentials import TokenProvider
from bot.adapters.crm.http import HttpResponse
from bot.adapters.crm.phones import keep_candidate, written_forms
from bot.adapters.crm.restkit import (
    MAX_RESULTS,
    VendorCrm,
    as_text,
    clean_value,
    dedupe,
    follow_pages,
    make_http,
    map_status_error,
    nest,
    no_such_record,
    not_supported,
    unexpected_create,
    wanted_types,
)
from bot.adapters.crm.tokens import StaticSecret
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.i18n import t
from bot.services.crm import (
    CrmError,
    InvalidRecord,
    SearchCriteria,
)

DEFAULT_API_URL = "https://api.kustomerapp.com"

#: record type -> (API collection, Kustomer object name, UI path)
_TYPES: dict[str, tuple[str, str, str]] = {
    "contact": ("customers", "customer", "customers"),
    "account": ("companies", "company", "companies"),
    "case": ("conversations", "conversation", "conversations"),
}
_ALIASES = {"customer": "contact", "company": "account", "conversation": "case"}
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KustomerSettings:
    """``api_url`` is the API host (``https://api.prod2.kustomerapp.com`` for EU orgs);
    ``ui_url`` the org's agent app (``https://{org}.kustomerapp.com``) for deep links."""

    api_key: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    ui_url: str | None = None
    max_results: int = MAX_RESULTS
    page_size: int = 100


class KustomerCrm(VendorCrm):
    """``http_options`` go to :class:`ResilientHttp` (policy, clock, sleep, rand...)."""

    creatable = frozenset({"contact", "case"})
    """What the card offers to create here for an unknown caller or a case."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: KustomerSettings,
        *,
        settings_id: str,
        display_name: str = "Kustomer",
        auth: TokenProvider | None = None,
        **http_options: Any,
    ) -> None:
        super().__init__(settings_id=settings_id, display_name=display_name)
        self.settings = settings
        self.base = URL(settings.api_url.rstrip("/"))
        self.ui = URL(settings.ui_url.rstrip("/")) if settings.ui_url else None
        size = max(1, min(settings.max_results, settings.page_size))
        self._search_url = (self.base / "v1" / "customers" / "search").with_query(
            page="1", pageSize=str(size)
        )
        self.http = make_http(
            session,
            name=display_name,
            auth=auth or StaticSecret(settings.api_key),
            error_mapper=self._map_error,
            **http_options,
        )

    # -- errors ------------------------------------------------------------------------

    def _map_error(self, response: HttpResponse) -> CrmError | None:
        return map_status_error(
            self.display_name,
            response,
            credentials="our API key",
            denied=lambda body: f"permission denied ({_error_details(body) or 'forbidden'})",
            invalid=lambda body: _error_details(body) or "invalid",
        )

    # -- records -----------------------------------------------------------------------

    def _type(self, record_type: str) -> str:
        record_type = _ALIASES.get(record_type, record_type)
        if record_type not in _TYPES:
            raise not_supported(self.display_name, f"{record_type} records")
        return record_type

    def url_for(self, record_type: str, record_id: str) -> str | None:
        if self.ui is None:
            return None
        return str(self.ui / "app" / _TYPES[record_type][2] / record_id)

    def _record(self, resource: dict[str, Any]) -> CrmRecord:
        record_type = _ALIASES.get(str(resource.get("type")), "contact")
        rid = str(resource["id"])
        attributes = resource.get("attributes")
        attrs: dict[str, Any] = attributes if isinstance(attributes, dict) else {}
        fields: dict[str, str] = {}
        subtitle: str | None = None
        if record_type == "contact":
            emails = [
                as_text(e.get("email")) for e in attrs.get("emails") or [] if isinstance(e, dict)
            ]
            phones = [
                as_text(p.get("phone")) for p in attrs.get("phones") or [] if isinstance(p, dict)
            ]
            if emails and emails[0]:
                fields["email"] = emails[0]
            if phones and phones[0]:
                fields["phone"] = phones[0]
            title = as_text(attrs.get("displayName")) or as_text(attrs.get("name"))
            subtitle = fields.get("email") or fields.get("phone")
        else:
            title = as_text(attrs.get("name"))
            status = as_text(attrs.get("status"))
            if status:
                fields["status"] = status
                subtitle = status
        for key, value in attrs.items():
            text = as_text(value)
            if text is not None:
                fields.setdefault(key, text)
        fields = self.with_extra_fields(fields, attrs.get("custom"))
        return CrmRecord(
            ref=self.ref(record_type, rid),
            title=title or f"{_TYPES[record_type][1].capitalize()} {rid}",
            subtitle=subtitle,
            fields=fields,
            url=self.url_for(record_type, rid),
        )

    async def _pages(
        self, first: URL, limit: int, body: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        async def fetch(url: URL) -> HttpResponse:
            if body is None:
                return await self.http.get(url)
            return await self.http.post(url, json_body=body, idempotent=True)

        def read(response: HttpResponse) -> tuple[list[dict[str, Any]], bool, str | None]:
            answer = response.body if isinstance(response.body, dict) else {}
            data = answer.get("data")
            page = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
            links = answer.get("links") if isinstance(answer.get("links"), dict) else {}
            next_link = as_text((links or {}).get("next"))
            return [r for r in page if r.get("id")], bool(page), next_link

        resources = await follow_pages(first, self.base, limit, fetch, read)
        return resources[:limit]

    # -- CrmClient ---------------------------------------------------------------------

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        if "contact" not in wanted_types(criteria, ("contact",)):
            return []
        terms = _search_terms(tuple(criteria.phones), tuple(criteria.emails), criteria.name)
        if not terms:
            return []
        body = {"or": list(terms), "queryContext": "customer"}
        found = await self._pages(self._search_url, self.settings.max_results, body)
        kept = [r for r in found if keep_candidate(criteria, *_contact_points(r))]
        return dedupe((self._record(r) for r in kept), self.settings.max_results)

    async def _get_resource(self, record_type: str, record_id: str) -> dict[str, Any]:
        if not _OBJECT_ID.match(record_id):
            raise no_such_record(self.display_name)
        response = await self.http.get(self.base / "v1" / _TYPES[record_type][0] / record_id)
        body = response.body if isinstance(response.body, dict) else {}
        data = body.get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise no_such_record(self.display_name)
        return data

    async def get(self, ref: RecordRef) -> CrmRecord:
        return self._record(await self._get_resource(self._type(ref.type), ref.id))

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        record_type = self._type(ref.type)
        limit = self.settings.max_results
        resource = await self._get_resource(record_type, ref.id)
        relationships = resource.get("relationships")
        rels: dict[str, Any] = relationships if isinstance(relationships, dict) else {}
        records: list[CrmRecord] = []
        if record_type == "contact":
            company = _related_id(rels, "company")
            if company:
                records.append(self._record(await self._get_resource("account", company)))
            size = max(1, min(limit, self.settings.page_size))
            first = (self.base / "v1" / "customers" / ref.id / "conversations").with_query(
                page="1", pageSize=str(size)
            )
            records.extend(self._record(r) for r in await self._pages(first, limit))
        elif record_type == "case":
            customer = _related_id(rels, "customer")
            if customer:
                records.append(self._record(await self._get_resource("contact", customer)))
        return dedupe(records, limit)

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        record_type = _ALIASES.get(record_type, record_type)
        if record_type not in _TYPES:
            raise not_supported(self.display_name, f"creating {record_type} records")
        extra = dict(record.fields)
        payload: dict[str, Any]
        if record_type == "contact":
            first, last = extra.pop("first_name", ""), extra.pop("last_name", "")
            name = extra.pop("name", "") or f"{first} {last}".strip()
            email, phone = extra.pop("email", ""), extra.pop("phone", "")
            payload = {"name": name, **nest(extra)}
            if email:
                payload["emails"] = [{"type": "home", "email": email}]
            if phone:
                payload["phones"] = [{"type": "mobile", "phone": phone}]
            if related_to is not None and _ALIASES.get(related_to.type, related_to.type) == (
                "account"
            ):
                payload["company"] = related_to.id
        elif record_type == "account":
            payload = nest(extra)
        else:
            subject = extra.pop("subject", "") or extra.pop("name", "")
            payload = {"name": subject, **nest(extra)}
            if related_to is None or _ALIASES.get(related_to.type, related_to.type) != "contact":
                raise InvalidRecord(
                    t("{crm}: a conversation must belong to a customer", crm=self.display_name)
                )
            payload["customer"] = related_to.id
        response = await self.http.post(
            self.base / "v1" / _TYPES[record_type][0], json_body=payload
        )
        body = response.body if isinstance(response.body, dict) else {}
        data = body.get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise unexpected_create(self.display_name)
        created = self._record(data)
        if record.tags and record_type == "case":
            await self._append_tags(created.ref.id, list(record.tags))
        return created

    async def _append_tags(self, conversation_id: str, names: list[str]) -> None:
        """Tags a new conversation by name ("Append tags to conversation" creates the ones
        the org lacks; the conversation's own ``tags`` would take tag ids only). A refusal
        keeps the conversation: the session is on its record, only the tags are missing."""
        url = self.base / "v1" / "conversations" / conversation_id / "tags"
        try:
            await self.http.post(url, json_body=names, idempotent=True)
        except CrmError as exc:
            log.warning(
                "%s: conversation %s kept without its tags %s: %s",
                self.display_name,
                conversation_id,
                names,
                exc,
            )


@lru_cache(maxsize=1024)
def _search_terms(
    phones: tuple[str, ...], emails: tuple[str, ...], name: str | None
) -> tuple[dict[str, Any], ...]:
    """The customer search's criteria for one caller: each written form of each number
    (``contains``, so extensions do not hide it), each address, else the name. Made once
    per caller, not once per Kustomer connection a card asks (nothing changes them)."""
    terms: list[dict[str, Any]] = []
    forms = dict.fromkeys(form for phone in phones for form in written_forms(phone))
    for form in forms:
        if value := clean_value(form, max_length=40):
            terms.append({"customer_phone": {"contains": value}})
    for email in emails:
        if value := clean_value(email, max_length=254):
            terms.append({"customer_email": {"equals": value}})
    if name and (value := clean_value(name)):
        terms.append({"customer_name": {"contains": value}})
    return tuple(terms)


def _error_details(body: dict[str, Any]) -> str:
    """The ``errors[].detail`` (or ``title``) texts of an error answer, joined."""
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    details = [
        as_text(e.get("detail")) or as_text(e.get("title")) or ""
        for e in errors or []
        if isinstance(e, dict)
    ]
    return "; ".join(d for d in details if d)


def _contact_points(resource: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """A customer resource's stored phones and emails."""
    attributes = resource.get("attributes")
    attrs: dict[str, Any] = attributes if isinstance(attributes, dict) else {}
    phones = [p.get("phone") for p in attrs.get("phones") or [] if isinstance(p, dict)]
    emails = [e.get("email") for e in attrs.get("emails") or [] if isinstance(e, dict)]
    return phones, emails


def _related_id(relationships: dict[str, Any], name: str) -> str | None:
    rel = relationships.get(name)
    data = rel.get("data") if isinstance(rel, dict) else None
    rid = as_text(data.get("id")) if isinstance(data, dict) else None
    return rid if rid and _OBJECT_ID.match(rid) else None


__all__ = ["DEFAULT_API_URL", "KustomerCrm", "KustomerSettings"]
