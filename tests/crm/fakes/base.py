"""Shared plumbing of the vendor CRM contract fakes, served by aiohttp for adapter tests.

Each module reproduces one vendor's public API closely enough to exercise an adapter:
authentication, search and paging, get, related records, create, the vendor's own
error bodies and rate-limit headers.  Every fake shares the fault-injection knobs of
:class:`Faults` (latency, random errors, 429 bursts, scripted failures, token expiry)
and records every request it receives in :attr:`FakeCrm.requests`.

Usage with pytest-aiohttp::

    fake = ZendeskFake()
    server = await aiohttp_server(fake.app)
    base_url = str(server.make_url(""))
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    """Knobs a test turns to make a fake misbehave.

    * ``latency``: seconds every request waits before it is answered;
    * ``error_rate`` / ``error_status``: that fraction of requests (seeded, repeatable)
      fail with ``error_status``;
    * ``throttle_next`` / ``retry_after``: the next N requests get a 429 with a
      ``Retry-After`` of ``retry_after`` seconds (a "burst");
    * ``fail_next``: statuses the next requests get, in order (e.g. ``[500, 502]``);
    * ``token_ttl``: lifetime in seconds of OAuth tokens the fake issues.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    throttle_next: int = 0
    retry_after: float = 2.0
    fail_next: list[int] = field(default_factory=list)
    token_ttl: float = 3600.0
    seed: int = 1234
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """The (user, password) of an ``Authorization: Basic`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class TokenIssuer:
    """OAuth access tokens a fake hands out, with lifetimes a test can cut short."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._tokens: dict[str, float] = {}
        self.issued = 0

    def issue(self) -> tuple[str, int]:
        token = "tok_" + secrets.token_hex(12)
        self._tokens[token] = time.monotonic() + self._faults.token_ttl
        self.issued += 1
        return token, int(self._faults.token_ttl)

    def valid(self, token: str | None) -> bool:
        if token is None:
            return False
        expiry = self._tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def expire_all(self) -> None:
        """Token expiry knob: every token issued so far stops working now."""
        for token in self._tokens:
            self._tokens[token] = 0.0


class FakeCrm:
    """Shared plumbing: request log, fault injection, rate-limit counters.

    Subclasses add routes in :meth:`routes` and say how the vendor authenticates
    (:meth:`authenticate`), how its errors look (:meth:`error`) and which
    rate-limit headers it sends (:meth:`rate_limit_headers`).
    """

    #: paths answered without authentication (token endpoints...)
    public_paths: frozenset[str] = frozenset()
    rate_limit: int = 700

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.tokens = TokenIssuer(self.faults)
        self.requests: list[RecordedRequest] = []
        self.used = 0
        self.app = web.Application(middlewares=[self._middleware])
        self.routes(self.app.router)

    # -- to override -------------------------------------------------------------------

    def routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def authenticate(self, request: web.Request) -> bool:
        raise NotImplementedError

    def error(self, status: int, message: str, *, code: str | None = None) -> web.Response:
        raise NotImplementedError

    def rate_limit_headers(self) -> dict[str, str]:
        return {}

    def auth_error(self) -> web.Response:
        return self.error(401, "Authentication required", code="unauthorized")

    # -- helpers -----------------------------------------------------------------------

    def json(
        self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        return web.json_response(body, status=status, headers=dict(headers or {}))

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    def throttle(self, count: int, retry_after: float | None = None) -> None:
        """Answer the next ``count`` requests with 429 (a burst)."""
        self.faults.throttle_next = count
        if retry_after is not None:
            self.faults.retry_after = retry_after

    def fail(self, *statuses: int) -> None:
        self.faults.fail_next.extend(statuses)

    def throttled_response(self) -> web.Response:
        response = self.error(429, "Too many requests", code="rate_limited")
        retry_after = self.faults.retry_after
        text = str(int(retry_after)) if retry_after == int(retry_after) else str(retry_after)
        response.headers["Retry-After"] = text
        return response

    # -- middleware --------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        faults = self.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        self.used += 1
        response: web.StreamResponse
        if faults.throttle_next > 0:
            faults.throttle_next -= 1
            response = self.throttled_response()
        elif faults.fail_next:
            status = faults.fail_next.pop(0)
            response = self.error(status, f"Injected failure {status}", code="injected")
        elif faults.error_rate and faults.rng.random() < faults.error_rate:
            response = self.error(faults.error_status, "Injected random failure", code="injected")
        elif request.path not in self.public_paths and not self.authenticate(request):
            response = self.auth_error()
        else:
            try:
                response = await handler(request)
            except web.HTTPNotFound:
                response = self.error(404, f"No route {request.path}", code="not_found")
            except web.HTTPMethodNotAllowed:
                response = self.error(405, "Method not allowed", code="method_not_allowed")
        for name, value in self.rate_limit_headers().items():
            response.headers.setdefault(name, value)
        return response


async def read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
