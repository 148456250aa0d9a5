"""Tenant admins are Entra users: tokens from the suite's local issuer for crmcard's
multi-tenant SSO app. The app role crmcard.Admin or a Global/Teams Administrator
directory role (wids) administers the token's own tenant; an agent gets 403, another
tenant sees only its own, an unconsented tenant and a forged token are refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import main
from bot.services import audit, tenants
from bot.services.audit import AuditQuery
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import TENANT_A, TENANT_B, bearer, sso_settings, sso_token

Client = TestClient[Any, Any]
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
TEAMS_ADMIN = "69091246-20e8-4a56-aa4d-066075b2a7a8"
TENANT_C = "cccccccc-0000-4000-8000-00000000000c"
ROUTING = {"rules": [{"name": "gold", "when": [], "queue": "vip", "skills": ["en"]}]}


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer().start()
    yield local
    local.stop()


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer
) -> AsyncIterator[Client]:
    app = create_app(sso_settings(tmp_path, issuer))  # multi-tenant: the consent gate is on
    for tenant in (TENANT_A, TENANT_B):
        await tenants.record_consent(app[CONTEXT].store, tenant, at=datetime.now(UTC), by="test")
    yield await aiohttp_client(app)


def admin_token(issuer: LocalIssuer, tenant: str = TENANT_A, **claims: Any) -> dict[str, str]:
    return bearer(
        sso_token(issuer, tenant=tenant, preferred_username="ada@contoso.example", **claims)
    )


@pytest.mark.parametrize(
    ("claims", "roles"),
    [
        ({"roles": ["crmcard.Admin"]}, ["crmcard.Admin"]),
        ({"wids": [GLOBAL_ADMIN]}, ["Global Administrator"]),
        ({"wids": ["b79fbf4d-3ef9-4689-8143-76b194e85509", TEAMS_ADMIN]}, ["Teams Administrator"]),
    ],
)
async def test_app_role_and_directory_role_admins_are_accepted(
    client: Client, issuer: LocalIssuer, claims: dict[str, Any], roles: list[str]
) -> None:
    headers = admin_token(issuer, **claims)
    me = await client.get("/api/admin/me", headers=headers)
    assert me.status == 200, await me.text()
    assert await me.json() == {
        "tenantId": TENANT_A,
        "name": "Avery Agent",
        "actor": "ada@contoso.example",
        "via": "entra",
        "roles": roles,
    }
    put = await client.put("/api/admin/routing", json=ROUTING, headers=headers)
    assert put.status == 200, await put.text()
    assert client.app is not None
    [entry] = await audit.query(client.app[CONTEXT].store, TENANT_A, AuditQuery(kind="routing"))
    assert (entry.actor, entry.door.value) == ("ada@contoso.example", "api")


async def test_an_agent_token_is_403_with_the_way_out(client: Client, issuer: LocalIssuer) -> None:
    for path in ("/api/admin/me", "/api/admin/routing", "/api/admin/keys"):
        response = await client.get(path, headers=admin_token(issuer, roles=["crmcard.Supervisor"]))
        assert response.status == 403, path
        assert response.content_type == "application/problem+json"
        assert "crmcard.Admin" in (await response.json())["detail"]


async def test_each_admin_sees_only_their_own_tenant(client: Client, issuer: LocalIssuer) -> None:
    a, b = (
        admin_token(issuer, roles=["crmcard.Admin"]),
        admin_token(issuer, tenant=TENANT_B, roles=["crmcard.Admin"]),
    )
    assert (await client.put("/api/admin/routing", json=ROUTING, headers=a)).status == 200
    theirs = await (await client.get("/api/admin/routing", headers=b)).json()
    assert theirs["rules"] == []
    seen = (await (await client.get("/api/admin/audit", headers=b)).json())["entries"]
    assert [e["kind"] for e in seen] == ["consent.granted"]  # B's own, none of A's


async def test_an_unconsented_tenant_is_refused(client: Client, issuer: LocalIssuer) -> None:
    response = await client.get(
        "/api/admin/me", headers=admin_token(issuer, tenant=TENANT_C, roles=["crmcard.Admin"])
    )
    assert response.status == 401
    assert "consent" in (await response.json())["detail"]


async def test_forged_and_misdirected_tokens_are_401(client: Client, issuer: LocalIssuer) -> None:
    other_app = sso_token(issuer, audience="api://elsewhere.example/abc", roles=["crmcard.Admin"])
    for headers in (bearer(other_app), bearer("not-a-token"), {"Authorization": "Bearer "}):
        response = await client.get("/api/admin/me", headers=headers)
        assert response.status == 401, headers
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


async def test_the_operator_bootstrap_key_still_administers(client: Client) -> None:
    me = await client.get("/api/admin/me", headers={"X-Admin-Key": "admin-a"})
    assert (await me.json())["via"] == "bootstrapKey"
    assert (await client.get("/api/admin/me", headers={"X-Admin-Key": "admin-x"})).status == 401


async def test_the_cli_administers_over_http_with_an_entra_token(
    client: Client, issuer: LocalIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sso_token(issuer, roles=["crmcard.Admin"])
    base = str(client.make_url("")).rstrip("/")
    argv = ["routing", "get", "--url", base, "--token", token]
    assert await asyncio.to_thread(main, argv) == 0
    assert json.loads(capsys.readouterr().out)["rules"] == []
    agent = sso_token(issuer)
    argv = ["routing", "get", "--url", base, "--token", agent]
    assert await asyncio.to_thread(main, argv) == 1
    assert "\nerror: HTTP 403: " in "\n" + capsys.readouterr().err  # one line, the status first
