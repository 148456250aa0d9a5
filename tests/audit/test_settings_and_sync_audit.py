"""Tenant-settings changes and ticket-sync starts are admin actions: each is one entry of
the tenant's audit stream (who, when, through which door, before/after), from the admin
API and from the command line alike."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.storage.local import LocalStore
from bot.cli import main
from bot.cli import tickets as tickets_cli
from bot.cli.main import parser
from bot.services import audit
from bot.services.audit import Actor, AuditQuery, Door
from bot.services.crm_configs import CrmConfigs
from bot.services.secret_box import SecretBox
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.tickets import SYNCS, TICKETING
from tests.tickets.fakes.zendesk_exports import (
    TOKEN,
    served_with_one_solved_ticket,
    zendesk_config,
)

Client = TestClient[Any, Any]
ADMIN = {"X-Admin-Key": "demo-admin-key"}
KEY = base64.b64encode(b"k" * 32).decode()


async def _entries(client: Client, kind: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/admin/audit", params={"kind": kind}, headers=ADMIN)
    assert answer.status == 200
    entries: list[dict[str, Any]] = (await answer.json())["entries"]
    return entries


async def test_tenant_settings_changes_are_audited_from_the_api(bot_client: Client) -> None:
    for region in ("DE", "FR", "FR"):  # the last changes nothing: nothing to audit
        put = await bot_client.put(
            "/api/admin/tenant", json={"defaultRegion": region}, headers=ADMIN
        )
        assert put.status == 200
    first, second = await _entries(bot_client, "tenant")
    assert (first["kind"], first["door"], first["target"]) == (
        "tenant.settings",
        "api",
        "demo-tenant",
    )
    assert first["actor"] and first["at"] <= second["at"]
    assert (first["before"], first["after"]) == (None, {"defaultRegion": "DE"})
    assert (second["before"], second["after"]) == ({"defaultRegion": "DE"}, {"defaultRegion": "FR"})
    refused = await bot_client.put("/api/admin/tenant", json={"defaultRegion": "ZZ"}, headers=ADMIN)
    assert refused.status == 422
    assert len(await _entries(bot_client, "tenant")) == 2  # nothing stored, nothing audited


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRMCARD_SECRET_KEY", KEY)
    monkeypatch.setenv("CRMCARD_CRM_ALLOW_LOCAL_URLS", "true")  # the fakes run on loopback
    monkeypatch.setenv("CRMCARD_DEFAULT_TENANT_ID", "demo-tenant")
    return tmp_path / "data"


async def _stored_entries(data_dir: Path, kind: str) -> list[audit.AuditEntry]:
    store = LocalStore(data_dir / "state.sqlite3")
    try:
        return await audit.query(store, "demo-tenant", AuditQuery(kind=kind))
    finally:
        await store.close()


async def test_tenant_settings_changes_are_audited_from_the_cli(data_dir: Path) -> None:
    argv = ["tenants", "settings", "demo-tenant", "--default-region", "de"]
    assert await asyncio.to_thread(main, argv) == 0
    [entry] = await _stored_entries(data_dir, "tenant.settings")
    assert entry.door is Door.cli and entry.actor.startswith("cli:")
    assert (entry.before, entry.after) == (None, {"defaultRegion": "DE"})


async def test_a_sync_started_by_an_admin_is_audited(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    url = await served_with_one_solved_ticket(aiohttp_server)
    client = await aiohttp_client(
        create_app(settings.model_copy(update={"ticket_sync_minutes": 0}))
    )
    ticketing = client.app[TICKETING]
    await ticketing.configs.create(zendesk_config(url), Actor("test", Door.cli))

    assert (
        await client.post("/api/admin/tickets/sync", json={"crmId": "nope"}, headers=ADMIN)
    ).status == 404
    started = await client.post("/api/admin/tickets/sync", json={"full": True}, headers=ADMIN)
    assert started.status == 202
    await asyncio.gather(*client.app[SYNCS])
    [entry] = await _entries(client, "ticket")  # the refused start is not one
    assert (entry["kind"], entry["door"], entry["target"]) == ("ticket.sync", "api", "zendesk")
    assert entry["details"] == {"crms": ["zendesk"], "full": True} and entry["actor"]
    assert TOKEN not in str(entry)


async def test_a_sync_started_from_the_cli_is_audited(
    data_dir: Path, aiohttp_server: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    url = await served_with_one_solved_ticket(aiohttp_server)
    data_dir.mkdir()
    store = LocalStore(data_dir / "state.sqlite3")
    policy = Settings(_env_file=None).crm_url_policy  # type: ignore[call-arg]
    await CrmConfigs(store, SecretBox.from_setting(KEY), url_policy=policy).create(
        zendesk_config(url), Actor("test", Door.cli)
    )
    await store.close()

    assert await tickets_cli._sync(parser().parse_args(["tickets", "sync", "--crm", "nope"])) == 2
    assert capsys.readouterr().err == "error: no CRM 'nope' with ticketing switched on\n"
    assert await tickets_cli._sync(parser().parse_args(["tickets", "sync"])) == 0
    [entry] = await _stored_entries(data_dir, "ticket.sync")
    assert entry.door is Door.cli and entry.actor.startswith("cli:")
    assert entry.details == {"crms": ["zendesk"], "full": False}
