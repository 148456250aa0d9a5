"""Safe defaults: the published demo keys, the demo CRM and the demo chat commands exist
only in demo mode; with an app id no built-in key works, and whatever demo-like an
operator turns on explicitly is logged loudly at start."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from bot.settings import Settings
from bot.web.app import create_app
from tests.activities import interaction_event

APP_ID = "6f1f4e52-6a3c-4d0c-9c55-0a1b2c3d4e5f"


def production(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        app_id=APP_ID,
        app_password="s",
        app_type="MultiTenant",
        **values,
    )


async def test_with_an_app_id_no_built_in_key_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = production(tmp_path)
    assert settings.api_keys == {} and settings.admin_keys == {}
    assert not settings.demo_mode and not settings.uses_demo_crm
    assert not settings.accepts_demo_commands
    caplog.set_level(logging.WARNING)
    async with TestClient(TestServer(create_app(settings))) as client:
        event = interaction_event("call-1", "assigned")
        webhook = await client.post(
            "/api/interactions", json=event, headers={"X-Api-Key": "demo-key"}
        )
        assert webhook.status == 401
        lookup = await client.post(
            "/api/lookup", json={"phone": "+15550100"}, headers={"X-Api-Key": "demo-key"}
        )
        assert lookup.status == 401
        admin = await client.get("/api/admin/crms", headers={"X-Admin-Key": "demo-admin-key"})
        assert admin.status == 401
    assert "DEMO" not in caplog.text  # nothing demo-like is on, so nothing to warn about


@pytest.mark.parametrize(
    "keys", [{"api_keys": {"t1": "demo-key"}}, {"admin_keys": {"t1": "demo-admin-key"}}]
)
def test_a_published_demo_key_refuses_to_start_outside_demo_mode(
    tmp_path: Path, keys: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="published demo key"):
        production(tmp_path, **keys)


def test_demo_settings_turned_on_explicitly_are_logged_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    create_app(production(tmp_path, demo_crm=True, demo_commands=True))
    loud = [r.getMessage() for r in caplog.records if "DEMO SETTING IN PRODUCTION" in r.message]
    assert len(loud) == 2
    assert any("CRMCARD_DEMO_CRM" in m for m in loud)
    assert any("CRMCARD_DEMO_COMMANDS" in m for m in loud)


async def test_demo_mode_is_the_default_without_an_app_id_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")
    assert settings.demo_mode and settings.uses_demo_crm and settings.accepts_demo_commands
    caplog.set_level(logging.WARNING)
    async with TestClient(TestServer(create_app(settings))) as client:
        event = interaction_event("call-1", "assigned")
        webhook = await client.post(
            "/api/interactions", json=event, headers={"X-Api-Key": "demo-key"}
        )
        assert webhook.status == 202
    assert "DEMO MODE" in caplog.text and "demo-admin-key" in caplog.text


def test_explicit_demo_mode_with_an_app_id_keeps_the_demo_keys_and_warns(tmp_path: Path) -> None:
    settings = production(tmp_path, demo=True)
    assert settings.api_keys["demo-tenant"].get_secret_value() == "demo-key"
    assert "CRMCARD_DEMO is on: the published demo keys work" in settings.demo_warnings()
