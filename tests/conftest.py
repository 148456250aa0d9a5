from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.settings import Settings
from bot.web.app import create_app
from tests.auth.openid_issuer import LocalIssuer
from tests.azurite import Azurite, start_azurite
from tests.connector import FakeConnector
from tests.postgres import Postgres, start_postgres


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
