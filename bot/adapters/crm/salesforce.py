"""Salesforce adapter: the CRM port over the Salesforce REST API.

Phones are found with one SOSL search over the phone fields of the searched objects,
``FIND {"4155550100"} IN PHONE FIELDS RETURNING Contact(...), Lead(...), Account(...)``
(``GET /search``): SOQL ``=`` compares the stored string exactly and would miss
"(415) 555-0100", while phone-field search ignores formatting. The national significant
number is searched, so numbers stored with or without country code, trunk 0 or "(0)"
are candidates; each is then verified (:mod:`bot.adapters.crm.phones`). Follows
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_sosl_in.htm
(``IN PHONE FIELDS``),
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_sosl_find.htm
(``FIND`` terms, reserved characters) and
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_search.htm.

Emails and names run SOQL per object (Contact, Lead, Account by default) with every
user value escaped as a SOQL string literal (:func:`soql_quote`, :func:`soql_like`),
follow ``nextRecordsUrl`` paging, and maps the REST API's error arrays
``[{"message", "errorCode", "fields"}]`` to the port's typed errors. An expired session
(401 INVALID_SESSION_ID) is re-authenticated once by :class:`ResilientHttp`.

Timeline Tasks are idempotent when the org has an external-id field on Task (an
Activity custom text field marked *External ID* and *Unique*, named by
``task_external_id_field``): the write-back's idempotency key goes in that field and the
Task is written by upsert, ``PATCH /sobjects/Task/{field}/{key}`` (201 created, 200/204
matched and updated), so a retry after a crash finds the Task instead of adding one.
Without the field a Task is created plainly and the key only appears in its description.
``TaskSubtype`` is createable but not updateable (the Task describe: "Create, Filter,
Group, Nillable, Restricted picklist, Sort",
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm),
so an upsert that finds its Task already written leaves it out (:data:`CREATE_ONLY`).

Records are created and updated with the card's neutral field names translated
(:func:`salesforce_fields`): Salesforce refuses a field it does not have (400
INVALID_FIELD, ``subject`` is not Case's ``Subject``) and a Contact or Lead without
``LastName`` (a Lead also without ``Company``: 400 REQUIRED_FIELD_MISSING), per
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contact.htm
and .../sforce_api_objects_lead.htm.

API limits answer 403 ``REQUEST_LIMIT_EXCEEDED`` (daily total or concurrent requests;
Salesforce sends no 429): :class:`~bot.services.crm.CrmThrottled`, not retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from yarl import URL

from bot.adapters.crm.http import HttpResponse, ResilientHttp
from bot.adapters.crm.phones import is_caller, national_number
from bot.adapters.crm.querykit import (
    card_name,
    follow_next_links,
    mapped_columns,
    search_terms,
    vendor_fields,
)
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.i18n import t
from bot.services.crm import (
    CrmAuthError,
    CrmError,
    CrmThrottled,
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)

API_VERSION = "v60.0"

SOBJECTS = {
    "account": "Account",
    "contact": "Contact",
    "lead": "Lead",
    "case": "Case",
    "opportunity": "Opportunity",
    "task": "Task",
}
CARD_TYPES = {v: k for k, v in SOBJECTS.items()}

FIELDS: dict[str, tuple[str, ...]] = {
    "Account": ("Id", "Name", "Phone", "Website", "Industry", "BillingCity"),
    "Contact": ("Id", "Name", "Email", "Phone", "MobilePhone", "AccountId", "Title"),
    "Lead": ("Id", "Name", "Email", "Phone", "MobilePhone", "Company", "Status"),
    "Case": (
        "Id",
        "CaseNumber",
        "Subject",
        "Status",
        "IsClosed",
        "Priority",
        "ContactId",
        "AccountId",
    ),
    "Opportunity": ("Id", "Name", "StageName", "Amount", "CloseDate", "AccountId"),
    "Task": ("Id", "Subject", "Status", "WhoId", "WhatId", "ActivityDate"),
}

# Which fields a search criterion looks at, per object.
SEARCH_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "Contact": {"phone": ("Phone", "MobilePhone"), "email": ("Email",), "name": ("Name",)},
    "Lead": {"phone": ("Phone", "MobilePhone"), "email": ("Email",), "name": ("Name",)},
    "Account": {"phone": ("Phone",), "email": (), "name": ("Name",)},
}
PERSON_LEVEL = ("contact", "lead", "account")

CREATE_ONLY: dict[str, tuple[str, ...]] = {"Task": ("TaskSubtype",)}
"""Fields an insert may set and an update must not name, per object."""

PEOPLE = frozenset({"Contact", "Lead"})
PERSON_NAME = ("FirstName", "LastName")
"""A Contact's or Lead's name fields; its ``Name`` is computed from them."""
SUBJECT_TITLED = frozenset({"Case", "Task"})
"""Objects titled by their ``Subject``; the others by their ``Name``."""
NO_COMPANY = "[not provided]"
"""A new Lead's ``Company`` when only its name is known (an unknown caller): Salesforce
requires the field; a workflow that knows the company sends ``Company`` itself."""


def salesforce_fields(sobject: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """``fields`` as ``sobject`` spells them: the card's title (``subject``, ``name``) in
    ``Subject`` or ``Name``, a person's ``name`` split into ``FirstName`` and ``LastName``,
    ``phone`` in ``Phone``, ``email`` in ``Email``, ``reopen`` (the status a closed
    record is reopened in) in ``Status``; Salesforce's own field names as given."""
    title = "Subject" if sobject in SUBJECT_TITLED else "Name"
    renames = {
        "subject": title,
        "name": title,
        "phone": "Phone",
        "email": "Email",
        "reopen": "Status",
    }
    body = vendor_fields(fields, renames, PERSON_NAME if sobject in PEOPLE else None)
    if sobject == "Lead" and "name" in fields:
        body.setdefault("Company", NO_COMPANY)
    return body


# (new record's object, related record's card type) -> lookup field
RELATION_FIELDS: dict[tuple[str, str], str] = {
    ("Contact", "account"): "AccountId",
    ("Case", "account"): "AccountId",
    ("Case", "contact"): "ContactId",
    ("Opportunity", "account"): "AccountId",
    ("Task", "contact"): "WhoId",
    ("Task", "lead"): "WhoId",
}

_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def soql_quote(value: str) -> str:
    """``value`` as a SOQL string literal, quotes included: no way out of the literal."""
    return "'" + "".join(_SOQL_ESCAPES.get(c, c) for c in value) + "'"


def soql_like(value: str) -> str:
    """A SOQL LIKE pattern matching ``value`` anywhere, its % and _ taken literally."""
    escaped = "".join(
        "\\%" if c == "%" else "\\_" if c == "_" else _SOQL_ESCAPES.get(c, c) for c in value
    )
    return "'%" + escaped + "%'"


def salesforce_error(name: str, response: HttpResponse) -> CrmError | None:
    """Map a Salesforce error array to a typed error (None: let the defaults decide)."""
    errors = response.body if isinstance(response.body, list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = str(first.get("errorCode", ""))
    message = str(first.get("message", "")).strip()
    fields = first.get("fields") or []
    detail = f": {message}" if message else ""
    if fields:
        detail += f" ({', '.join(map(str, fields))})"
    if code == "REQUEST_LIMIT_EXCEEDED":
        return CrmThrottled(
            t("{crm} API limit reached, try again later", crm=name), retry_after=None
        )
    if code == "INVALID_SESSION_ID" or response.status == 401:
        return CrmAuthError(t("{crm} session expired and could not be renewed", crm=name))
    if code in ("NOT_FOUND", "ENTITY_IS_DELETED") or response.status == 404:
        return RecordNotFound(t("{crm} has no such record", crm=name))
    if code == "DUPLICATES_DETECTED":
        return InvalidRecord(t("{crm} found a duplicate record{detail}", crm=name, detail=detail))
    if response.status in (400, 403) and code:
        return InvalidRecord(
            t("{crm} refused the record ({code}){detail}", crm=name, code=code, detail=detail)
        )
    return None


def _phones_of(row: Mapping[str, Any]) -> list[Any]:
    sobject = str((row.get("attributes") or {}).get("type") or "")
    return [row.get(name) for name in SEARCH_FIELDS.get(sobject, {}).get("phone", ())]


class SalesforceClient:
    """Implements :class:`~bot.services.crm.CrmClient` for one Salesforce org.

    ``http`` carries the org's token provider (JWT bearer or client credentials).
    ``instance_url`` is the org's My Domain URL; when None the token's ``instance_url``
    is used. ``field_mappings`` renames CRM fields for the card (``Field`` or
    ``Object.Field`` -> card field) and adds mapped fields to search results.
    ``task_external_id_field`` is the API name of an external-id field on Task (e.g.
    ``Crmcard_Key__c``) holding the write-back's idempotency key; None: Tasks are created
    without one and a retried write-back cannot find what a crashed attempt created.
    """

    creatable = frozenset({"contact", "lead", "case"})
    """What the card offers to create here for an unknown caller or a case."""

    def __init__(
        self,
        *,
        settings_id: str,
        display_name: str,
        http: ResilientHttp,
        instance_url: str | None = None,
        api_version: str = API_VERSION,
        max_results: int = 50,
        field_mappings: Mapping[str, str] | None = None,
        today: Any = None,
        task_external_id_field: str | None = None,
    ) -> None:
        if task_external_id_field is not None and not _API_NAME.fullmatch(task_external_id_field):
            raise ValueError(f"not a Salesforce field name: {task_external_id_field!r}")
        self.task_external_id_field = task_external_id_field or None
        self._settings_id = settings_id
        self._display_name = display_name
        self.http = http
        self._instance_url = instance_url.rstrip("/") if instance_url else None
        self.api_version = api_version
        self.max_results = max_results
        self.field_mappings = dict(field_mappings or {})
        self._today = today or (lambda: dt.datetime.now(dt.UTC).date())
        if http.error_mapper is None:
            http.error_mapper = lambda response: salesforce_error(display_name, response)

    @property
    def settings_id(self) -> str:
        return self._settings_id

    @property
    def display_name(self) -> str:
        return self._display_name

    # -- plumbing -------------------------------------------------------------------------

    async def instance_url(self) -> str:
        if self._instance_url is None:
            if self.http.auth is None:
                raise CrmAuthError(
                    t("{crm} has no instance URL configured", crm=self._display_name)
                )
            token = await self.http.auth.token()
            instance = token.extra.get("instance_url")
            if not instance:
                raise CrmAuthError(t("{crm} sign-in gave no instance URL", crm=self._display_name))
            self._instance_url = instance.rstrip("/")
        return self._instance_url

    async def _api(self, path: str) -> str:
        return f"{await self.instance_url()}/services/data/{self.api_version}/{path}"

    def _sobject(self, record_type: str) -> str:
        sobject = SOBJECTS.get(record_type.lower())
        if sobject is None:
            if not _API_NAME.fullmatch(record_type):
                raise InvalidRecord(
                    t(
                        "{crm} has no record type {record_type}",
                        crm=self._display_name,
                        record_type=repr(record_type),
                    )
                )
            sobject = record_type
        return sobject

    def _card_type(self, sobject: str) -> str:
        return CARD_TYPES.get(sobject, sobject.lower())

    def _check_id(self, record_id: str) -> str:
        if not _ID.fullmatch(record_id):
            raise RecordNotFound(
                t(
                    "{crm} has no record {record_id}",
                    crm=self._display_name,
                    record_id=repr(record_id),
                )
            )
        return record_id

    def _select(self, sobject: str) -> list[str]:
        defaults = FIELDS.get(sobject, ("Id", "Name"))
        return mapped_columns(defaults, self.field_mappings, sobject, _API_NAME)

    async def query(self, soql: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Run a SOQL query, following ``nextRecordsUrl`` until done or ``limit`` rows."""
        response = await self.http.get(await self._api("query"), params={"q": soql})

        async def fetch(link: str) -> HttpResponse:
            return await self.http.get(URL(await self.instance_url() + link))

        return await follow_next_links(
            response,
            rows="records",
            next_link="nextRecordsUrl",
            limit=limit or None,
            prefix=f"/services/data/{self.api_version}/query/",  # only the org's query API
            fetch=fetch,
            done=lambda body: bool(body.get("done", True)),
        )

    def _record(self, row: Mapping[str, Any], instance: str) -> CrmRecord:
        sobject = str((row.get("attributes") or {}).get("type") or "")
        record_id = str(row.get("Id") or "")
        card_type = self._card_type(sobject)
        if sobject == "Case":
            number, subject = row.get("CaseNumber"), row.get("Subject")
            title = f"Case {number}" + (f": {subject}" if subject else "")
        elif sobject == "Task":
            title = str(row.get("Subject") or "Task")
        else:
            title = str(row.get("Name") or record_id)
        subtitle_field = {
            "Contact": "Title",
            "Account": "Industry",
            "Lead": "Company",
            "Case": "Status",
            "Opportunity": "StageName",
            "Task": "Status",
        }.get(sobject)
        subtitle = row.get(subtitle_field) if subtitle_field else None
        fields: dict[str, str] = {}
        for key, value in row.items():
            if key == "attributes" or value is None or isinstance(value, dict | list):
                continue
            card_key = key
            if not key.endswith("Id"):  # lookups keep their names: related() reads them
                card_key = card_name(self.field_mappings, sobject, key)
            fields[card_key] = str(value)
        return CrmRecord(
            ref=RecordRef(crm=self._settings_id, type=card_type, id=record_id),
            title=title,
            subtitle=str(subtitle) if subtitle else None,
            fields=fields,
            url=f"{instance}/lightning/r/{sobject}/{record_id}/view",
        )

    async def _records(self, rows: list[dict[str, Any]]) -> list[CrmRecord]:
        instance = await self.instance_url()
        return [self._record(row, instance) for row in rows]

    # -- the port -----------------------------------------------------------------------

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        if criteria.is_empty:
            return []
        sobjects = [
            sobject
            for card_type in criteria.record_types or list(PERSON_LEVEL)
            if (sobject := SOBJECTS.get(card_type.lower())) in SEARCH_FIELDS
        ]
        others = criteria.model_copy(update={"phones": []})
        soqls = []
        for sobject in sobjects:
            where = self._where(sobject, others)
            if where:
                fields = ", ".join(self._select(sobject))
                soqls.append(
                    f"SELECT {fields} FROM {sobject} WHERE {where} LIMIT {self.max_results}"
                )
        jobs = [self.query(q, self.max_results) for q in soqls]
        if criteria.phones and sobjects:
            jobs.append(self._phone_search(sobjects, criteria))
        results = await asyncio.gather(*jobs)
        rows = {str(row.get("Id")): row for result in results for row in result}
        return (await self._records(list(rows.values())))[: self.max_results]

    def sosl(self, sobjects: list[str], criteria: SearchCriteria) -> str:
        """The SOSL phone search for ``criteria``: each phone's national significant
        number (digits only, so nothing in it is a SOSL operator), any one matching."""
        numbers = dict.fromkeys(n for p in criteria.phones if (n := national_number(p)))
        terms = " OR ".join(f'"{number}"' for number in numbers)
        returning = ", ".join(
            f"{sobject}({', '.join(self._select(sobject))} LIMIT {self.max_results})"
            for sobject in sobjects
        )
        return f"FIND {{{terms}}} IN PHONE FIELDS RETURNING {returning}"

    async def _phone_search(
        self, sobjects: list[str], criteria: SearchCriteria
    ) -> list[dict[str, Any]]:
        """Rows whose phone fields hold one of the caller's numbers, however written."""
        if not any(national_number(p) for p in criteria.phones):
            return []
        response = await self.http.get(
            await self._api("search"), params={"q": self.sosl(sobjects, criteria)}
        )
        body = response.body if isinstance(response.body, dict) else {}
        found = body.get("searchRecords")
        rows = [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
        return [row for row in rows if is_caller(_phones_of(row), criteria)]

    @staticmethod
    def _where(sobject: str, criteria: SearchCriteria) -> str | None:
        spec = SEARCH_FIELDS.get(sobject)
        if spec is None:
            return None
        terms = search_terms(
            criteria,
            spec,
            equals=lambda f, value: f"{f} = {soql_quote(value)}",
            contains=lambda f, value: f"{f} LIKE {soql_like(value)}",
        )
        return "(" + " OR ".join(terms) + ")" if terms else None

    async def get(self, ref: RecordRef) -> CrmRecord:
        sobject = self._sobject(ref.type)
        record_id = self._check_id(ref.id)
        response = await self.http.get(
            await self._api(f"sobjects/{sobject}/{record_id}"),
            params={"fields": ",".join(self._select(sobject))} if sobject in FIELDS else None,
        )
        row = dict(response.body) if isinstance(response.body, dict) else {}
        row.setdefault("attributes", {"type": sobject})
        return self._record(row, await self.instance_url())

    async def _children(self, sobject: str, lookup: str, parent_id: str) -> list[CrmRecord]:
        fields = ", ".join(self._select(sobject))
        soql = (
            f"SELECT {fields} FROM {sobject} WHERE {lookup} = {soql_quote(parent_id)} "
            f"LIMIT {self.max_results}"
        )
        return await self._records(await self.query(soql, self.max_results))

    async def _parents(self, record: CrmRecord, lookups: Mapping[str, str]) -> list[CrmRecord]:
        refs = [
            RecordRef(crm=self._settings_id, type=card_type, id=record.fields[field])
            for field, card_type in lookups.items()
            if record.fields.get(field)
        ]
        return list(await asyncio.gather(*(self.get(r) for r in refs)))

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        record_id = self._check_id(ref.id)
        kind = ref.type.lower()
        if kind == "account":
            groups = await asyncio.gather(
                self._children("Contact", "AccountId", record_id),
                self._children("Case", "AccountId", record_id),
                self._children("Opportunity", "AccountId", record_id),
            )
            return [r for group in groups for r in group]
        if kind == "contact":
            contact = await self.get(ref)
            parents, cases = await asyncio.gather(
                self._parents(contact, {"AccountId": "account"}),
                self._children("Case", "ContactId", record_id),
            )
            return parents + cases
        if kind == "case":
            case = await self.get(ref)
            return await self._parents(case, {"ContactId": "contact", "AccountId": "account"})
        if kind == "opportunity":
            return await self._parents(await self.get(ref), {"AccountId": "account"})
        return []

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        sobject = self._sobject(record_type)
        body = salesforce_fields(sobject, record.fields)
        if related_to is not None:
            lookup = RELATION_FIELDS.get((sobject, related_to.type.lower()))
            if lookup is None:
                lookup = "WhatId" if sobject == "Task" else None
            if lookup is None:
                raise InvalidRecord(
                    t(
                        "{crm} cannot relate a {record_type} to a {type}",
                        crm=self._display_name,
                        record_type=record_type,
                        type=related_to.type,
                    )
                )
            body[lookup] = self._check_id(related_to.id)
        return await self._insert(sobject, body)

    async def _insert(self, sobject: str, body: dict[str, Any]) -> CrmRecord:
        response = await self.http.post(await self._api(f"sobjects/{sobject}"), json_body=body)
        answer = response.body if isinstance(response.body, dict) else {}
        if not answer.get("success") or not answer.get("id"):
            errors = answer.get("errors") or []
            raise InvalidRecord(
                t(
                    "{crm} did not create the record: {errors}",
                    crm=self._display_name,
                    errors=errors,
                )
            )
        return await self.get(
            RecordRef(crm=self._settings_id, type=self._card_type(sobject), id=str(answer["id"]))
        )

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        sobject = self._sobject(ref.type)
        record_id = self._check_id(ref.id)
        if not fields:
            return await self.get(ref)
        await self.http.patch(
            await self._api(f"sobjects/{sobject}/{record_id}"),
            json_body=salesforce_fields(sobject, fields),
        )
        return await self.get(ref)

    def _external_path(self, external_id: str) -> str:
        assert self.task_external_id_field is not None
        return f"sobjects/Task/{self.task_external_id_field}/{quote(external_id, safe='')}"

    async def find_timeline_activity(self, ref: RecordRef, external_id: str) -> CrmRecord | None:
        """The Task written with ``external_id``, if any (GET by external id); always None
        without ``task_external_id_field`` (Description cannot be filtered in SOQL)."""
        if self.task_external_id_field is None or not external_id:
            return None
        return await self._task_by_external_id(external_id)

    async def _task_by_external_id(self, external_id: str) -> CrmRecord | None:
        try:
            response = await self.http.get(
                await self._api(self._external_path(external_id)),
                params={"fields": ",".join(self._select("Task"))},
            )
        except RecordNotFound:
            return None
        row = dict(response.body) if isinstance(response.body, dict) else {}
        if not row.get("Id"):
            return None
        row.setdefault("attributes", {"type": "Task"})
        return self._record(row, await self.instance_url())

    async def create_timeline_activity(
        self,
        ref: RecordRef,
        subject: str,
        description: str,
        *,
        activity_type: str = "task",
        outbound: bool = False,
        external_id: str | None = None,
    ) -> CrmRecord:
        """Log a completed Task. With ``external_id`` and ``task_external_id_field`` the
        Task is upserted by that key: writing it again updates the same Task."""
        if activity_type not in ("task", "phonecall"):
            raise NotSupported(
                t(
                    "{crm} has no {activity_type} activities",
                    crm=self._display_name,
                    activity_type=activity_type,
                )
            )
        lookup = "WhoId" if ref.type.lower() in ("contact", "lead") else "WhatId"
        body: dict[str, Any] = {
            "Subject": subject,
            "Description": description,
            "Status": "Completed",
            "ActivityDate": self._today().isoformat(),
            lookup: self._check_id(ref.id),
        }
        if activity_type == "phonecall":
            body["TaskSubtype"] = "Call"
            body["CallType"] = "Outbound" if outbound else "Inbound"
        if external_id and self.task_external_id_field is not None:
            return await self._upsert_task(body, external_id)
        return await self._insert("Task", body)

    async def _upsert_task(self, body: dict[str, Any], external_id: str) -> CrmRecord:
        """PATCH /sobjects/Task/{field}/{key}: 201 created, 200 (v46+, ``created``: false)
        or 204 (older versions) updated the Task already holding the key. The key stays out
        of the body (it is in the URL). An upsert is safe to resend, hence idempotent.
        When the Task exists already its create-only fields stay out of the update."""
        if await self._task_by_external_id(external_id) is not None:
            body = {k: v for k, v in body.items() if k not in CREATE_ONLY["Task"]}
        try:
            response = await self.http.patch(
                await self._api(self._external_path(external_id)),
                json_body=body,
                idempotent=True,
            )
        except RecordNotFound as error:  # the field is missing or not an external id
            raise InvalidRecord(
                f"{self._display_name}: Task has no external ID field "
                f"{self.task_external_id_field!r} (check the CRM configuration)"
            ) from error
        answer = response.body if isinstance(response.body, dict) else {}
        if response.status in (200, 201) and answer.get("id"):
            if answer.get("success") is False:
                errors = answer.get("errors") or []
                raise InvalidRecord(
                    t(
                        "{crm} did not write the task: {errors}",
                        crm=self._display_name,
                        errors=errors,
                    )
                )
            return await self.get(
                RecordRef(crm=self._settings_id, type="task", id=str(answer["id"]))
            )
        found = await self._task_by_external_id(external_id)
        if found is None:
            raise InvalidRecord(t("{crm} did not say which task it wrote", crm=self._display_name))
        return found
