"""The live app driven from its own OpenAPI document (schemathesis): no 5xx, and every answer
keeps to the document (its status is declared, its media type and body match).

The server runs on a loopback port in a thread of its own (schemathesis calls it over real
HTTP); every operation gets a bounded number of valid and of invalid requests, with valid
credentials for the protected ones, on two deployments: the demo's (demo keys, demo CRM;
with an SSO app id, so that the consent page has something to consent to) and a
multi-tenant one signed in with Entra (a consented tenant's admin token from a local
issuer, a bootstrap platform key). Examples are derandomized, so a run is repeatable.
Nothing leaves the machine: while the run lasts, every connection and name lookup to
anything but loopback is refused (generated CRM URLs name public hosts).

Left out: ``POST /api/messages`` (an activity makes the bot reply to its ``serviceUrl``;
``tests/web/test_fuzz.py`` covers it with a loopback one) and ``GET /api/tab/events`` (an
endless event stream; ``tests/tab`` covers it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from botframework.connector.auth import JwtTokenExtractor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.services import tenants
from bot.settings import Settings
from bot.web.admin_auth import ADMIN_APP_ROLE
from bot.web.api_docs import document
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from bot.web.tab import DEV_AGENT_ID
from tests.activities import interaction_event
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import AGENT_A, TENANT_A, bearer, sso_settings, sso_token

DEMO_CREDENTIALS = {"X-Api-Key": "demo-key", "X-Admin-Key": "demo-admin-key"}
CALL = "call-1"
SSO_APP = "00000000-0000-0000-0000-00000000c0de"
LEFT_OUT = {("POST", "/api/messages"), ("GET", "/api/tab/events")}
EXAMPLES = 8
"""Per operation, valid and invalid requests together (the demo deployment)."""
FEW_SIGNED_IN = 3
"""The same, signed in with Entra (the multi-tenant deployment)."""
TIME_BUDGET_SECONDS = 20.0
"""Past this, each remaining operation gets only a couple of requests (a loaded machine)."""
FEW = 2
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _loopback(host: object) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def loopback_only() -> Iterator[None]:
    """Refuse every connection and lookup that would leave the machine."""
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def guarded(method: Any) -> Any:
        def call(self: socket.socket, address: Any) -> Any:
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
                raise ConnectionRefusedError(f"the test refuses to connect to {address[0]}")
            return method(self, address)

        return call

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if not _loopback(name):
            raise socket.gaierror(socket.EAI_NONAME, f"the test resolves no {name}")
        return getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded(connect))
        patch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
        patch.setattr(socket, "getaddrinfo", lookup)
        yield


Prepare = Callable[[web.Application], Awaitable[None]]


async def _nothing(app: web.Application) -> None:
    return None


@contextlib.contextmanager
def serving(settings: Settings, prepare: Prepare = _nothing) -> Iterator[str]:
    """``settings``' app on a loopback port, served by its own event loop and thread;
    ``prepare`` runs on that loop before the port opens."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="driven app", daemon=True)
    thread.start()

    async def start() -> tuple[web.AppRunner, int]:
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await prepare(app)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, runner.addresses[0][1]

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def start_interaction(url: str, credentials: dict[str, str], agent: str) -> None:
    """A connected call on ``agent``, so that the tab's answers carry a real card."""
    for second, event in enumerate(("assigned", "connected")):
        payload = interaction_event(
            CALL, event, agent=agent, occurred_at=f"2026-11-23T08:00:0{second}Z"
        )
        answer = requests.post(
            f"{url}/api/interactions", json=payload, headers=credentials, timeout=10
        )
        assert answer.status_code == 202, answer.text


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory, loopback_only: None) -> Iterator[str]:
    """The demo deployment (demo keys, demo CRM, no sign-in on the tab)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("openapi-demo"),
        writeback_worker=False,
        sso_client_id=SSO_APP,  # the consent page has an app to consent to
    )
    with serving(settings) as url:
        start_interaction(url, DEMO_CREDENTIALS, DEV_AGENT_ID)
        assert requests.get(f"{url}/api/tab/card", timeout=10).json()["card"] is not None
        yield url


@pytest.fixture(scope="module")
def production(
    tmp_path_factory: pytest.TempPathFactory, loopback_only: None
) -> Iterator[tuple[str, dict[str, str]]]:
    """A multi-tenant deployment (app id, consent gate, Entra sign-in against a local
    issuer, bootstrap keys) and a consented tenant's admin credentials: an Entra token
    with the crmcard.Admin role (also an agent's token for the tab) and a platform key."""
    JwtTokenExtractor.metadataCache.clear()
    issuer = LocalIssuer().start()
    settings = sso_settings(
        tmp_path_factory.mktemp("openapi-production"), issuer, writeback_worker=False
    )
    token = sso_token(issuer, preferred_username="ada@contoso.example", roles=[ADMIN_APP_ROLE])
    credentials = {**bearer(token), "X-Api-Key": "key-a"}

    async def consented(app: web.Application) -> None:
        await tenants.record_consent(app[CONTEXT].store, TENANT_A, at=datetime.now(UTC), by="test")

    try:
        with serving(settings, consented) as url:
            start_interaction(url, credentials, AGENT_A)
            me = requests.get(f"{url}/api/admin/me", headers=credentials, timeout=10)
            assert (me.status_code, me.json()["via"]) == (200, "entra"), me.text
            yield url, credentials
    finally:
        issuer.stop()
        JwtTokenExtractor.metadataCache.clear()


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_dict(document())
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in LEFT_OUT:
            found.append(operation)
    return found


def _drive(
    operation: Any,
    url: str,
    credentials: dict[str, str],
    sent: dict[str, list[int]],
    examples: int,
) -> None:
    """Bounded valid and invalid requests to one operation; raises on the first failure."""
    label = f"{operation.method.upper()} {operation.path}"
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def drive(case: Any) -> None:
        response = case.call(base_url=url, headers=credentials, timeout=10)
        sent.setdefault(label, []).append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=credentials)

    drive()


def drive_all(url: str, credentials: dict[str, str], examples: int) -> None:
    """Every operation, ``examples`` requests each (fewer past the time budget): no
    failure of any operation, and every operation answered at least once."""
    operations = _operations()
    assert len(operations) >= 50
    failures: dict[str, str] = {}
    sent: dict[str, list[int]] = {}
    started = time.monotonic()
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        late = time.monotonic() - started > TIME_BUDGET_SECONDS
        try:
            _drive(operation, url, credentials, sent, FEW if late else examples)
        except (Exception, BaseExceptionGroup) as error:  # each operation's, all operations
            failures[label] = f"{type(error).__name__}: {str(error)[:1500]}"
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert all(sent.get(f"{o.method.upper()} {o.path}") for o in operations), sent
    answered = [label for label, statuses in sent.items() if any(s < 300 for s in statuses)]
    assert len(answered) >= len(operations) // 2, sent  # the credentials are taken


def test_the_demo_keeps_to_its_document(demo_url: str) -> None:
    drive_all(demo_url, DEMO_CREDENTIALS, EXAMPLES)


def test_a_multi_tenant_deployment_keeps_to_its_document(
    production: tuple[str, dict[str, str]],
) -> None:
    """Signed in with Entra: the admin API, the tab and ticket search take the token."""
    url, credentials = production
    drive_all(url, credentials, FEW_SIGNED_IN)
