"""Oracle B2C Service (Connect REST API) adapter: contacts, organizations, incidents.

Every request carries the ``OSvC-CREST-Application-Context`` header Oracle requires.
Auth is basic (a staff account), a static OAuth bearer token, or an OAuth client
credentials grant against ``token_url`` (the identity domain fronting the site).

Reads are tabular ROQL through ``queryResults`` (``SELECT ... FROM contacts WHERE
emails.address = '...' LIMIT n OFFSET m``), paged with LIMIT/OFFSET. String literals are
single-quoted with ``\'`` and ``\\`` escapes (:func:`roql_literal`), so "O'Brien" is
looked for as typed; ``queryResults`` runs every ``;``-separated statement, so ``;`` and
control characters are dropped, and ``%`` in LIKE patterns (ROQL's wildcard).

Phones are matched on ``phones.rawNumber`` (the Connect Common Object Model's read-only
``Phone.RawNumber``: the number with its formatting stripped, digits only; ROQL object
queries reach it like any field, https://docs.oracle.com/en/cloud/saas/b2c-service/cxsvc/c_osvc_roql_object_queries.html),
containing the caller's national significant number: "(415) 555-0100",
"+1 415.555.0100 x12" and "415-555-0100" all hold "4155550100"; each candidate is then
verified (:mod:`bot.adapters.crm.phones`). Updates and timeline activities are not
supported.

API reference: https://docs.oracle.com/en/cloud/saas/b2c-service/cxsvc/
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from bot.adapters.crm.credentials import TokenProvider
from bot.adapters.crm.http import HttpResponse
from bot.adapters.crm.phones import keep_candidate, national_number
from bot.adapters.crm.restkit import (
    MAX_PAGES,
    MAX_RESULTS,
    VendorCrm,
    as_text,
    dedupe,
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
from bot.i18n import t
from bot.services.crm import (
    CrmError,
    SearchCriteria,
)

APP_CONTEXT_HEADER = "OSvC-CREST-Application-Context"

#: record type -> (collection, ROQL columns, object name for UI links)
_TABLES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "contact": (
        "contacts",
        (
            "id",
            "lookupName",
            "name.first",
            "name.last",
            "emails.address",
            "phones.number",
            "organization.id",
        ),
        "Contact",
    ),
    "account": ("organizations", ("id", "lookupName", "name"), "Organization"),
    "case": (
        "incidents",
        (
            "id",
            "lookupName",
            "referenceNumber",
            "subject",
            "statusWithType.status.lookupName",
            "primaryContact.parentContact.id",
        ),
        "Incident",
    ),
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f;]")


def roql_literal(value: str, *, max_length: int = 120, like: bool = False) -> str | None:
    """The inside of a single-quoted ROQL literal for ``value`` (quotes and backslashes
    escaped with a backslash), or None if nothing is left. ``like``: ``%`` is dropped too,
    so the value is matched literally inside a LIKE pattern."""
    text = unicodedata.normalize("NFC", value)
    text = _CONTROL.sub(" ", text.replace("%", " ") if like else text)
    text = " ".join(text.split())[:max_length].strip()
    if not text:
        return None
    return text.replace("\\", "\\\\").replace("'", "\\'")


@dataclass(frozen=True)
class OracleSettings:
    """``site_url`` is ``https://{site}.custhelp.com``. Credentials: ``username`` +
    ``password``; or ``oauth_token``; or ``token_url`` + ``client_id`` + ``client_secret``.
    ``ui_url_template`` (optional) makes deep links, with ``{object}`` (Contact,
    Organization, Incident) and ``{id}`` placeholders."""

    site_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    oauth_token: str | None = field(default=None, repr=False)
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scope: str | None = None
    api_version: str = "v1.4"
    application_context: str = "crmcard customer card"
    ui_url_template: str | None = None
    max_results: int = MAX_RESULTS
    page_size: int = 100


class OracleCrm(VendorCrm):
    """``http_options`` go to :class:`ResilientHttp` (policy, clock, sleep, rand...)."""

    creatable = frozenset({"contact", "case"})
    """What the card offers to create here for an unknown caller or a case."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: OracleSettings,
        *,
        settings_id: str,
        display_name: str = "Oracle B2C Service",
        auth: TokenProvider | None = None,
        **http_options: Any,
    ) -> None:
        super().__init__(settings_id=settings_id, display_name=display_name)
        if not re.fullmatch(r"v1\.\d+|latest", settings.api_version):
            raise ValueError(f"not a Connect REST API version: {settings.api_version!r}")
        self.settings = settings
        self.site = URL(settings.site_url.rstrip("/"))
        self.api = self.site / "services" / "rest" / "connect" / settings.api_version
        self.http = make_http(
            session,
            name=display_name,
            auth=auth or self._auth(session, settings, http_options),
            error_mapper=self._map_error,
            default_headers={APP_CONTEXT_HEADER: settings.application_context},
            **http_options,
        )

    def _auth(
        self, session: aiohttp.ClientSession, s: OracleSettings, options: dict[str, Any]
    ) -> TokenProvider:
        if s.username and s.password:
            return StaticSecret.basic(s.username, s.password)
        if s.oauth_token:
            return StaticSecret(s.oauth_token)
        if s.token_url and s.client_id and s.client_secret:
            return oauth_endpoint(
                session,
                s.token_url,
                name=self.display_name,
                error_mapper=self._map_error,
                http_options=options,
                client_id=s.client_id,
                client_secret=s.client_secret,
                scope=s.scope,
            )
        raise no_credentials(self.display_name)

    # -- errors ------------------------------------------------------------------------

    def _map_error(self, response: HttpResponse) -> CrmError | None:
        name = self.display_name
        body = response.body if isinstance(response.body, dict) else {}
        detail = as_text(body.get("detail")) or as_text(body.get("title")) or ""
        code = as_text(body.get("o:errorCode")) or ""
        if response.status == 400 and code == "OSC-CREST-00007":
            return CrmError(t("{crm} rejected a query: {detail}", crm=name, detail=detail))
        return map_status_error(
            name,
            response,
            denied=lambda _body: f"permission denied ({detail or 'forbidden'})",
            invalid=lambda _body: detail or code or "invalid",
        )

    # -- records -----------------------------------------------------------------------

    def url_for(self, record_type: str, record_id: str) -> str | None:
        template = self.settings.ui_url_template
        if not template:
            return None
        return template.format(object=_TABLES[record_type][2], id=record_id)

    def _record(self, record_type: str, row: dict[str, str | None]) -> CrmRecord:
        rid = str(row["id"])
        fields = {k: v for k, v in row.items() if v}
        if record_type == "contact":
            name = " ".join(p for p in (row.get("name.first"), row.get("name.last")) if p)
            title = name or row.get("lookupName") or f"Contact {rid}"
            subtitle = row.get("emails.address") or row.get("phones.number")
        elif record_type == "account":
            title = row.get("name") or row.get("lookupName") or f"Organization {rid}"
            subtitle = "Organization"
        else:
            title = row.get("subject") or row.get("referenceNumber") or f"Incident {rid}"
            subtitle = " · ".join(
                p
                for p in (row.get("referenceNumber"), row.get("statusWithType.status.lookupName"))
                if p
            )
        return CrmRecord(
            ref=self.ref(record_type, rid),
            title=title,
            subtitle=subtitle or None,
            fields=fields,
            url=self.url_for(record_type, rid),
        )

    async def _select(self, record_type: str, where: str, limit: int) -> list[CrmRecord]:
        table, columns, _ = _TABLES[record_type]
        page = max(1, min(limit, self.settings.page_size))
        records: list[CrmRecord] = []
        offset = 0
        for _ in range(MAX_PAGES):
            query = (
                f"SELECT {', '.join(columns)} FROM {table} WHERE {where} "
                f"LIMIT {page} OFFSET {offset}"
            )
            response = await self.http.get(self.api / "queryResults", params={"query": query})
            body = response.body if isinstance(response.body, dict) else {}
            items = body.get("items") if isinstance(body.get("items"), list) else []
            result = items[0] if items and isinstance(items[0], dict) else {}
            rows = result.get("rows") if isinstance(result.get("rows"), list) else []
            for row in rows or []:
                if isinstance(row, list) and len(row) == len(columns) and row[0]:
                    values = {c: as_text(v) for c, v in zip(columns, row, strict=True)}
                    records.append(self._record(record_type, values))
            offset += page
            if len(rows or []) < page or len(records) >= limit:
                break
        return records[:limit]

    # -- CrmClient ---------------------------------------------------------------------

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        limit = self.settings.max_results
        types = wanted_types(criteria, ("contact", "account"))
        records: list[CrmRecord] = []
        name = roql_literal(criteria.name, like=True) if criteria.name else None
        if "contact" in types:
            conditions = [
                f"emails.address = '{v}'" for e in criteria.emails if (v := roql_literal(e))
            ]
            numbers = dict.fromkeys(n for p in criteria.phones if (n := national_number(p)))
            conditions += [f"phones.rawNumber LIKE '%{n}%'" for n in numbers if n.isdigit()]
            if name:
                conditions.append(f"lookupName LIKE '%{name}%'")
            if conditions:
                found = await self._select("contact", " OR ".join(conditions), limit)
                records += [
                    r
                    for r in found
                    if keep_candidate(
                        criteria, [r.fields.get("phones.number")], [r.fields.get("emails.address")]
                    )
                ]
        if "account" in types and name:
            records += await self._select("account", f"name LIKE '%{name}%'", limit)
        return dedupe(records, limit)

    async def get(self, ref: RecordRef) -> CrmRecord:
        self.numeric_ref(ref, _TABLES)
        found = await self._select(ref.type, f"id = {int(ref.id)}", 1)
        if not found:
            raise no_such_record(self.display_name)
        return found[0]

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        record = await self.get(ref)
        limit = self.settings.max_results
        records: list[CrmRecord] = []
        rid = int(ref.id)
        if ref.type == "contact":
            org = record.fields.get("organization.id")
            if org and org.isdigit():
                records += await self._select("account", f"id = {int(org)}", 1)
            records += await self._select("case", f"primaryContact.parentContact.id = {rid}", limit)
        elif ref.type == "account":
            records += await self._select("contact", f"organization.id = {rid}", limit)
        else:
            contact = record.fields.get("primaryContact.parentContact.id")
            if contact and contact.isdigit():
                records += await self._select("contact", f"id = {int(contact)}", 1)
        return dedupe(records, limit)

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        if record_type not in _TABLES:
            raise not_supported(self.display_name, f"creating {record_type} records")
        extra = dict(record.fields)
        payload: dict[str, Any]
        if record_type == "contact":
            first, last = extra.pop("first_name", ""), extra.pop("last_name", "")
            full = extra.pop("name", "")
            if full and not (first or last):
                first, _, last = full.rpartition(" ")
            email, phone = extra.pop("email", ""), extra.pop("phone", "")
            payload = {"name": {"first": first, "last": last}, **nest(extra)}
            if email:
                payload["emails"] = [{"address": email, "addressType": {"id": 0}}]
            if phone:
                payload["phones"] = [{"number": phone, "phoneType": {"id": 0}}]
            if related_to is not None and related_to.type == "account":
                payload["organization"] = {"id": _int_id(related_to, self.display_name)}
        elif record_type == "account":
            payload = nest(extra)
        else:
            payload = nest(extra)
            if related_to is not None and related_to.type == "contact":
                payload["primaryContact"] = {"id": _int_id(related_to, self.display_name)}
        table = _TABLES[record_type][0]
        response = await self.http.post(self.api / table, json_body=payload)
        body = response.body if isinstance(response.body, dict) else {}
        new_id = body.get("id")
        if not isinstance(new_id, int):
            raise unexpected_create(self.display_name)
        return await self.get(self.ref(record_type, new_id))


def _int_id(ref: RecordRef, name: str) -> int:
    return int_id(ref, name, "an Oracle id")


__all__ = ["APP_CONTEXT_HEADER", "OracleCrm", "OracleSettings", "roql_literal"]
