"""Platform keys issued by the tenant's admins: shown once, stored as a digest, used by
the platform's webhook, lookup and workflows, rotated with overlap, revoked at once on
every instance sharing the store, expired on time; the CLI against the store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.cli import main
from bot.services import audit
from bot.services.audit import AuditQuery
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import interaction_event

Client = TestClient[Any, Any]
ADMIN = {"X-Admin-Key": "demo-admin-key"}
TENANT = "demo-tenant"


@pytest.fixture
async def two(settings: Settings) -> AsyncIterator[tuple[Client, Client]]:
    """Two instances of crmcard on one store (the embedded SQLite file)."""
    clients = [TestClient(TestServer(create_app(settings))) for _ in range(2)]
    for client in clients:
        await client.start_server()
    try:
        yield clients[0], clients[1]
    finally:
        for client in clients:
            await client.close()


async def _create(client: Client, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/admin/keys", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def _webhook(client: Client, key: str, n: int = 0) -> int:
    event = interaction_event(f"key-call-{key[-6:]}-{n}", "assigned")
    response = await client.post("/api/interactions", json=event, headers={"X-Api-Key": key})
    return response.status


async def _store_text(client: Client) -> str:
    assert client.app is not None
    store = client.app[CONTEXT].store
    return "".join([(await store.read(k)).data.decode() async for k in store.keys("")])  # type: ignore[union-attr]


async def test_key_lifecycle_across_two_instances(two: tuple[Client, Client]) -> None:
    one, other = two
    first = await _create(one, name="ACD production")
    assert first["key"].startswith("crmcard_") and first["createdBy"].startswith("admin-key:")
    assert first["lastUsedAt"] is None and first["expiresAt"] is None

    # Issued on one instance, accepted by the other, for the webhook, lookup and workflows.
    assert await _webhook(other, first["key"]) == 202
    lookup = await other.post(
        "/api/lookup", json={"phone": "+1 555 0100"}, headers={"X-Api-Key": first["key"]}
    )
    assert lookup.status == 200, await lookup.text()

    # Rotation: a second key works beside the first until the first is revoked.
    second = await _create(other, name="ACD production (next)")
    assert await _webhook(one, second["key"]) == 202
    assert await _webhook(one, first["key"], 1) == 202
    revoked = await other.delete(f"/api/admin/keys/{first['id']}", headers=ADMIN)
    assert revoked.status == 204
    assert await _webhook(one, first["key"], 2) == 401  # at once, on the other instance
    assert await _webhook(one, second["key"], 1) == 202

    listed = (await (await one.get("/api/admin/keys", headers=ADMIN)).json())["keys"]
    assert [(k["name"], k["revokedAt"] is not None) for k in listed] == [
        ("ACD production", True),
        ("ACD production (next)", False),
    ]
    assert listed[0]["lastUsedAt"] is not None
    assert all("key" not in k and "digest" not in k for k in listed)
    text = await _store_text(one)
    assert first["key"] not in text and second["key"] not in text  # only digests are kept

    assert one.app is not None
    entries = await audit.query(one.app[CONTEXT].store, TENANT, AuditQuery(kind="key"))
    assert [(e.kind, e.target) for e in entries] == [
        ("key.create", first["id"]),
        ("key.create", second["id"]),
        ("key.revoke", first["id"]),
    ]
    again = await other.delete(f"/api/admin/keys/{first['id']}", headers=ADMIN)
    assert again.status == 204  # idempotent, and not audited twice
    assert len(await audit.query(one.app[CONTEXT].store, TENANT, AuditQuery(kind="key"))) == 3


async def test_an_expired_key_is_refused(bot_client: Client) -> None:
    assert bot_client.app is not None
    ctx = bot_client.app[CONTEXT]
    soon = (ctx.clock() + timedelta(hours=1)).isoformat()
    created = await _create(bot_client, name="trial", expiresAt=soon)
    assert await _webhook(bot_client, created["key"]) == 202
    later = ctx.clock() + timedelta(hours=2)
    ctx.clock = lambda: later
    assert await _webhook(bot_client, created["key"], 1) == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x", "expiresAt": "2001-01-01T00:00:00Z"},
        {"name": "x", "expiresAt": "2999-01-01T00:00:00"},
        {"name": "x", "owner": "someone"},
    ],
)
async def test_bad_key_requests_are_422_and_store_nothing(
    bot_client: Client, body: dict[str, Any]
) -> None:
    response = await bot_client.post("/api/admin/keys", json=body, headers=ADMIN)
    assert response.status == 422, await response.text()
    assert (await (await bot_client.get("/api/admin/keys", headers=ADMIN)).json()) == {"keys": []}


async def test_keys_need_an_admin_and_stay_in_their_tenant(bot_client: Client) -> None:
    assert (await bot_client.get("/api/admin/keys")).status == 401
    platform = {"X-Api-Key": "demo-key"}
    assert (
        await bot_client.post("/api/admin/keys", json={"name": "x"}, headers=platform)
    ).status == 401
    assert (await bot_client.delete("/api/admin/keys/nope", headers=ADMIN)).status == 404
    assert await _webhook(bot_client, "crmcard_made-up") == 401


def test_cli_creates_lists_and_revokes_against_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRMCARD_DEFAULT_TENANT_ID", "t1")
    assert main(["keys", "create", "--name", "IVR", "--expires-days", "30"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["key"].startswith("crmcard_") and created["createdBy"].startswith("cli:")
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert created["id"] in listed and "active" in listed and created["key"] not in listed
    assert main(["keys", "revoke", created["id"]]) == 0
    assert json.loads(capsys.readouterr().out)["revokedAt"] is not None
    assert main(["keys", "revoke", "nope"]) == 2
    assert "no key 'nope'" in capsys.readouterr().err
