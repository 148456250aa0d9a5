"""One resilient JSON-over-HTTP caller shared by every CRM adapter.

Each adapter owns one :class:`ResilientHttp` per CRM configuration, wrapping the app's
``aiohttp.ClientSession``. A call:

* waits for a slot of the per-CRM concurrency limit (``asyncio.Semaphore``);
* fails fast with ``CrmUnavailable("<CRM> unavailable, retrying")`` while the
  :class:`CircuitBreaker` is open (it opens after N consecutive failed attempts and lets
  one probe through after a cool-down);
* sends the request with a per-attempt timeout, never beyond the caller's deadline;
* retries connect errors, timeouts, 5xx and 429 by the one retry policy
  (:data:`bot.services.retry.CRM_CALLS`: exponential backoff with equal jitter),
  honouring ``Retry-After`` (delta-seconds or HTTP date) on 429/503. A ``Retry-After``
  longer than :attr:`RetryPolicy.max_retry_after`, or one that would end past the
  caller's deadline, raises :class:`~bot.services.crm.CrmThrottled` at once with its
  ``retry_after``. Non-idempotent requests (POST, PATCH) are only retried when the CRM
  surely did not act on them (failed connects, 429, 503) unless the caller says otherwise;
* on 401 with a token provider, drops the token and retries once with a fresh one;
* turns every other non-2xx answer into a typed :class:`~bot.services.crm.CrmError`
  through the adapter's :data:`ErrorMapper` hook (falling back to :func:`default_error`).

Clock, sleep and random are injectable so tests run fast and deterministically.
Nothing here logs headers, bodies or query strings: they carry secrets and PII.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import random as _random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot.adapters.crm.credentials import TokenProvider
from bot.i18n import t
from bot.observability import telemetry
from bot.services.crm import (
    CrmAuthError,
    CrmError,
    CrmThrottled,
    CrmUnavailable,
    InvalidRecord,
    NotSupported,
    RecordNotFound,
)
from bot.services.recent import RecentOutcomes
from bot.services.retry import CRM_CALLS, Random, RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ANSWERED = (RecordNotFound, InvalidRecord, NotSupported)
"""Errors that are the CRM's definite answer to the call, not a failure to serve it."""


@dataclass(frozen=True)
class HttpResponse:
    """A CRM's answer: status, headers and the body parsed as JSON when it is JSON."""

    method: str
    url: str
    status: int
    headers: CIMultiDictProxy[str]
    text: str
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


ErrorMapper = Callable[[HttpResponse], CrmError | None]
"""Vendor hook: turn an error answer into a typed error, or None for :func:`default_error`.

It sees every non-2xx answer that is given up on, so it may also map statuses the
default treats otherwise (Salesforce's 403 REQUEST_LIMIT_EXCEEDED -> CrmThrottled).
"""


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
UNSAFE_RETRY_STATUSES = frozenset({429, 503})
"""What may be retried for POST/PATCH: answers where the CRM did not act."""


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; probes after ``reset_timeout``.

    While half-open, one probe call goes through and the others fail fast; the probe's
    success closes the breaker, its failure opens it again for another cool-down.
    """

    failure_threshold: int = 5
    reset_timeout: float = 30.0
    clock: Clock = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _probing: bool = field(default=False, repr=False)

    def allow(self) -> bool:
        """May a call go out now? Moves open -> half-open when the cool-down is over."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self.clock() - self.opened_at < self.reset_timeout:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._probing = False

    def record_failure(self) -> None:
        self.failures += 1
        self._probing = False
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            if self.state is not BreakerState.OPEN:
                log.warning("circuit opened after %d consecutive failures", self.failures)
            self.state = BreakerState.OPEN
            self.opened_at = self.clock()

    def release(self) -> None:
        """The probe was abandoned without an outcome (cancelled): let another one try."""
        self._probing = False


def default_error(crm_name: str, response: HttpResponse) -> CrmError:
    """Typed error for an answer no vendor hook claimed, by status alone."""
    status = response.status
    if status in (401, 403):
        return CrmAuthError(
            t("{crm} refused our credentials (HTTP {status})", crm=crm_name, status=status)
        )
    if status == 404:
        return RecordNotFound(t("{crm} has no such record", crm=crm_name))
    if status == 405 or status == 501:
        return NotSupported(t("{crm} does not support this operation", crm=crm_name))
    if status == 429:
        return CrmThrottled(t("{crm} is busy, try again shortly", crm=crm_name))
    if status >= 500:
        return CrmUnavailable(t("{crm} unavailable, retrying", crm=crm_name))
    if 400 <= status < 500:
        return InvalidRecord(
            t("{crm} refused the request (HTTP {status})", crm=crm_name, status=status)
        )
    return CrmError(
        t("{crm} gave an unexpected answer (HTTP {status})", crm=crm_name, status=status)
    )


class ResilientHttp:
    """The shared caller. One per CRM configuration; cheap, owns no connections.

    ``name`` is the CRM's display name, used in every error message an agent may read.
    ``auth`` (optional) supplies the ``Authorization`` (or API-key) header per attempt.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        name: str,
        auth: TokenProvider | None = None,
        error_mapper: ErrorMapper | None = None,
        policy: RetryPolicy = CRM_CALLS,
        attempt_timeout: float = 10.0,
        total_timeout: float = 30.0,
        breaker: CircuitBreaker | None = None,
        max_concurrency: int = 8,
        default_headers: Mapping[str, str] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rand: Random = _random.random,
        wall_clock: Clock = time.time,
    ) -> None:
        self.session = session
        self.name = name
        self.auth = auth
        self.error_mapper = error_mapper
        self.policy = policy
        self.attempt_timeout = attempt_timeout
        """Seconds one attempt may take (connect + answer)."""
        self._attempt_timeout = aiohttp.ClientTimeout(total=attempt_timeout)
        self.total_timeout = total_timeout
        """Default deadline of a call, all attempts and waits included."""
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self.semaphore = asyncio.Semaphore(max_concurrency)
        self.default_headers = dict(default_headers or {})
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        self.wall_clock = wall_clock
        self.recent = RecentOutcomes()
        """This connection's calls of the last minutes: good, or failed (the admin's
        overview shows the error rate), on the wall clock as every instance counts them.
        A CRM's definite answer (not found, invalid, not supported) is a good outcome:
        the CRM served the call."""

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """An attempt's timeout: the usual full one made once, a shorter last one anew."""
        if self._attempt_timeout.total != seconds:
            return aiohttp.ClientTimeout(total=seconds)
        return self._attempt_timeout

    def unavailable(self) -> CrmUnavailable:
        return CrmUnavailable(t("{crm} unavailable, retrying", crm=self.name))

    def map_error(self, response: HttpResponse) -> CrmError:
        mapped = self.error_mapper(response) if self.error_mapper else None
        return mapped or default_error(self.name, response)

    async def get(self, url: str | URL, **kwargs: Any) -> HttpResponse:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str | URL, **kwargs: Any) -> HttpResponse:
        return await self.request("POST", url, **kwargs)

    async def patch(self, url: str | URL, **kwargs: Any) -> HttpResponse:
        return await self.request("PATCH", url, **kwargs)

    async def request(self, method: str, url: str | URL, **options: Any) -> HttpResponse:
        """Send one logical request; return its 2xx answer or raise a typed CrmError.

        Traced and timed as one CRM call (:mod:`bot.observability.telemetry`), retries
        and waits included; see :meth:`_request` for the options.
        """
        with telemetry.crm_call(self.name, method.upper()):
            try:
                response = await self._request(method, url, **options)
            except ANSWERED:
                self.recent.record(self.wall_clock(), True)
                raise
            except Exception:
                self.recent.record(self.wall_clock(), False)
                raise
            self.recent.record(self.wall_clock(), True)
            return response

    async def _request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
        idempotent: bool | None = None,
        authenticate: bool = True,
        raise_for_status: bool = True,
    ) -> HttpResponse:
        """One logical request, retried under the policy.

        ``deadline`` is an absolute time on this caller's clock (default: now +
        ``total_timeout``). ``idempotent`` overrides the method's default for
        retry purposes. With ``raise_for_status=False`` non-2xx answers that are not
        retried are returned instead of raised.
        """
        method = method.upper()
        policy = self.policy
        if deadline is None:
            deadline = self.clock() + self.total_timeout
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        retryable = RETRY_STATUSES if idempotent else UNSAFE_RETRY_STATUSES
        reauthenticated = False
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise self.unavailable()
            remaining = deadline - self.clock()
            if remaining <= 0:
                self.breaker.release()
                raise CrmUnavailable(t("{crm} did not answer in time", crm=self.name))
            token_value: str | None = None
            send_headers = CIMultiDict(self.default_headers)
            if headers:
                send_headers.update(headers)
            try:
                if self.auth is not None and authenticate:
                    token = await self.auth.token()
                    token_value = token.value
                    send_headers.update(token.headers())
                response = await self._send(
                    method,
                    url,
                    params,
                    json_body,
                    form,
                    send_headers,
                    min(self.attempt_timeout, remaining),
                )
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                self.breaker.record_failure()
                log.info(
                    "%s %s %s: attempt %d failed: %s",
                    self.name,
                    method,
                    _safe_url(url),
                    attempt + 1,
                    type(exc).__name__,
                )
                failure: CrmError = CrmUnavailable(t("{crm} unavailable, retrying", crm=self.name))
                attempt += 1
                wait = policy.backoff(attempt, self.rand)
                # A timeout or dropped connection may come after the CRM acted on the
                # request: only idempotent ones are resent; others only if never connected.
                safe = idempotent or isinstance(exc, aiohttp.ClientConnectorError)
                if not safe or policy.exhausted(attempt) or self.clock() + wait >= deadline:
                    raise failure from exc
                await self.sleep(wait)
                continue
            except BaseException:
                self.breaker.release()
                raise

            if response.status >= 500:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s %s -> %d", self.name, method, _safe_url(url), response.status)

            if response.ok:
                return response
            if (
                response.status == 401
                and self.auth is not None
                and authenticate
                and not reauthenticated
            ):
                reauthenticated = True
                if token_value is not None:
                    await self.auth.invalidate(token_value)
                continue
            if response.status in retryable:
                retry_after = None
                if response.status in (429, 503):
                    retry_after = parse_retry_after(
                        response.headers.get("Retry-After"), self.wall_clock()
                    )
                attempt += 1
                if retry_after is not None:
                    wait = policy.delay(attempt, retry_after, self.rand)
                    if (
                        not policy.honours(retry_after)
                        or self.clock() + wait > deadline
                        or policy.exhausted(attempt)
                    ):
                        raise CrmThrottled(
                            t(
                                "{crm} is busy, try again in {seconds} s",
                                crm=self.name,
                                seconds=round(retry_after),
                            ),
                            retry_after=retry_after,
                        )
                    await self.sleep(wait)
                    continue
                wait = policy.backoff(attempt, self.rand)
                if not policy.exhausted(attempt) and self.clock() + wait < deadline:
                    await self.sleep(wait)
                    continue
            if not raise_for_status:
                return response
            raise self.map_error(response)

    async def _send(
        self,
        method: str,
        url: str | URL,
        params: Mapping[str, str] | None,
        json_body: Any,
        form: Mapping[str, str] | None,
        headers: CIMultiDict[str],
        timeout: float,
    ) -> HttpResponse:
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if json_body is not None:
            kwargs["data"] = _json_bytes(json_body)
            headers.setdefault("Content-Type", "application/json")
        elif form is not None:
            kwargs["data"] = dict(form)
        headers.setdefault("Accept", "application/json")
        async with (
            self.semaphore,
            self.session.request(method, url, timeout=self._timeout(timeout), **kwargs) as resp,
        ):
            text = await resp.text(errors="replace")  # broken UTF-8 is the caller's to judge
            return HttpResponse(
                method=method,
                url=str(resp.url),
                status=resp.status,
                headers=resp.headers,
                text=text,
                body=_json_value(text) if text else None,
            )


def _json_bytes(value: Any) -> bytes:
    """``value`` as JSON, by orjson (several times faster: one call per CRM per card);
    what orjson refuses (integers beyond 64 bits, non-string keys) by the standard module."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def _json_value(text: str) -> Any:
    """A CRM's answer parsed as JSON, None if it is not; orjson first, the standard module
    for what orjson refuses but Python reads (integers beyond 64 bits, NaN)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text)
        except ValueError:
            return None


def _safe_url(url: str | URL) -> str:
    """The URL without its query string or credentials, for logs."""
    parsed = URL(str(url))
    if not parsed.is_absolute():
        return parsed.path
    return str(parsed.with_query(None).with_user(None).with_password(None).with_fragment(None))
