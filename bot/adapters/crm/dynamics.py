"""Dynamics 365 adapter: the CRM port over the Dataverse Web API v9.2.

Phones: Dataverse compares ``eq``, ``startswith`` and ``contains`` on the raw column
string, so "(415) 555-0100" is not ``eq`` "+14155550100". The ``$filter`` asks each
phone column to start with one of the number's common written forms
(:func:`~bot.adapters.crm.phones.written_forms`; a prefix also finds "... x123"), and
each candidate is then verified (:mod:`bot.adapters.crm.phones`). Follows
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
(``startswith``, LIKE wildcards in string functions).

Authenticates app-only through :class:`~bot.adapters.crm.tokens.MsalClientCredentials`
(scope ``https://ORG.crm.dynamics.com/.default``). Every ``$filter`` is built from
:func:`odata_quote` / :func:`odata_contains` literals, so user input never leaves its
string; paging follows ``@odata.nextLink`` with ``Prefer: odata.maxpagesize``; errors
``{"error": {"code", "message"}}`` and service-protection 429s become typed errors.

Timeline tasks and phone calls are written completed, as Salesforce Tasks are: task
``statecode`` 1 (Completed) / ``statuscode`` 5 (Completed); phonecall ``statecode`` 1 /
``statuscode`` 4 (Received, ``directioncode`` false: the customer called) or, for a call
the agent made, ``statuscode`` 2 (Made, ``directioncode`` true), per
https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/task and
https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/phonecall.

Text longer than its column's documented MaxLength (a task's or phone call's subject 200
and description 2,000, a case's title 200 and description 2,000) is refused by Dataverse
as a whole (400, ``0x80044331``); the adapter cuts it to fit with the visible
"…[truncated]" marker, a timeline description before its crmcard reference line
(:data:`MAX_LENGTHS`). It names those limits for a write-back
(:meth:`DynamicsClient.text_limits`, :class:`~bot.services.crm.CutsText`), whose payload
is cut to them where it is built, so the card and the admin's outbox say what was cut;
what reaches the adapter already fits.

Service protection limits answer 429 with ``Retry-After`` and one of three codes
(https://learn.microsoft.com/power-apps/developer/data-platform/api-limits):
``0x80072322`` (number of requests), ``0x80072321`` (combined execution time),
``0x80072326`` (concurrent requests); each is waited out like any 429 and named in the
error when it persists.

Records are created and updated with the card's neutral field names translated
(:meth:`DynamicsClient._columns`): Dataverse refuses a property its entity does not have
("The property 'subject' does not exist on type 'Microsoft.Dynamics.CRM.incident'";
a case's title is ``title``, a contact's name its ``firstname`` and ``lastname``, its
phone ``telephone1``), per
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api
and the entity references (incident, contact, lead). A case reopened by a policy is
made active again, state Active and status In Progress, as the numbers Dataverse takes
(:data:`REOPENED`): its closed states are not statuses one can name.

Timeline activities are idempotent: given the write-back's idempotency key, the task or
phonecall is created with a client-chosen primary key, ``activityid`` = uuid5 of the key
(:func:`activity_id`). A retry looks the activity up by that id first, and a create that
Dataverse refuses as a duplicate key (``0x80040237``, "Cannot insert duplicate key")
returns the row that already holds it, so a crash between the create and the outbox
marking its step done never makes a second activity.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.adapters.crm.http import HttpResponse, ResilientHttp
from bot.adapters.crm.phones import keep_candidate, written_forms
from bot.adapters.crm.querykit import (
    card_name,
    follow_next_links,
    mapped_columns,
    search_terms,
    vendor_fields,
)
from bot.adapters.crm.restkit import throttled
from bot.domain.memorialization import TextLimits, fit
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

API_VERSION = "v9.2"
LOOKUP_TYPE = "@Microsoft.Dynamics.CRM.lookuplogicalname"


@dataclass(frozen=True)
class Entity:
    card_type: str
    logical: str
    entity_set: str
    key: str
    title: str
    subtitle: str | None
    select: tuple[str, ...]


ENTITIES: dict[str, Entity] = {
    e.card_type: e
    for e in (
        Entity(
            "account",
            "account",
            "accounts",
            "accountid",
            "name",
            "address1_city",
            ("accountid", "name", "telephone1", "emailaddress1", "websiteurl", "address1_city"),
        ),
        Entity(
            "contact",
            "contact",
            "contacts",
            "contactid",
            "fullname",
            "jobtitle",
            (
                "contactid",
                "fullname",
                "emailaddress1",
                "telephone1",
                "mobilephone",
                "jobtitle",
                "_parentcustomerid_value",
            ),
        ),
        Entity(
            "lead",
            "lead",
            "leads",
            "leadid",
            "fullname",
            "companyname",
            ("leadid", "fullname", "emailaddress1", "telephone1", "mobilephone", "companyname"),
        ),
        Entity(
            "case",
            "incident",
            "incidents",
            "incidentid",
            "title",
            "ticketnumber",
            ("incidentid", "title", "ticketnumber", "statecode", "statuscode", "_customerid_value"),
        ),
        Entity(
            "opportunity",
            "opportunity",
            "opportunities",
            "opportunityid",
            "name",
            None,
            ("opportunityid", "name", "estimatedvalue", "_parentaccountid_value"),
        ),
        Entity(
            "task",
            "task",
            "tasks",
            "activityid",
            "subject",
            None,
            ("activityid", "subject", "description", "_regardingobjectid_value"),
        ),
        Entity(
            "phonecall",
            "phonecall",
            "phonecalls",
            "activityid",
            "subject",
            None,
            ("activityid", "subject", "description", "_regardingobjectid_value"),
        ),
    )
}
BY_LOGICAL = {e.logical: e for e in ENTITIES.values()}

SEARCH_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "contact": {
        "phone": ("telephone1", "mobilephone"),
        "email": ("emailaddress1",),
        "name": ("fullname",),
    },
    "lead": {
        "phone": ("telephone1", "mobilephone"),
        "email": ("emailaddress1",),
        "name": ("fullname",),
    },
    "account": {"phone": ("telephone1",), "email": ("emailaddress1",), "name": ("name",)},
}
PERSON_LEVEL = ("contact", "lead", "account")

# (new row's card type, related row's card type) -> single-valued navigation property
BINDS: dict[tuple[str, str], str] = {
    ("contact", "account"): "parentcustomerid_account",
    ("case", "account"): "customerid_account",
    ("case", "contact"): "customerid_contact",
    ("opportunity", "account"): "parentaccountid",
}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


ACTIVITY_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:crmcard:dynamics:timeline-activity")
DUPLICATE_KEY = "0x80040237"  # -2147220937 "Cannot insert duplicate key"
TIMELINE_TYPES = ("task", "phonecall")
COMPLETED: dict[str, dict[str, Any]] = {
    "task": {"statecode": 1, "statuscode": 5},
    "phonecall": {"statecode": 1, "statuscode": 4, "directioncode": False},
}
"""The columns that write a timeline activity as completed (state Completed; a task's
status Completed, an inbound phone call's status Received)."""
OUTGOING_CALL: dict[str, Any] = {"statuscode": 2, "directioncode": True}
"""A completed phone call the agent made: status Made, direction outgoing."""
MAX_LENGTHS: dict[str, dict[str, int]] = {
    "task": {"subject": 200, "description": 2000},
    "phonecall": {"subject": 200, "description": 2000},
    "incident": {"title": 200, "description": 2000},
}
"""Documented MaxLength of the text columns crmcard writes (the task and phonecall
reference pages above; incident:
https://learn.microsoft.com/dynamics365/customerengagement/on-premises/developer/entities/incident).
Dataverse refuses a longer value with 400 ``0x80044331`` and writes nothing, so a
write-back would be parked; values are cut to fit instead (:func:`fitted`), a write-back's
where its payload is built (:meth:`DynamicsClient.text_limits`)."""
SERVICE_PROTECTION = {
    "0x80072322": "too many requests",
    "0x80072321": "too much combined execution time",
    "0x80072326": "too many concurrent requests",
}
"""Dataverse service-protection error codes and what each limit counts."""


class DuplicateKey(InvalidRecord):
    """Dataverse already has a row with the primary key we chose."""


def activity_id(external_id: str) -> str:
    """The deterministic ``activityid`` of the activity written for ``external_id``."""
    return str(uuid.uuid5(ACTIVITY_ID_NAMESPACE, external_id))


def odata_quote(value: str) -> str:
    """``value`` as an OData string literal: single quotes doubled, quotes included."""
    return "'" + value.replace("'", "''") + "'"


def odata_contains(value: str) -> str:
    """A ``contains()`` argument matching ``value`` literally: Dataverse treats % _ [ as
    LIKE wildcards inside string functions, so they are bracketed."""
    escaped = "".join(f"[{c}]" if c in "%_[" else c for c in value)
    return odata_quote(escaped)


def dataverse_error(name: str, response: HttpResponse) -> CrmError | None:
    body = response.body if isinstance(response.body, dict) else {}
    raw = body.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    code = str(error.get("code", ""))
    message = str(error.get("message", "")).strip()
    detail = f": {message}" if message else ""
    status = response.status
    if status == 429:
        limit = SERVICE_PROTECTION.get(code.lower(), "service protection limit")
        busy = throttled(name, response)
        return CrmThrottled(
            t("{reason} ({limit})", reason=busy.message, limit=limit),
            retry_after=busy.retry_after,
        )
    if status == 404 or code == "0x80040217":
        return RecordNotFound(t("{crm} has no such record", crm=name))
    if status == 401:
        return CrmAuthError(t("{crm} refused our credentials", crm=name))
    if status == 403:
        return CrmAuthError(t("{crm} denied access{detail}", crm=name, detail=detail))
    if code == DUPLICATE_KEY:
        return DuplicateKey(f"{name} already has a record with that key{detail}")
    if code == "0x80040333":
        return InvalidRecord(t("{crm} found a duplicate record{detail}", crm=name, detail=detail))
    if 400 <= status < 500:
        return InvalidRecord(
            t(
                "{crm} refused the record ({code}){detail}",
                crm=name,
                code=code or status,
                detail=detail,
            )
        )
    return None


_STATE_FIELDS = ("statecode", "statuscode")
PEOPLE = frozenset({"contact", "lead"})
PERSON_NAME = ("firstname", "lastname")
"""A contact's or lead's name columns; its ``fullname`` is computed from them."""
REOPENED: dict[str, dict[str, Any]] = {"case": {"statecode": 0, "statuscode": 1}}
"""The columns that make a closed row open again, per card type: a case Active, In
Progress (https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/incident)."""


def fitted(entity: Entity, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with each text longer than its column's :data:`MAX_LENGTHS` cut visibly
    to fit, a timeline description's reference line kept whole (a write-back's texts fit
    already: a record created from the card, a workflow's fields, may not)."""
    limits = MAX_LENGTHS.get(entity.logical, {})
    return {
        name: fit(value, limits[name]) if isinstance(value, str) and name in limits else value
        for name, value in body.items()
    }


def _renames(entity: Entity) -> dict[str, str]:
    """The card's neutral field names ``entity`` spells otherwise
    (:meth:`DynamicsClient._columns`): its title (``subject``, ``name``) in its title column
    (a person's ``name`` is split instead), ``phone`` and ``email`` in its first phone and
    email columns."""
    searched = SEARCH_FIELDS.get(entity.card_type, {})
    renames = {} if entity.card_type in PEOPLE else {"subject": entity.title, "name": entity.title}
    renames |= {kind: searched[kind][0] for kind in ("phone", "email") if searched.get(kind)}
    return renames


def _with_state_numbers(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with a row's state and status as the numbers Dataverse takes."""
    body: dict[str, Any] = dict(fields)
    for name in _STATE_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value.isdigit():
            body[name] = int(value)
    return body


class DynamicsClient:
    """Implements :class:`~bot.services.crm.CrmClient` for one Dataverse organisation.

    ``org_url`` is ``https://ORG.crm.dynamics.com``; ``http`` carries the MSAL token
    provider. ``field_mappings`` renames Dataverse columns for the card
    (``column`` or ``entity.column`` -> card field) and selects mapped columns.
    """

    creatable = frozenset({"contact", "lead", "case"})
    """What the card offers to create here for an unknown caller or a case."""

    def __init__(
        self,
        *,
        settings_id: str,
        display_name: str,
        http: ResilientHttp,
        org_url: str,
        api_version: str = API_VERSION,
        max_results: int = 50,
        page_size: int = 50,
        field_mappings: Mapping[str, str] | None = None,
    ) -> None:
        self._settings_id = settings_id
        self._display_name = display_name
        self.http = http
        self.org_url = org_url.rstrip("/")
        self.api_version = api_version
        self.max_results = max_results
        self.page_size = page_size
        self.field_mappings = dict(field_mappings or {})
        self.api = f"{self.org_url}/api/data/{api_version}"
        http.default_headers.setdefault("OData-MaxVersion", "4.0")
        http.default_headers.setdefault("OData-Version", "4.0")
        if http.error_mapper is None:
            http.error_mapper = lambda response: dataverse_error(display_name, response)

    @property
    def settings_id(self) -> str:
        return self._settings_id

    @property
    def display_name(self) -> str:
        return self._display_name

    # -- plumbing -------------------------------------------------------------------------

    def _entity(self, record_type: str) -> Entity:
        entity = ENTITIES.get(record_type.lower())
        if entity is None:
            raise InvalidRecord(
                t(
                    "{crm} has no record type {record_type}",
                    crm=self._display_name,
                    record_type=repr(record_type),
                )
            )
        return entity

    def _guid(self, record_id: str) -> str:
        if not _GUID.fullmatch(record_id):
            raise RecordNotFound(
                t(
                    "{crm} has no record {record_id}",
                    crm=self._display_name,
                    record_id=repr(record_id),
                )
            )
        return record_id.lower()

    def _select(self, entity: Entity) -> str:
        return ",".join(mapped_columns(entity.select, self.field_mappings, entity.logical, _NAME))

    def _prefer(self) -> dict[str, str]:
        return {
            "Prefer": f"odata.maxpagesize={self.page_size},"
            f'odata.include-annotations="{LOOKUP_TYPE[1:]}"'
        }

    async def _list(self, entity: Entity, filter_: str, limit: int) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"{self.api}/{entity.entity_set}",
            params={"$select": self._select(entity), "$filter": filter_},
            headers=self._prefer(),
        )

        async def fetch(link: str) -> HttpResponse:
            return await self.http.get(link, headers=self._prefer())

        return await follow_next_links(
            response,
            rows="value",
            next_link="@odata.nextLink",
            limit=limit,
            prefix=f"{self.api}/",  # only ever follow links into this org's API
            fetch=fetch,
        )

    def _record(self, entity: Entity, row: Mapping[str, Any]) -> CrmRecord:
        record_id = str(row.get(entity.key) or "")
        title = row.get(entity.title) or record_id
        subtitle = row.get(entity.subtitle) if entity.subtitle else None
        fields: dict[str, str] = {}
        for key, value in row.items():
            if key.startswith("@") or "@" in key or value is None or isinstance(value, dict | list):
                continue
            card_key = key
            if not key.startswith("_"):  # lookups keep their names: related() reads them
                card_key = card_name(self.field_mappings, entity.logical, key)
            fields[card_key] = str(value)
        for key, value in row.items():  # lookups' target types, for related()
            if key.endswith(LOOKUP_TYPE) and value:
                fields[key[: -len(LOOKUP_TYPE)] + "@type"] = str(value)
        return CrmRecord(
            ref=RecordRef(crm=self._settings_id, type=entity.card_type, id=record_id),
            title=str(title),
            subtitle=str(subtitle) if subtitle else None,
            fields=fields,
            url=(
                f"{self.org_url}/main.aspx?etn={entity.logical}&id={record_id}"
                "&pagetype=entityrecord"
            ),
        )

    # -- the port -----------------------------------------------------------------------

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        if criteria.is_empty:
            return []
        jobs = []
        for card_type in criteria.record_types or list(PERSON_LEVEL):
            spec = SEARCH_FIELDS.get(card_type.lower())
            if spec is None:
                continue
            terms = search_terms(
                criteria,
                spec,
                equals=lambda f, value: f"{f} eq {odata_quote(value)}",
                contains=lambda f, value: f"contains({f},{odata_contains(value)})",
                phone=lambda f, e164: [
                    f"startswith({f},{odata_contains(form)})" for form in written_forms(e164)
                ],
            )
            if terms:
                entity = ENTITIES[card_type.lower()]
                jobs.append((entity, self._list(entity, " or ".join(terms), self.max_results)))
        results = await asyncio.gather(*(job for _, job in jobs))
        records = [
            self._record(entity, row)
            for (entity, _), rows in zip(jobs, results, strict=True)
            for row in rows
            if keep_candidate(
                criteria,
                (row.get(f) for f in SEARCH_FIELDS[entity.card_type]["phone"]),
                (row.get(f) for f in SEARCH_FIELDS[entity.card_type]["email"]),
            )
        ]
        return records[: self.max_results]

    async def get(self, ref: RecordRef) -> CrmRecord:
        entity = self._entity(ref.type)
        response = await self.http.get(
            f"{self.api}/{entity.entity_set}({self._guid(ref.id)})",
            params={"$select": self._select(entity)},
            headers=self._prefer(),
        )
        row = response.body if isinstance(response.body, dict) else {}
        return self._record(entity, row)

    async def _children(self, card_type: str, lookup: str, parent_id: str) -> list[CrmRecord]:
        entity = ENTITIES[card_type]
        rows = await self._list(entity, f"{lookup} eq {parent_id}", self.max_results)
        return [self._record(entity, row) for row in rows]

    async def _parent(self, record: CrmRecord, lookup: str) -> list[CrmRecord]:
        target_id = record.fields.get(lookup)
        target = BY_LOGICAL.get(record.fields.get(lookup + "@type", ""))
        if not target_id or target is None:
            return []
        try:
            parent_ref = RecordRef(crm=self._settings_id, type=target.card_type, id=target_id)
            return [await self.get(parent_ref)]
        except RecordNotFound:
            return []

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        kind = ref.type.lower()
        record_id = self._guid(ref.id)
        if kind == "account":
            groups = await asyncio.gather(
                self._children("contact", "_parentcustomerid_value", record_id),
                self._children("case", "_customerid_value", record_id),
                self._children("opportunity", "_parentaccountid_value", record_id),
            )
            return [r for group in groups for r in group]
        if kind == "contact":
            contact = await self.get(ref)
            parents, cases = await asyncio.gather(
                self._parent(contact, "_parentcustomerid_value"),
                self._children("case", "_customerid_value", record_id),
            )
            return parents + cases
        if kind == "case":
            return await self._parent(await self.get(ref), "_customerid_value")
        if kind == "opportunity":
            return await self._parent(await self.get(ref), "_parentaccountid_value")
        return []

    def _columns(self, entity: Entity, fields: Mapping[str, str]) -> dict[str, Any]:
        """``fields`` as ``entity`` spells them: the card's title (``subject``, ``name``) in
        its title column, a person's ``name`` split into ``firstname`` and ``lastname`` (a
        lead's ``subject`` is its own column, its topic), ``phone`` and ``email`` in its
        first phone and email columns, ``reopen`` as the state and status of an open row
        (:data:`REOPENED`; the status name asked for is not one Dataverse takes);
        Dataverse's own column names as given, state and status as numbers."""
        person = entity.card_type in PEOPLE
        given = dict(fields)
        reopen = given.pop("reopen", None) is not None
        body = vendor_fields(given, _renames(entity), PERSON_NAME if person else None)
        if reopen:
            if entity.card_type not in REOPENED:
                raise InvalidRecord(
                    t("{crm} cannot reopen a {type}", crm=self._display_name, type=entity.card_type)
                )
            body |= REOPENED[entity.card_type]
        return _with_state_numbers(body)

    def text_limits(self, record_type: str, activity_type: str) -> TextLimits:
        """What :func:`fitted` would cut a write-back to a ``record_type`` record to: its
        columns' :data:`MAX_LENGTHS` by the names :meth:`update` takes (a case's title as
        ``title``, ``subject`` and ``name``), and an ``activity_type`` activity's subject
        and description. Nothing for a type this org has no limits for (or none at all)."""
        entity = ENTITIES.get(record_type.lower())
        columns = MAX_LENGTHS.get(entity.logical, {}) if entity else {}
        names = {column: column for column in columns} | (_renames(entity) if entity else {})
        activity = ENTITIES.get(activity_type) if activity_type in TIMELINE_TYPES else None
        texts = MAX_LENGTHS.get(activity.logical, {}) if activity else {}
        return TextLimits(
            fields={name: columns[column] for name, column in names.items() if column in columns},
            timeline_subject=texts.get("subject"),
            timeline_description=texts.get("description"),
        )

    def _bind(self, target: RecordRef) -> str:
        return f"/{self._entity(target.type).entity_set}({self._guid(target.id)})"

    async def _insert(
        self, entity: Entity, body: dict[str, Any], *, idempotent: bool = False
    ) -> CrmRecord:
        response = await self.http.post(
            f"{self.api}/{entity.entity_set}", json_body=fitted(entity, body), idempotent=idempotent
        )
        entity_id = response.headers.get("OData-EntityId", "")
        match = _ENTITY_ID.search(entity_id)
        if match is None:
            raise InvalidRecord(
                t("{crm} did not say which record it created", crm=self._display_name)
            )
        return await self.get(
            RecordRef(crm=self._settings_id, type=entity.card_type, id=match.group(1))
        )

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        entity = self._entity(record_type)
        body = self._columns(entity, record.fields)
        if related_to is not None:
            nav = BINDS.get((entity.card_type, related_to.type.lower()))
            if nav is None:
                raise InvalidRecord(
                    t(
                        "{crm} cannot relate a {record_type} to a {type}",
                        crm=self._display_name,
                        record_type=record_type,
                        type=related_to.type,
                    )
                )
            body[f"{nav}@odata.bind"] = self._bind(related_to)
        return await self._insert(entity, body)

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        entity = self._entity(ref.type)
        if fields:
            await self.http.patch(
                f"{self.api}/{entity.entity_set}({self._guid(ref.id)})",
                json_body=fitted(entity, self._columns(entity, fields)),
                headers={"If-Match": "*"},  # update only: never upsert a new row
                idempotent=True,
            )
        return await self.get(ref)

    async def find_timeline_activity(self, ref: RecordRef, external_id: str) -> CrmRecord | None:
        """The task or phonecall created for ``external_id`` (GET by its derived
        ``activityid``), if any."""
        if not external_id:
            return None
        record_id = activity_id(external_id)
        for card_type in TIMELINE_TYPES:
            try:
                return await self.get(
                    RecordRef(crm=self._settings_id, type=card_type, id=record_id)
                )
            except RecordNotFound:
                continue
        return None

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
        """Log a task or phonecall regarding the record. With ``external_id`` its
        ``activityid`` is derived from it: creating it again returns the first one."""
        if activity_type not in TIMELINE_TYPES:
            raise NotSupported(
                t(
                    "{crm} has no {activity_type} activities",
                    crm=self._display_name,
                    activity_type=activity_type,
                )
            )
        regarding = self._entity(ref.type)
        activity = ENTITIES[activity_type]
        body: dict[str, Any] = {
            "subject": subject,
            "description": description,
            f"regardingobjectid_{regarding.logical}_{activity.logical}@odata.bind": self._bind(ref),
            **COMPLETED[activity_type],
        }
        if activity_type == "phonecall" and outbound:
            body |= OUTGOING_CALL
        if not external_id:
            return await self._insert(activity, body)
        body[activity.key] = activity_id(external_id)
        try:
            # Resending is safe with our own key (a duplicate is caught below), so the
            # POST may be retried after a timeout or a 5xx like a GET.
            return await self._insert(activity, body, idempotent=True)
        except DuplicateKey:
            existing = await self.find_timeline_activity(ref, external_id)
            if existing is None:
                raise
            return existing
