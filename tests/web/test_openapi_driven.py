"""The live app driven from its own OpenAPI document (schemathesis): no 5xx, and every answer
keeps to the document (its status is declared, its media type and body match).

The server runs on a loopback port in a thread of its own (schemathesis calls it over real
HTTP); every operation gets a bounded number of valid and of invalid requests, with the
demo deployment's credentials for the protected ones. Examples are derandomized, so a run
is repeatable. The deployment is the demo's (demo keys, demo CRM) with an SSO app id, so
that the consent page has something to consent to. Nothing leaves the machine: while the
run lasts, every connection and name lookup to anything but loopback is refused
(generated CRM URLs name public hosts).

Left out: ``POST /api/messages`` (an activity makes the bot reply to its ``serviceUrl``;
``tests/web/test_fuzz.py`` covers it with a loopback one) and ``GET /api/tab/events`` (an
endless event stream; ``tests/tab`` covers it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.settings import Settings
from bot.web.api_docs import document
from bot.web.app import create_app
from bot.web.tab import DEV_AGENT_ID
from tests.activities import interaction_event

CREDENTIALS = {"X-Api-Key": "demo-key", "X-Admin-Key": "demo-admin-key"}
CALL = "call-1"
SSO_APP = "00000000-0000-0000-0000-00000000c0de"
LEFT_OUT = {("POST", "/api/messages"), ("GET", "/api/tab/events")}
EXAMPLES = 12
"""Per operation, valid and invalid requests together."""
TIME_BUDGET_SECONDS = 30.0
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


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory, loopback_only: None) -> Iterator[str]:
    """The demo deployment on a loopback port, served by its own event loop and thread."""
    data: Path = tmp_path_factory.mktemp("openapi-driven")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="driven app", daemon=True)
    thread.start()

    async def start() -> tuple[web.AppRunner, int]:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=data,
            writeback_worker=False,
            sso_client_id=SSO_APP,  # the consent page has an app to consent to
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return runner, port

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    url = f"http://127.0.0.1:{port}"
    for second, event in enumerate(("assigned", "connected")):  # the tab shows a real card
        payload = interaction_event(
            CALL, event, agent=DEV_AGENT_ID, occurred_at=f"2026-11-23T08:00:0{second}Z"
        )
        answer = requests.post(
            f"{url}/api/interactions", json=payload, headers=CREDENTIALS, timeout=10
        )
        assert answer.status_code == 202, answer.text
    assert requests.get(f"{url}/api/tab/card", timeout=10).json()["card"] is not None
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_dict(document())
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in LEFT_OUT:
            found.append(operation)
    return found


def _drive(operation: Any, live_url: str, sent: dict[str, int], examples: int) -> None:
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
        response = case.call(base_url=live_url, headers=CREDENTIALS, timeout=10)
        sent[label] = sent.get(label, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=CREDENTIALS)

    drive()


def test_the_live_app_keeps_to_its_document(live_url: str) -> None:
    operations = _operations()
    assert len(operations) >= 50
    failures: dict[str, str] = {}
    sent: dict[str, int] = {}
    started = time.monotonic()
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        late = time.monotonic() - started > TIME_BUDGET_SECONDS
        try:
            _drive(operation, live_url, sent, FEW if late else EXAMPLES)
        except (Exception, BaseExceptionGroup) as error:  # each operation's, all operations
            failures[label] = f"{type(error).__name__}: {str(error)[:1500]}"
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert all(sent.get(f"{o.method.upper()} {o.path}", 0) >= 1 for o in operations), sent
