from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.observability.logs import AZURE_LOGGERS
from bot.settings import Settings
from bot.web.app import create_app
from tests.auth.openid_issuer import LocalIssuer
from tests.azurite import Azurite, start_azurite
from tests.connector import FakeConnector
from tests.postgres import Postgres, start_postgres

RECORD_SWITCHES = (
    "logThreads",
    "logProcesses",
    "logMultiprocessing",
    "logAsyncioTasks",
    "_srcfile",
)
"""The :mod:`logging` globals :func:`bot.observability.logs.configure` turns off so that a
record does not look up its thread, process, task or source line (``logAsyncioTasks`` only
exists from Python 3.12)."""


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """Puts the root logger's handlers and level, the Azure SDK loggers' levels and the
    record switches back as they were before the test.

    A command run in a test calls :func:`bot.observability.logs.configure`: it replaces
    the root logger's handlers (pytest's own among them) with one writing to the
    ``sys.stderr`` of that moment, pytest's capture, which ``capsys`` closes when its test
    ends. Left there, every later test's lines went to that closed stream ("--- Logging
    error --- ... I/O operation on closed file"); ``tests/test_logging_isolation.py`` proves
    it no longer can.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    azure_levels = {name: logging.getLogger(name).level for name in AZURE_LOGGERS}
    switches = {name: getattr(logging, name) for name in RECORD_SWITCHES if hasattr(logging, name)}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, azure_level in azure_levels.items():
            logging.getLogger(name).setLevel(azure_level)
        for name, value in switches.items():
            setattr(logging, name, value)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        api_keys={"demo-tenant": "demo-key", "other-tenant": "other-key"},
        crm_allow_local_urls=True,  # the operator's allowance: the CRM fakes run on loopback
    )


@pytest.fixture
async def connector(aiohttp_server: Callable[..., Any]) -> AsyncIterator[tuple[FakeConnector, str]]:
    fake = FakeConnector()
    server: TestServer = await aiohttp_server(fake.app())
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def bot_client(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return client


@pytest.fixture(scope="session")
def azurite_blob(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A private in-memory Azurite blob service for the whole test session."""
    azurite = start_azurite("blob", workdir=tmp_path_factory.mktemp("azurite-blob"))
    try:
        yield azurite
    finally:
        azurite.stop()


@pytest.fixture(scope="session")
def azurite_connection_string(azurite_blob: Azurite) -> str:
    return azurite_blob.connection_string


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A private PostgreSQL server for the whole test session, stopped afterwards."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    """A local OpenID issuer (Bot Framework and Entra tokens) for one test.

    The SDK caches signing keys per metadata URL for the whole process; a port reused by a
    later test must not find this issuer's keys, so the cache is cleared on both sides.
    """
    from botframework.connector.auth import JwtTokenExtractor

    JwtTokenExtractor.metadataCache.clear()
    local = LocalIssuer().start()
    yield local
    local.stop()
    JwtTokenExtractor.metadataCache.clear()
