"""Generic REST connector: any JSON API an admin describes with a few templates.

An admin gives the base URL, the auth scheme (none, basic, bearer, API-key header),
one search template per identifier (``/v2/people?phone={value}``), where the results
list is (``$.data.items``), where the next page link is (``$.next``), a get template
(``/v2/people/{id}``) and a JSONPath-like mapping of record fields (``id``, ``title``,
``subtitle``, ``phone``, ``email`` and any others, e.g. ``$.contact.phones[0].number``).
The phone search template gets the caller's number in E.164; found records are kept
only when their mapped ``phone`` is the caller's (:mod:`bot.adapters.crm.phones`);
without a ``phone`` mapping the API's own matching is trusted.

Kept deliberately simple and safe: templates are relative paths on the base URL with
only the ``{value}`` / ``{id}`` placeholders (no attribute access, no format specs);
substituted values are percent-encoded, so they can neither leave their path segment
or query parameter nor point the request at another host; paging links are followed
only on the base URL's origin. Related records are not supported; create is, when a
create template is configured. Fields are sent in the card's neutral names (``name``,
``subject``, ``phone``, ``email``): they are the connector's contract, since no vendor
spelling is known (tags are not in it); a record a policy reopens gets the policy's
``status``.

Updates and timeline entries (so write-backs are not parked) are :class:`RestCall` calls
the admin describes: a method (POST, PUT, PATCH), a path template with ``{id}`` and a
JSON body template. In the body, a string that is exactly one placeholder becomes that
value (``"{fields}"`` -> the changed fields as an object), other strings get the
placeholders' text; values are placed into the JSON structure, never spliced into JSON
text. Update bodies may use ``{id}`` and ``{fields}``; timeline bodies ``{id}``,
``{subject}``, ``{description}`` and ``{activityType}``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.adapters.crm.credentials import TokenProvider
from bot.adapters.crm.http import HttpResponse
from bot.adapters.crm.phones import is_caller
from bot.adapters.crm.restkit import (
    MAX_RESULTS,
    VendorCrm,
    as_text,
    clean_value,
    dedupe,
    follow_pages,
    make_http,
    map_status_error,
    next_url,
    no_credentials,
    no_such_record,
    not_supported,
    unexpected_create,
    wanted_types,
)
from bot.adapters.crm.tokens import StaticSecret
from bot.domain.crm_config import RestEndpoints
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.domain.rest_templates import (
    TIMELINE_PLACEHOLDERS,
    UPDATE_PLACEHOLDERS,
    JsonPath,
    RestCall,
    check_template,
    render,
)
from bot.i18n import t
from bot.services.crm import (
    CrmError,
    SearchCriteria,
    neutral_update,
)

RestAuth = Literal["none", "basic", "bearer", "api_key"]

_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class RestSettings:
    """How to talk to one generic REST CRM (see the module docstring)."""

    base_url: str
    auth: RestAuth = "none"
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    api_key_header: str = "X-Api-Key"
    endpoints: RestEndpoints = field(default_factory=RestEndpoints)
    max_results: int = MAX_RESULTS


class RestCrm(VendorCrm):
    """``http_options`` go to :class:`ResilientHttp` (policy, clock, sleep, rand...)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: RestSettings,
        *,
        settings_id: str,
        display_name: str = "REST CRM",
        auth: TokenProvider | None = None,
        **http_options: Any,
    ) -> None:
        super().__init__(settings_id=settings_id, display_name=display_name)
        self.settings = settings
        self.base = URL(settings.base_url.rstrip("/"))
        if self.base.scheme not in ("http", "https") or not self.base.host:
            raise ValueError("base_url must be an absolute http(s) URL")
        api = settings.endpoints
        self.searches = {
            kind: check_template(template, {"value"})
            for kind, template in (
                ("phone", api.phone_search),
                ("email", api.email_search),
                ("name", api.name_search),
            )
            if template
        }
        self.get_template = check_template(api.get_path, {"id"}) if api.get_path else None
        self.create_template = check_template(api.create_path, set()) if api.create_path else None
        self.update_call = (
            api.update.check_body(UPDATE_PLACEHOLDERS, "update") if api.update else None
        )
        self.timeline_call = (
            api.timeline.check_body(TIMELINE_PLACEHOLDERS, "timeline") if api.timeline else None
        )
        if "id" not in api.mapping or "title" not in api.mapping:
            raise ValueError("the field mapping needs at least id and title")
        self.mapping = {name: JsonPath(path) for name, path in api.mapping.items()}
        self.results = JsonPath(api.results_path)
        self.record_at = JsonPath(api.record_path)
        self.next_at = JsonPath(api.next_path) if api.next_path else None
        if api.ui_url_template:
            for _, name, spec, conversion in string.Formatter().parse(api.ui_url_template):
                if name is not None and (name != "id" or spec or conversion):
                    raise ValueError("ui_url_template may only use {id}")
        self.http = make_http(
            session,
            name=display_name,
            auth=auth if auth is not None else self._auth(settings),
            error_mapper=self._map_error,
            **http_options,
        )

    def _auth(self, s: RestSettings) -> TokenProvider | None:
        if s.auth == "none":
            return None
        if not s.secret:
            raise no_credentials(self.display_name)
        if s.auth == "basic":
            return StaticSecret.basic(s.username or "", s.secret)
        if s.auth == "bearer":
            return StaticSecret(s.secret)
        if not _HEADER.match(s.api_key_header):
            raise ValueError(f"not a header name: {s.api_key_header!r}")
        return StaticSecret.api_key(s.secret, header=s.api_key_header)

    def _map_error(self, response: HttpResponse) -> CrmError | None:
        status = response.status
        return map_status_error(
            self.display_name,
            response,
            credentials=f"our credentials (HTTP {status})",
            denied=None,
            invalid=lambda body: _reason(body) or f"HTTP {status}",
            refused="the request",
        )

    # -- records -----------------------------------------------------------------------

    def _url(self, template: str, **values: str) -> URL:
        encoded = {k: quote(v, safe="") for k, v in values.items()}
        url = URL(str(self.base) + template.format(**encoded), encoded=True)
        if next_url(str(url), self.base) is None:
            raise CrmError(t("{crm}: a template left the base URL", crm=self.display_name))
        return url

    def _record(self, document: Any) -> CrmRecord | None:
        values = {name: as_text(path.find(document)) for name, path in self.mapping.items()}
        rid = values.pop("id", None)
        if not rid:
            return None
        title = values.pop("title", None) or rid
        subtitle = values.pop("subtitle", None)
        url = None
        if self.settings.endpoints.ui_url_template:
            url = self.settings.endpoints.ui_url_template.format(id=quote(rid, safe=""))
        return CrmRecord(
            ref=self.ref(self.settings.endpoints.record_type, rid),
            title=title,
            subtitle=subtitle,
            fields={k: v for k, v in values.items() if v is not None},
            url=url,
        )

    # -- CrmClient ---------------------------------------------------------------------

    def searchable(self, criteria: SearchCriteria) -> bool:
        """Would ``criteria`` send any request (a search template for one of its kinds)?"""
        kinds = {
            "phone": bool(criteria.phones),
            "email": bool(criteria.emails),
            "name": bool(criteria.name),
        }
        return any(asked and kind in self.searches for kind, asked in kinds.items())

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        if criteria.record_types is not None and not wanted_types(
            criteria, (self.settings.endpoints.record_type,)
        ):
            return []
        limit = self.settings.max_results
        values: list[tuple[str, str]] = [("phone", p) for p in criteria.phones]
        values += [("email", e) for e in criteria.emails]
        if criteria.name:
            values.append(("name", criteria.name))
        records: list[CrmRecord] = []
        for kind, raw in values:
            template = self.searches.get(kind)
            value = clean_value(raw)
            if template is None or not value:
                continue
            url = self._url(template, value=value)
            found = await follow_pages(
                url, self.base, limit - len(records), self.http.get, self._read_page
            )
            if kind == "phone" and "phone" in self.mapping:
                found = [r for r in found if is_caller([r.fields.get("phone")], criteria)]
            records += found
        return dedupe(records, limit)

    def _read_page(self, response: HttpResponse) -> tuple[list[CrmRecord], bool, str | None]:
        found = self.results.find(response.body)
        items = found if isinstance(found, list) else []
        records = [r for item in items if (r := self._record(item))]
        if not items or self.next_at is None:
            return records, False, None
        return records, True, as_text(self.next_at.find(response.body))

    async def get(self, ref: RecordRef) -> CrmRecord:
        if self.get_template is None:
            raise not_supported(self.display_name, "opening a single record")
        if ref.type != self.settings.endpoints.record_type:
            raise not_supported(self.display_name, f"{ref.type} records")
        response = await self.http.get(self._url(self.get_template, id=ref.id))
        record = self._record(self.record_at.find(response.body))
        if record is None:
            raise no_such_record(self.display_name)
        return record

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        raise not_supported(self.display_name, "related records")

    async def _call(self, call: RestCall, ref: RecordRef, values: dict[str, Any]) -> Any:
        body = render(call.body, {"id": ref.id, **values}) if call.body is not None else None
        response = await self.http.request(
            call.method, self._url(call.path, id=ref.id), json_body=body
        )
        return response.body

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        """The configured update call (``RestSettings.update``) with the changed fields."""
        call = self.update_call
        if call is None:
            raise not_supported(self.display_name, "updating records (no update call configured)")
        if ref.type != self.settings.endpoints.record_type:
            raise not_supported(self.display_name, f"{ref.type} records")
        answer = await self._call(call, ref, {"fields": neutral_update(fields)})
        if call.record_path:
            record = self._record(JsonPath(call.record_path).find(answer))
            if record is not None:
                return record
        if self.get_template is not None:
            return await self.get(ref)
        return CrmRecord(ref=ref, title=ref.id, fields=dict(fields))

    async def create_timeline_activity(
        self,
        ref: RecordRef,
        subject: str,
        description: str,
        *,
        activity_type: str = "task",
        outbound: bool = False,
    ) -> CrmRecord:
        """The configured timeline call (``RestSettings.timeline``) on the record."""
        call = self.timeline_call
        if call is None:
            raise not_supported(
                self.display_name, "timeline activities (no timeline call configured)"
            )
        values = {"subject": subject, "description": description, "activityType": activity_type}
        answer = await self._call(call, ref, values)
        entry_id = as_text(JsonPath(call.id_path).find(answer))
        if not entry_id:
            raise unexpected_create(self.display_name)
        return CrmRecord(ref=self.ref(activity_type, entry_id), title=subject)

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        if self.create_template is None or record_type != self.settings.endpoints.record_type:
            raise not_supported(self.display_name, f"creating {record_type} records")
        response = await self.http.post(self._url(self.create_template), json_body=record.fields)
        created = self._record(self.record_at.find(response.body))
        if created is None:
            raise unexpected_create(self.display_name)
        return created


def _reason(body: dict[str, Any]) -> str | None:
    return next(
        (t for k in ("message", "error", "detail", "title") if (t := as_text(body.get(k)))),
        None,
    )


__all__ = ["JsonPath", "RestAuth", "RestCall", "RestCrm", "RestSettings", "render"]
