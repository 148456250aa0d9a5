"""Small shared pieces of the REST-based vendor adapters (Zendesk, ServiceNow, Kustomer,
Freshdesk, Oracle B2C, generic REST), on top of :mod:`bot.adapters.crm.http`.

* :class:`OAuthTokenEndpoint` -- a plain OAuth 2.0 token endpoint (client credentials,
  resource-owner password, refresh token), renewed before expiry;
* :func:`parse_link_header`, :func:`same_origin` -- RFC 8288 paging links, followed only
  when they stay on the CRM's own origin (a link elsewhere would receive our credentials);
* :func:`clean_value` -- user input made inert before it goes into a vendor query;
* :func:`error_of` / :func:`throttled` -- helpers for the vendors' error mappers;
* :func:`map_status_error` -- the status -> typed error skeleton every mapper shares;
* :func:`oauth_endpoint` -- an adapter's OAuth token endpoint on its own caller;
* :func:`follow_pages` -- the bounded loop over a list's pages by their next links.
"""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from bot.adapters.crm.credentials import AccessToken, TokenProvider
from bot.adapters.crm.http import ErrorMapper, HttpResponse, ResilientHttp, default_error
from bot.adapters.crm.tokens import Clock, RenewingTokenProvider
from bot.domain.records import PERSON_LEVEL_TYPES, CrmRecord, RecordRef
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
from bot.services.retry import parse_retry_after

MAX_RESULTS = 50
"""Records one search or related call returns at most (pages are followed up to it)."""

MAX_PAGES = 20
"""Pages one call follows at most, whatever the CRM says about more."""

T = TypeVar("T")


class OAuthTokenEndpoint(RenewingTokenProvider):
    """OAuth 2.0 token endpoint (RFC 6749 sections 4.3, 4.4 and 6).

    ``grant`` is ``client_credentials`` or ``password`` (then ``username`` and
    ``password`` are sent). A refresh token, when the endpoint gives one, is used for
    the next renewal; if it is refused the original grant is used again. ``json_body``
    sends the parameters as JSON instead of a form (Zendesk accepts both).
    """

    def __init__(
        self,
        http: ResilientHttp,
        token_url: str,
        *,
        client_id: str,
        client_secret: str,
        grant: str = "client_credentials",
        username: str | None = None,
        password: str | None = None,
        scope: str | None = None,
        json_body: bool = False,
        default_lifetime: float = 1800.0,
        refresh_margin: float = 120.0,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        if grant not in ("client_credentials", "password"):
            raise ValueError(f"unsupported OAuth grant {grant!r}")
        if grant == "password" and not (username and password):
            raise ValueError("the password grant needs a username and a password")
        self.http = http
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.grant = grant
        self.username = username
        self._password = password
        self.scope = scope
        self.json_body = json_body
        self.default_lifetime = default_lifetime
        self._refresh_token: str | None = None

    def _params(self, use_refresh: bool) -> dict[str, str]:
        params = {"client_id": self.client_id, "client_secret": self._secret}
        if use_refresh and self._refresh_token:
            params.update(grant_type="refresh_token", refresh_token=self._refresh_token)
            return params
        params["grant_type"] = self.grant
        if self.grant == "password":
            params.update(username=self.username or "", password=self._password or "")
        if self.scope:
            params["scope"] = self.scope
        return params

    async def _request(self, params: dict[str, str]) -> HttpResponse:
        encoded = {"json_body": params} if self.json_body else {"form": params}
        return await self.http.post(
            self.token_url,
            authenticate=False,
            idempotent=True,
            raise_for_status=False,
            **encoded,
        )

    async def _fetch(self) -> AccessToken:
        response = await self._request(self._params(use_refresh=True))
        if not response.ok and self._refresh_token:
            self._refresh_token = None
            response = await self._request(self._params(use_refresh=False))
        if response.status == 429 or response.status >= 500:
            # the CRM is busy or down: that says nothing about the credentials
            raise default_error(self.http.name, response)
        body = response.body if isinstance(response.body, dict) else {}
        if not response.ok or "access_token" not in body:
            error = body.get("error") or f"HTTP {response.status}"
            raise CrmAuthError(t("{crm} sign-in failed ({error})", crm=self.http.name, error=error))
        if body.get("refresh_token"):
            self._refresh_token = str(body["refresh_token"])
        try:
            lifetime = float(body.get("expires_in") or self.default_lifetime)
        except (TypeError, ValueError):
            lifetime = self.default_lifetime
        scheme = str(body.get("token_type") or "Bearer")
        return AccessToken(
            value=str(body["access_token"]),
            expires_at=self.clock() + lifetime,
            scheme="Bearer" if scheme.lower() == "bearer" else scheme,
        )


def oauth_endpoint(
    session: aiohttp.ClientSession,
    token_url: str,
    *,
    name: str,
    error_mapper: ErrorMapper,
    http_options: Mapping[str, Any],
    client_id: str,
    client_secret: str,
    **grant: Any,
) -> OAuthTokenEndpoint:
    """An adapter's :class:`OAuthTokenEndpoint`: its own unauthenticated caller (the
    adapter's name, error mapper and ``http_options``) and the adapter's clock.
    ``grant`` holds the other endpoint options (``grant``, ``username``, ``scope``...)."""
    token_http = ResilientHttp(session, name=name, error_mapper=error_mapper, **http_options)
    return OAuthTokenEndpoint(
        token_http,
        token_url,
        client_id=client_id,
        client_secret=client_secret,
        clock=http_options.get("clock", time.monotonic),
        **grant,
    )


def no_credentials(name: str) -> CrmAuthError:
    return CrmAuthError(t("{crm} has no credentials configured", crm=name))


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL = re.compile(r'rel\s*=\s*"?([^";]+)"?', re.I)


def parse_link_header(value: str | None) -> dict[str, str]:
    """``<url>; rel="next", <url>; rel="last"`` -> {"next": url, "last": url}."""
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK.finditer(value):
        url, params = match.groups()
        rel = _REL.search(params)
        if rel:
            for name in rel.group(1).split():
                links.setdefault(name.lower(), url.strip())
    return links


def same_origin(url: str | URL, base: str | URL) -> bool:
    """Does ``url`` point at the same scheme://host:port as ``base``?"""
    target, origin = URL(str(url)), URL(str(base))
    return (target.scheme, target.host, target.port) == (origin.scheme, origin.host, origin.port)


def next_url(candidate: str | None, base: str | URL) -> URL | None:
    """A paging link resolved against ``base``, or None when absent or off-origin."""
    if not candidate:
        return None
    url = URL(candidate)
    if not url.is_absolute():
        url = URL(str(base)).join(url)
    return url if same_origin(url, base) else None


async def follow_pages(
    first: URL,
    base: str | URL,
    limit: int,
    fetch: Callable[[URL], Awaitable[HttpResponse]],
    read: Callable[[HttpResponse], tuple[list[T], bool, str | None]],
) -> list[T]:
    """The items of a paged list, from ``first`` on.

    ``fetch`` gets a page; ``read`` turns its answer into (the items to keep, whether
    to go on, the next link). Stops after :data:`MAX_PAGES` pages, before a page once
    ``limit`` items are in, when ``read`` says so, or when the next link is absent or
    off ``base``'s origin (:func:`next_url`). Returns every item read: callers cut.
    """
    items: list[T] = []
    url: URL | None = first
    for _ in range(MAX_PAGES):
        if url is None or len(items) >= limit:
            break
        page, more, link = read(await fetch(url))
        items.extend(page)
        if not more:
            break
        url = next_url(link, base)
    return items


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


async def all_at_once(calls: Iterable[Awaitable[T]]) -> list[T]:
    """The results of ``calls``, run concurrently, in their order: a search's queries take
    one CRM round trip instead of one each. The first failure cancels the others and is
    raised as it is (a :class:`~bot.services.crm.CrmError` stays one)."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def clean_value(value: str, *, drop: str = "", max_length: int = 200) -> str:
    """User input made inert for a query language: NFC, no control characters, none of
    the ``drop`` characters, whitespace collapsed, at most ``max_length`` characters."""
    text = unicodedata.normalize("NFC", value)
    text = _CONTROL.sub(" ", text)
    if drop:
        text = text.translate({ord(c): " " for c in drop})
    return " ".join(text.split())[:max_length].strip()


def wanted_types(criteria: SearchCriteria, supported: Iterable[str]) -> list[str]:
    """The record types to search: those asked for (or person-level ones) we can search."""
    asked = criteria.record_types
    pool = list(supported)
    if asked is None:
        return [t for t in pool if t in PERSON_LEVEL_TYPES]
    return [t for t in pool if t in asked]


def dedupe(records: Iterable[CrmRecord], limit: int = MAX_RESULTS) -> list[CrmRecord]:
    seen: set[str] = set()
    out: list[CrmRecord] = []
    for record in records:
        if record.ref.key in seen:
            continue
        seen.add(record.ref.key)
        out.append(record)
        if len(out) >= limit:
            break
    return out


def as_text(value: Any) -> str | None:
    """A scalar as display text; None for empty values and containers."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def text_fields(source: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        text = as_text(source.get(name))
        if text is not None:
            out[name] = text
    return out


def nest(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "c": 2}`` -> ``{"a": {"b": 1}, "c": 2}`` (custom fields by path)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        parts = [p for p in key.split(".") if p]
        if not parts:
            continue
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def error_of(response: HttpResponse) -> Any:
    return response.body if response.body is not None else {}


def throttled(name: str, response: HttpResponse, wall_clock: float | None = None) -> CrmThrottled:
    retry_after = parse_retry_after(
        response.headers.get("Retry-After"), time.time() if wall_clock is None else wall_clock
    )
    wait = f" in {retry_after:.0f} s" if retry_after is not None else " shortly"
    return CrmThrottled(
        t("{crm} is busy, try again{wait}", crm=name, wait=wait), retry_after=retry_after
    )


BodyReason = Callable[[dict[str, Any]], str]
"""Vendor-specific text drawn from an error answer's JSON object (``{}`` if none)."""


def map_status_error(
    name: str,
    response: HttpResponse,
    *,
    denied: BodyReason | None,
    invalid: BodyReason,
    credentials: str = "our credentials",
    refused: str = "the record",
    invalid_statuses: Collection[int] = (400, 409, 422),
) -> CrmError | None:
    """The typed error for a vendor's failed answer, or None for the generic handling.

    429 -> :func:`throttled`; 401 -> ``"{name} refused {credentials}"`` (403 too when
    ``denied`` is None); 403 -> ``"{name}: {denied(body)}"``; 404 -> no such record;
    ``invalid_statuses`` -> ``"{name} refused {refused}: {invalid(body)}"``.
    """
    body = response.body if isinstance(response.body, dict) else {}
    status = response.status
    if status == 429:
        return throttled(name, response)
    if status == 401 or (status == 403 and denied is None):
        return CrmAuthError(t("{crm} refused {credentials}", crm=name, credentials=credentials))
    if status == 403 and denied is not None:
        return CrmAuthError(t("{crm}: {reason}", crm=name, reason=denied(body)))
    if status == 404:
        return no_such_record(name)
    if status in invalid_statuses:
        return InvalidRecord(
            t(
                "{crm} refused {refused}: {reason}",
                crm=name,
                refused=refused,
                reason=invalid(body),
            )
        )
    return None


def no_such_record(name: str) -> RecordNotFound:
    return RecordNotFound(t("{crm} has no such record", crm=name))


def unexpected_create(name: str) -> CrmError:
    return CrmError(t("{crm} gave an unexpected answer to a create", crm=name))


def int_id(ref: RecordRef, name: str, what: str) -> int:
    """A related record's numeric id for a write payload (``what``: "a Zendesk id")."""
    if not ref.id.isdigit():
        raise InvalidRecord(
            t(
                "{crm}: {type} id {id} is not {what}",
                crm=name,
                type=ref.type,
                id=repr(ref.id),
                what=what,
            )
        )
    return int(ref.id)


def not_supported(name: str, what: str) -> NotSupported:
    return NotSupported(t("{crm} does not support {what}", crm=name, what=what))


def make_http(
    session: aiohttp.ClientSession,
    *,
    name: str,
    auth: TokenProvider | None,
    error_mapper: ErrorMapper,
    default_headers: Mapping[str, str] | None = None,
    **options: Any,
) -> ResilientHttp:
    """A :class:`ResilientHttp` for one adapter; ``options`` go to its constructor
    (``policy``, ``breaker``, ``max_concurrency``, ``clock``, ``sleep``, ``rand``...)."""
    return ResilientHttp(
        session,
        name=name,
        auth=auth,
        error_mapper=error_mapper,
        default_headers=default_headers,
        **options,
    )


class VendorCrm:
    """What every vendor adapter here shares: identity, and the operations that only
    Salesforce and Dynamics have (updates, timeline activities) refused clearly."""

    extra_fields: tuple[str, ...] = ()
    """Raw field names the configuration's data mappings need on records (set by
    ``build_client``); adapters that keep only some fields add these, custom ones too."""

    def __init__(self, *, settings_id: str, display_name: str) -> None:
        self._settings_id = settings_id
        self._display_name = display_name

    def with_extra_fields(self, fields: dict[str, str], *sources: Any) -> dict[str, str]:
        """``fields`` plus each of :attr:`extra_fields` found in the first of ``sources``
        (the raw record, then its custom-field objects) that has it as a scalar."""
        for name in self.extra_fields:
            if name in fields:
                continue
            for source in sources:
                if isinstance(source, dict) and (value := as_text(source.get(name))) is not None:
                    fields[name] = value
                    break
        return fields

    @property
    def settings_id(self) -> str:
        return self._settings_id

    @property
    def display_name(self) -> str:
        return self._display_name

    def ref(self, record_type: str, record_id: Any) -> RecordRef:
        return RecordRef(crm=self._settings_id, type=record_type, id=str(record_id))

    def numeric_ref(self, ref: RecordRef, known: Mapping[str, T]) -> T:
        """``known[ref.type]`` for a record of a known type with a numeric id (CRMs whose
        ids are integers); not supported for other types, no such record for other ids."""
        if ref.type not in known:
            raise not_supported(self._display_name, f"{ref.type} records")
        if not ref.id.isdigit():
            raise no_such_record(self._display_name)
        return known[ref.type]

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        raise not_supported(self._display_name, "updating records")

    async def create_timeline_activity(
        self,
        ref: RecordRef,
        subject: str,
        description: str,
        *,
        activity_type: str = "task",
        outbound: bool = False,
    ) -> CrmRecord:
        raise not_supported(self._display_name, "timeline activities")


__all__ = [
    "MAX_PAGES",
    "MAX_RESULTS",
    "OAuthTokenEndpoint",
    "VendorCrm",
    "as_text",
    "clean_value",
    "dedupe",
    "error_of",
    "follow_pages",
    "int_id",
    "make_http",
    "map_status_error",
    "nest",
    "next_url",
    "no_credentials",
    "no_such_record",
    "not_supported",
    "oauth_endpoint",
    "parse_link_header",
    "same_origin",
    "text_fields",
    "throttled",
    "unexpected_create",
    "wanted_types",
]
