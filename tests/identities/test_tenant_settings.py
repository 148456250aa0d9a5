"""The tenant settings document: admin API, CLI and the deployment's default."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import tenants as tenants_cli
from bot.cli.access import with_store
from bot.composition import open_store
from bot.services import tenant_settings
from bot.settings import Settings

Client = TestClient[Any, Any]
ADMIN = {"X-Admin-Key": "demo-admin-key"}


async def test_a_tenant_that_never_chose_gets_the_deployment_default(bot_client: Client) -> None:
    response = await bot_client.get("/api/admin/tenant", headers=ADMIN)
    assert response.status == 200
    assert await response.json() == {
        "tenantId": "demo-tenant",
        "defaultRegion": "US",
        "defaultRegionSource": "deployment",
    }


async def test_admin_sets_the_default_region(bot_client: Client) -> None:
    put = await bot_client.put("/api/admin/tenant", json={"defaultRegion": "de"}, headers=ADMIN)
    assert put.status == 200
    got = await (await bot_client.get("/api/admin/tenant", headers=ADMIN)).json()
    assert (got["defaultRegion"], got["defaultRegionSource"]) == ("DE", "tenant")


@pytest.mark.parametrize("body", [{"defaultRegion": "XX"}, {"defaultRegion": "DE", "extra": 1}, {}])
async def test_invalid_settings_are_refused_and_nothing_stored(
    bot_client: Client, body: dict[str, Any]
) -> None:
    response = await bot_client.put("/api/admin/tenant", json=body, headers=ADMIN)
    assert response.status == 422
    assert (await response.json())["errors"]
    got = await (await bot_client.get("/api/admin/tenant", headers=ADMIN)).json()
    assert got["defaultRegionSource"] == "deployment"


async def test_the_admin_key_decides_the_tenant(bot_client: Client) -> None:
    response = await bot_client.get("/api/admin/tenant")
    assert response.status == 401


def test_an_invalid_deployment_default_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a region"):
        Settings(_env_file=None, data_dir=tmp_path, default_region="Germany")  # type: ignore[call-arg]


async def test_cli_shows_and_sets_the_region(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(tenants_command="settings", tenant="t1", default_region="fr")
    assert await with_store(tenants_cli.run_on_store, args, settings) == 0
    assert '"defaultRegion": "FR"' in capsys.readouterr().out
    store = open_store(settings)
    try:
        assert await tenant_settings.default_region(store, "t1", "US") == "FR"
        assert await tenant_settings.default_region(store, "t2", "GB") == "GB"
    finally:
        await store.close()
