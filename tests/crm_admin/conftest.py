from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.storage.local import LocalStore
from bot.services.crm_configs import CrmConfigs
from bot.services.crm_url_policy import UrlPolicy
from bot.services.secret_box import SecretBox
from bot.settings import Settings
from bot.web.app import create_app
from tests.crm.fakes.freshdesk import FreshdeskFake

TEST_KEY = SecretBox.new_key()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalStore]:
    store = LocalStore(tmp_path / "state.sqlite3")
    yield store
    await store.close()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_setting(TEST_KEY)


@pytest.fixture
def configs(store: LocalStore, box: SecretBox) -> CrmConfigs:
    return CrmConfigs(store, box, url_policy=UrlPolicy(allow_local=True))  # the local fakes


@pytest.fixture
def admin_settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        secret_key=TEST_KEY,
        demo_crm=False,
        api_keys={"tenant-a": "api-a"},
        admin_keys={"tenant-a": "admin-a", "tenant-b": "admin-b"},
        crm_allow_local_urls=True,  # the operator's allowance: the CRM fakes run on loopback
    )


@pytest.fixture
async def admin(
    aiohttp_client: Callable[..., Any], admin_settings: Settings
) -> TestClient[Any, Any]:
    """crmcard with the admin settings, over HTTP."""
    client: TestClient[Any, Any] = await aiohttp_client(create_app(admin_settings))
    return client


@pytest.fixture
async def freshdesk(aiohttp_server: Callable[..., Any]) -> tuple[FreshdeskFake, str]:
    """A Freshdesk fake and its base URL."""
    fake = FreshdeskFake()
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("")).rstrip("/")
