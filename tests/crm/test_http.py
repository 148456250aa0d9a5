"""ResilientHttp: retries, Retry-After, deadlines, circuit breaker, concurrency, auth."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.crm.credentials import AccessToken
from bot.adapters.crm.http import (
    BreakerState,
    CircuitBreaker,
    HttpResponse,
    ResilientHttp,
)
from bot.adapters.crm.tokens import StaticSecret
from bot.services.crm import (
    CrmAuthError,
    CrmError,
    CrmThrottled,
    CrmUnavailable,
    InvalidRecord,
    RecordNotFound,
)
from bot.services.retry import RetryPolicy, parse_retry_after
from tests.crm.conftest import ServerFactory, VirtualTime, json_app


class Script:
    """A handler answering a scripted list of (status, headers, body), then 200s."""

    def __init__(self, *answers: tuple[int, dict[str, str], object]) -> None:
        self.answers = list(answers)
        self.calls: list[web.Request] = []
        self.auth: list[str | None] = []

    async def __call__(self, request: web.Request) -> web.Response:
        self.calls.append(request)
        self.auth.append(request.headers.get("Authorization"))
        if self.answers:
            status, headers, body = self.answers.pop(0)
            return web.json_response(body, status=status, headers=headers)
        return web.json_response({"ok": True, "q": request.query.get("q")})


def make_http(
    session: aiohttp.ClientSession, vtime: VirtualTime, **kwargs: object
) -> ResilientHttp:
    policy = kwargs.pop("policy", RetryPolicy(base_delay=1.0, max_delay=8.0))
    return ResilientHttp(
        session,
        name="Acme CRM",
        policy=policy,  # type: ignore[arg-type]
        clock=vtime.clock,
        sleep=vtime.sleep,
        rand=lambda: 0.5,
        wall_clock=lambda: 1_700_000_000.0,
        **kwargs,  # type: ignore[arg-type]
    )


async def serve(aiohttp_server: ServerFactory, handler: object) -> str:
    server = await aiohttp_server(json_app({"/x": handler}))
    return str(server.make_url("/x"))


async def test_get_json_with_params(aiohttp_server, session, vtime):
    script = Script()
    url = await serve(aiohttp_server, script)
    response = await make_http(session, vtime).get(url, params={"q": "a b&c"})
    assert response.status == 200
    assert response.body == {"ok": True, "q": "a b&c"}
    assert vtime.sleeps == []


async def test_5xx_retried_with_exponential_equal_jitter(aiohttp_server, session, vtime):
    script = Script((500, {}, {}), (502, {}, {}), (504, {}, {}))
    url = await serve(aiohttp_server, script)
    response = await make_http(session, vtime).get(url)
    assert response.ok
    assert len(script.calls) == 4
    # half of min(8, 1 * 2**(n-1)), plus rand()=0.5 of the other half
    assert vtime.sleeps == [0.75, 1.5, 3.0]


async def test_gives_up_after_max_attempts(aiohttp_server, session, vtime):
    script = Script(*[(503, {}, {})] * 10)
    url = await serve(aiohttp_server, script)
    with pytest.raises(CrmUnavailable, match="Acme CRM unavailable"):
        await make_http(session, vtime).get(url)
    assert len(script.calls) == 4


async def test_429_retry_after_seconds_is_honoured(aiohttp_server, session, vtime):
    script = Script((429, {"Retry-After": "7"}, {}))
    url = await serve(aiohttp_server, script)
    assert (await make_http(session, vtime).get(url)).ok
    assert vtime.sleeps == [7.5]  # and rand()=0.5 of min(1 s, base_delay) spread


async def test_503_retry_after_http_date_is_honoured(aiohttp_server, session, vtime):
    when = email.utils.formatdate(1_700_000_000.0 + 12, usegmt=True)
    script = Script((503, {"Retry-After": when}, {}))
    url = await serve(aiohttp_server, script)
    assert (await make_http(session, vtime).get(url)).ok
    assert vtime.sleeps == [12.5]


async def test_retry_after_beyond_max_wait_raises_throttled(aiohttp_server, session, vtime):
    script = Script((429, {"Retry-After": "120"}, {}))
    url = await serve(aiohttp_server, script)
    with pytest.raises(CrmThrottled) as caught:
        await make_http(session, vtime).get(url)
    assert caught.value.retry_after == 120.0
    assert vtime.sleeps == []
    assert len(script.calls) == 1


async def test_retry_after_beyond_deadline_raises_throttled(aiohttp_server, session, vtime):
    script = Script((429, {"Retry-After": "10"}, {}))
    url = await serve(aiohttp_server, script)
    with pytest.raises(CrmThrottled) as caught:
        await make_http(session, vtime).get(url, deadline=vtime.now + 5)
    assert caught.value.retry_after == 10.0
    assert vtime.sleeps == []


async def test_post_not_retried_on_500_but_retried_on_503(aiohttp_server, session, vtime):
    script = Script((500, {}, {}))
    url = await serve(aiohttp_server, script)
    http = make_http(session, vtime)
    with pytest.raises(CrmUnavailable):
        await http.post(url, json_body={"a": 1})
    assert len(script.calls) == 1
    script.answers = [(503, {}, {})]
    assert (await http.post(url, json_body={"a": 1})).ok
    assert len(script.calls) == 3


async def test_connect_errors_retried_then_unavailable(session, vtime):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http = make_http(session, vtime)
    with pytest.raises(CrmUnavailable, match="Acme CRM unavailable, retrying"):
        await http.get(f"http://127.0.0.1:{port}/x")
    assert len(vtime.sleeps) == 3


async def test_attempt_timeout(aiohttp_server, session, vtime):
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    url = await serve(aiohttp_server, slow)
    http = make_http(session, vtime, policy=RetryPolicy(max_attempts=2), attempt_timeout=0.1)
    with pytest.raises(CrmUnavailable):
        await http.get(url)
    assert len(vtime.sleeps) == 1
    with pytest.raises(CrmUnavailable):  # a timed-out POST may have been applied: no resend
        await http.post(url, json_body={"create": "case"})
    assert len(vtime.sleeps) == 1


async def test_circuit_opens_fails_fast_and_recovers(aiohttp_server, session, vtime):
    script = Script(*[(500, {}, {})] * 3)
    url = await serve(aiohttp_server, script)
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=30, clock=vtime.clock)
    http = make_http(session, vtime, breaker=breaker, policy=RetryPolicy(max_attempts=1))
    for _ in range(3):
        with pytest.raises(CrmUnavailable):
            await http.get(url)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CrmUnavailable, match=r"^Acme CRM unavailable, retrying$"):
        await http.get(url)
    assert len(script.calls) == 3  # failed fast: nothing sent
    vtime.advance(31)
    assert (await http.get(url)).ok  # the half-open probe succeeds
    assert breaker.state is BreakerState.CLOSED
    assert len(script.calls) == 4


async def test_half_open_probe_failure_reopens(aiohttp_server, session, vtime):
    script = Script(*[(500, {}, {})] * 3)
    url = await serve(aiohttp_server, script)
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10, clock=vtime.clock)
    http = make_http(session, vtime, breaker=breaker, policy=RetryPolicy(max_attempts=1))
    for _ in range(2):
        with pytest.raises(CrmUnavailable):
            await http.get(url)
    vtime.advance(11)
    with pytest.raises(CrmUnavailable):
        await http.get(url)  # probe fails
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CrmUnavailable):
        await http.get(url)  # fast fail again
    assert len(script.calls) == 3


def test_breaker_lets_one_probe_through_when_half_open():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=lambda: now[0])
    breaker.record_failure()
    assert not breaker.allow()
    now[0] = 6
    assert breaker.allow()
    assert not breaker.allow()  # second caller while the probe is out
    breaker.record_success()
    assert breaker.allow()


async def test_concurrency_limit(aiohttp_server, session, vtime):
    in_flight = 0
    peak = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.json_response({})

    url = await serve(aiohttp_server, slow)
    http = make_http(session, vtime, max_concurrency=2)
    await asyncio.gather(*(http.get(url) for _ in range(6)))
    assert peak == 2


async def test_error_mapper_hook_and_default_mapping(aiohttp_server, session, vtime):
    script = Script((400, {}, {"code": "DUP"}), (404, {}, {}), (422, {}, {}))
    url = await serve(aiohttp_server, script)

    def mapper(response: HttpResponse) -> CrmError | None:
        if isinstance(response.body, dict) and response.body.get("code") == "DUP":
            return InvalidRecord("Acme CRM found a duplicate")
        return None

    http = make_http(session, vtime, error_mapper=mapper)
    with pytest.raises(InvalidRecord, match="duplicate"):
        await http.get(url)
    with pytest.raises(RecordNotFound):
        await http.get(url)
    with pytest.raises(InvalidRecord):
        await http.get(url)


class RotatingToken:
    def __init__(self) -> None:
        self.n = 0
        self.invalidated: list[str] = []

    async def token(self) -> AccessToken:
        return AccessToken(value=f"tok-{self.n}")

    async def invalidate(self, value: str) -> None:
        self.invalidated.append(value)
        self.n += 1


async def test_401_reauthenticates_once(aiohttp_server, session, vtime):
    script = Script((401, {}, [{"errorCode": "INVALID_SESSION_ID"}]))
    url = await serve(aiohttp_server, script)
    auth = RotatingToken()
    assert (await make_http(session, vtime, auth=auth).get(url)).ok
    assert script.auth == ["Bearer tok-0", "Bearer tok-1"]
    assert auth.invalidated == ["tok-0"]
    script.answers = [(401, {}, {}), (401, {}, {})]
    with pytest.raises(CrmAuthError):
        await make_http(session, vtime, auth=auth).get(url)


async def test_static_secret_headers(aiohttp_server, session, vtime):
    script = Script()
    url = await serve(aiohttp_server, script)
    await make_http(session, vtime, auth=StaticSecret.basic("u", "p")).get(url)
    assert script.auth == ["Basic dTpw"]
    await make_http(session, vtime, auth=StaticSecret.api_key("k1", header="X-Key")).get(url)
    assert script.calls[-1].headers["X-Key"] == "k1"


async def test_secrets_never_logged(aiohttp_server, session, vtime, caplog):
    caplog.set_level(logging.DEBUG)
    script = Script((500, {}, {}), (401, {}, {}))
    url = await serve(aiohttp_server, script)
    auth = StaticSecret("super-secret-token")
    await make_http(session, vtime, auth=auth).get(url + "?phone=%2B4415550100")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))
    assert ours  # we did log the attempts
    assert "super-secret-token" not in ours
    assert "4415550100" not in ours
    assert "super-secret-token" not in repr(await auth.token())


def test_parse_retry_after():
    assert parse_retry_after("3", 0) == 3.0
    assert parse_retry_after(email.utils.formatdate(110, usegmt=True), 100) == 10.0
    assert parse_retry_after(email.utils.formatdate(50, usegmt=True), 100) == 0.0
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after(None, 0) is None
