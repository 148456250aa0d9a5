"""ServiceNow adapter over the REST Table API (``/api/now/table/{table}``).

Record types map to tables (:data:`DEFAULT_TABLES`; CSM contacts/accounts/cases by
default, ``sys_user``/``incident`` for ITSM setups -- set ``tables={"contact":
"sys_user"}``). Any other type whose name is a plain table name is used as the table
itself for get/create (custom tables).

Auth is basic or OAuth (``/oauth_token.do``: password grant with a user, client
credentials without one; refresh tokens are used when given).

Searches are encoded queries (``phoneSTARTSWITH...^ORemail=...``). Table API operators
compare the raw stored string, so a phone is looked for as each of its common written
forms (:func:`~bot.adapters.crm.phones.written_forms`) with ``STARTSWITH`` (which also
finds "... ext. 45"), and every candidate is verified (:mod:`bot.adapters.crm.phones`);
operators as documented in
https://www.servicenow.com/docs/r/platform-user-interface/configure-user-experiences/c_EncodedQueryStrings.html
and https://www.servicenow.com/docs/bundle/latest/page/use/common-ui-elements/reference/r_OpAvailableFiltersQueries.html.
User input never shapes the
query: ``^`` (the condition separator, which has no escape) and control characters are
removed, and values starting a ``javascript:`` expression are dropped, because the
platform evaluates those server-side. ServiceNow silently ignores conditions it cannot
parse, so a value that broke out of its condition could return every row. Lists are
paged with ``sysparm_limit``/``sysparm_offset`` by following the ``Link`` header's
``next`` link, on the instance's own origin only.

API reference: https://docs.servicenow.com/bundle/latest/page/integrate/inbound-rest/concept/c_TableAPI.html
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
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
    as_text,
    clean_value,
    dedupe,
    follow_pages,
    make_http,
    map_status_error,
    no_credentials,
    no_such_record,
    not_supported,
    oauth_endpoint,
    parse_link_header,
    unexpected_create,
    wanted_types,
)
from bot.adapters.crm.tokens import StaticSecret
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.i18n import t
from bot.services.crm import (
    CrmError,
    InvalidRecord,
    RecordNotFound,
    SearchCriteria,
)

DEFAULT_TABLES: Mapping[str, str] = {
    "contact": "customer_contact",
    "account": "customer_account",
    "case": "sn_customerservice_case",
    "user": "sys_user",
    "incident": "incident",
}

PERSON_TABLES = frozenset({"customer_contact", "sys_user"})
TASK_TABLES = frozenset({"incident", "sn_customerservice_case", "task"})

#: table -> (related table, reference field on the related table pointing back)
CHILDREN: Mapping[str, tuple[tuple[str, str], ...]] = {
    "customer_contact": (("sn_customerservice_case", "contact"),),
    "sys_user": (("incident", "caller_id"),),
    "customer_account": (
        ("customer_contact", "account"),
        ("sn_customerservice_case", "account"),
    ),
}
#: table -> (reference field on it, referenced table)
PARENTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "customer_contact": (("account", "customer_account"),),
    "sys_user": (("company", "core_company"),),
    "sn_customerservice_case": (
        ("contact", "customer_contact"),
        ("account", "customer_account"),
    ),
    "incident": (("caller_id", "sys_user"),),
}

PHONE_FIELDS = ("phone", "mobile_phone")

_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
_QUERY_UNSAFE = "^"


@dataclass(frozen=True)
class ServiceNowSettings:
    """``instance_url`` is ``https://{instance}.service-now.com``.

    Basic auth: ``username`` + ``password``. OAuth: ``client_id`` + ``client_secret``,
    with ``username`` + ``password`` for the password grant, without for client
    credentials.
    """

    instance_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    tables: Mapping[str, str] = field(default_factory=dict)
    max_results: int = MAX_RESULTS
    page_size: int = 100


def safe_query_value(value: str) -> str | None:
    """A value fit for an encoded-query condition, or None if it must not be used."""
    text = clean_value(value, drop=_QUERY_UNSAFE)
    if not text or "javascript:" in text.lower().replace(" ", ""):
        return None
    return text


class ServiceNowCrm(VendorCrm):
    """``http_options`` go to :class:`ResilientHttp` (policy, clock, sleep, rand...)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ServiceNowSettings,
        *,
        settings_id: str,
        display_name: str = "ServiceNow",
        auth: TokenProvider | None = None,
        **http_options: Any,
    ) -> None:
        super().__init__(settings_id=settings_id, display_name=display_name)
        self.settings = settings
        self.base = URL(settings.instance_url.rstrip("/"))
        self.tables = {**DEFAULT_TABLES, **settings.tables}
        for table in self.tables.values():
            if not _TABLE.match(table):
                raise ValueError(f"not a ServiceNow table name: {table!r}")
        self.types = {table: record_type for record_type, table in reversed(self.tables.items())}
        self.http = make_http(
            session,
            name=display_name,
            auth=auth or self._auth(session, settings, http_options),
            error_mapper=self._map_error,
            **http_options,
        )

    def _auth(
        self, session: aiohttp.ClientSession, s: ServiceNowSettings, options: dict[str, Any]
    ) -> TokenProvider:
        if s.client_id and s.client_secret:
            password_grant = bool(s.username and s.password)
            return oauth_endpoint(
                session,
                str(self.base / "oauth_token.do"),
                name=self.display_name,
                error_mapper=self._map_error,
                http_options=options,
                client_id=s.client_id,
                client_secret=s.client_secret,
                grant="password" if password_grant else "client_credentials",
                username=s.username if password_grant else None,
                password=s.password if password_grant else None,
            )
        if s.username and s.password:
            return StaticSecret.basic(s.username, s.password)
        raise no_credentials(self.display_name)

    # -- errors ------------------------------------------------------------------------

    def _map_error(self, response: HttpResponse) -> CrmError | None:
        name = self.display_name
        body = response.body if isinstance(response.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = as_text((error or {}).get("message")) or ""
        detail = as_text((error or {}).get("detail")) or ""
        if response.status == 403 and (
            "data policy" in detail.lower() or message == "Operation Failed"
        ):
            return InvalidRecord(
                t(
                    "{crm} refused the record: {detail}",
                    crm=name,
                    detail=_one_line(detail or message),
                )
            )
        return map_status_error(
            name,
            response,
            denied=lambda _body: f"permission denied ({_one_line(message or detail)})",
            invalid=lambda _body: _one_line(message or detail),
            refused="the request",
            invalid_statuses=(400,),
        )

    # -- tables and records ------------------------------------------------------------

    def table_for(self, record_type: str) -> str:
        table = self.tables.get(record_type) or record_type
        if not _TABLE.match(table):
            raise not_supported(self.display_name, f"{record_type} records")
        return table

    def type_for(self, table: str) -> str:
        return self.types.get(table, table)

    def url_for(self, table: str, sys_id: str) -> str:
        return str(self.base.with_path("/nav_to.do").with_query(uri=f"{table}.do?sys_id={sys_id}"))

    def _record(self, table: str, raw: dict[str, Any]) -> CrmRecord:
        sys_id = str(raw["sys_id"])
        fields = {k: v for k, value in raw.items() if (v := as_text(value)) is not None}
        if table in PERSON_TABLES:
            title = fields.get("name") or " ".join(
                p for p in (fields.get("first_name"), fields.get("last_name")) if p
            )
            subtitle = fields.get("email") or fields.get("phone") or fields.get("mobile_phone")
        elif table in TASK_TABLES or "number" in fields:
            title = fields.get("short_description") or fields.get("number") or ""
            subtitle = " · ".join(p for p in (fields.get("number"), fields.get("state")) if p)
        else:
            title = fields.get("name") or fields.get("number") or ""
            subtitle = fields.get("phone")
        return CrmRecord(
            ref=self.ref(self.type_for(table), sys_id),
            title=title or sys_id,
            subtitle=subtitle or None,
            fields=fields,
            url=self.url_for(table, sys_id),
        )

    async def _list(self, table: str, query: str, limit: int) -> list[dict[str, Any]]:
        url = (self.base / "api" / "now" / "table" / table).with_query(
            sysparm_query=f"{query}^ORDERBYsys_created_on",
            sysparm_limit=str(max(1, min(limit, self.settings.page_size))),
            sysparm_offset="0",
            sysparm_exclude_reference_link="true",
        )

        def read(response: HttpResponse) -> tuple[list[dict[str, Any]], bool, str | None]:
            body = response.body if isinstance(response.body, dict) else {}
            result = body.get("result")
            page = [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []
            next_link = parse_link_header(response.headers.get("Link")).get("next")
            return [r for r in page if r.get("sys_id")], bool(page), next_link

        rows = await follow_pages(url, self.base, limit, self.http.get, read)
        return rows[:limit]

    # -- CrmClient ---------------------------------------------------------------------

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        limit = self.settings.max_results
        phones = [
            v for p in criteria.phones for form in written_forms(p) if (v := safe_query_value(form))
        ]
        emails = [v for e in criteria.emails if (v := safe_query_value(e))]
        name = safe_query_value(criteria.name) if criteria.name else None
        records: list[CrmRecord] = []
        for record_type in wanted_types(criteria, self.tables):
            table = self.table_for(record_type)
            conditions: list[str] = []
            if table in PERSON_TABLES:
                for phone in phones:
                    conditions += [f"phoneSTARTSWITH{phone}", f"mobile_phoneSTARTSWITH{phone}"]
                conditions += [f"email={email}" for email in emails]
                if name:
                    conditions.append(f"nameLIKE{name}")
            elif table == "customer_account":
                conditions += [f"phoneSTARTSWITH{phone}" for phone in phones]
                if name:
                    conditions.append(f"nameLIKE{name}")
            if not conditions:
                continue
            rows = await self._list(table, "^OR".join(conditions), limit)
            records.extend(
                self._record(table, row)
                for row in rows
                if keep_candidate(criteria, (row.get(f) for f in PHONE_FIELDS), [row.get("email")])
            )
        return dedupe(records, limit)

    async def _get_raw(self, table: str, sys_id: str) -> dict[str, Any]:
        if not _SYS_ID.match(sys_id):
            raise no_such_record(self.display_name)
        response = await self.http.get(
            self.base / "api" / "now" / "table" / table / sys_id,
            params={"sysparm_exclude_reference_link": "true"},
        )
        body = response.body if isinstance(response.body, dict) else {}
        raw = body.get("result")
        if not isinstance(raw, dict) or not raw.get("sys_id"):
            raise no_such_record(self.display_name)
        return raw

    async def get(self, ref: RecordRef) -> CrmRecord:
        table = self.table_for(ref.type)
        return self._record(table, await self._get_raw(table, ref.id))

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        limit = self.settings.max_results
        table = self.table_for(ref.type)
        raw = await self._get_raw(table, ref.id)
        records: list[CrmRecord] = []
        for reference, parent_table in PARENTS.get(table, ()):
            parent_id = as_text(raw.get(reference))
            if parent_id and _SYS_ID.match(parent_id) and parent_table in self.types:
                with contextlib.suppress(RecordNotFound):
                    records.append(
                        self._record(parent_table, await self._get_raw(parent_table, parent_id))
                    )
        for child_table, reference in CHILDREN.get(table, ()):
            rows = await self._list(child_table, f"{reference}={ref.id}", limit)
            records.extend(self._record(child_table, row) for row in rows)
        return dedupe(records, limit)

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        table = self.table_for(record_type)
        payload: dict[str, Any] = dict(record.fields)
        if table in PERSON_TABLES:
            full = payload.pop("name", "")
            if full and not payload.get("last_name"):
                first, _, last = full.rpartition(" ")
                payload.setdefault("first_name", first)
                payload["last_name"] = last or first
        elif table in TASK_TABLES and "subject" in payload:
            payload.setdefault("short_description", payload.pop("subject"))
        if related_to is not None:
            related_table = self.table_for(related_to.type)
            if not _SYS_ID.match(related_to.id):
                raise InvalidRecord(
                    t("{crm}: {id} is not a sys_id", crm=self.display_name, id=repr(related_to.id))
                )
            for reference, parent_table in PARENTS.get(table, ()):
                if parent_table == related_table:
                    payload.setdefault(reference, related_to.id)
                    break
        response = await self.http.post(
            (self.base / "api" / "now" / "table" / table).with_query(
                sysparm_exclude_reference_link="true"
            ),
            json_body=payload,
        )
        body = response.body if isinstance(response.body, dict) else {}
        raw = body.get("result")
        if not isinstance(raw, dict) or not raw.get("sys_id"):
            raise unexpected_create(self.display_name)
        return self._record(table, raw)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


__all__ = ["DEFAULT_TABLES", "ServiceNowCrm", "ServiceNowSettings", "safe_query_value"]
