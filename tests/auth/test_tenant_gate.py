"""The tenant gate over real HTTP: a tenant without admin consent is refused everywhere.

A registered multi-tenant deployment (bot tokens and SSO tokens from the local issuer):
activities, tab calls, the platform webhook, workflow execution and the admin API of an
unconsented tenant get a clear refusal and leave nothing in the store; once the tenant's
consent is recorded the same requests work. The deployment's own tenant needs no
consent, and the gate is off for the demo and single-tenant deployments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from botframework.connector.auth import MicrosoftAppCredentials

from bot.services import tenants
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import card_action, installed, interaction_event, message
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import (
    AGENT_B,
    BOT_APP_ID,
    TENANT_A,
    TENANT_B,
    bearer,
    sso_settings,
    sso_token,
)
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_outbound_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replies need the bot's own Entra token; that leg is not under test here."""

    def token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        return "outbound-token"

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", token)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer
) -> AsyncIterator[Client]:
    yield await aiohttp_client(create_app(sso_settings(tmp_path, issuer)))


def of_tenant(activity: dict[str, Any], tenant: str, agent: str = AGENT_B) -> dict[str, Any]:
    activity["channelData"] = {"tenant": {"id": tenant}}
    activity["conversation"] = {**activity["conversation"], "tenantId": tenant}
    activity["from"] = {**activity["from"], "aadObjectId": agent}
    return activity


def bot_token(issuer: LocalIssuer, url: str) -> dict[str, str]:
    return bearer(issuer.mint(audience=BOT_APP_ID, service_url=url))


async def stored(client: Client) -> list[str]:
    assert client.app is not None
    return [key async for key in client.app[CONTEXT].store.keys("")]


async def consent(client: Client, tenant: str) -> None:
    assert client.app is not None
    await tenants.record_consent(client.app[CONTEXT].store, tenant, at=NOW, by="test admin")


def test_gate_defaults() -> None:
    def gate(**values: Any) -> bool:
        return Settings(_env_file=None, **values).tenant_gate_enabled

    assert gate() is False, "the local demo (no app id) has no gate"
    assert gate(app_id="x", app_type="MultiTenant") is True
    assert gate(app_id="x", app_type="SingleTenant") is False
    assert gate(app_id="x", app_type="SingleTenant", tenant_gate=True) is True
    assert gate(app_id="x", app_type="MultiTenant", tenant_gate=False) is False


async def test_activities_of_an_unconsented_tenant_are_refused_and_store_nothing(
    client: Client, issuer: LocalIssuer, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    invoke = of_tenant(card_action(url, "demoCall", {"from": "+1 555 0100"}), TENANT_B)
    response = await client.post("/api/messages", json=invoke, headers=bot_token(issuer, url))
    assert response.status == 200
    body = await response.json()
    assert body["type"] == "application/vnd.microsoft.error"
    assert body["statusCode"] == 401
    assert "admin consent" in body["value"]["message"]

    chat = of_tenant(message(url, "call +1 555 0100"), TENANT_B)
    response = await client.post("/api/messages", json=chat, headers=bot_token(issuer, url))
    assert response.status in (200, 201)
    [reply] = fake.sent
    assert "admin consent" in reply.activity["text"]

    install = of_tenant(installed(url), TENANT_B)
    response = await client.post("/api/messages", json=install, headers=bot_token(issuer, url))
    assert response.status in (200, 201)
    assert len(fake.sent) == 1, "nothing else was sent"
    assert await stored(client) == []

    await consent(client, TENANT_B)
    response = await client.post("/api/messages", json=invoke, headers=bot_token(issuer, url))
    assert "Simulated call started" in (await response.json())["value"]


async def test_the_deployments_own_tenant_needs_no_consent(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
) -> None:
    _, url = connector
    settings = sso_settings(tmp_path, issuer, app_tenant_id=TENANT_A)
    client: Client = await aiohttp_client(create_app(settings))
    invoke = of_tenant(card_action(url, "demoCall", {"from": "+1 555 0100"}), TENANT_A)
    response = await client.post("/api/messages", json=invoke, headers=bot_token(issuer, url))
    assert "Simulated call started" in (await response.json())["value"]


async def test_tab_calls_of_an_unconsented_tenant_get_401(
    client: Client, issuer: LocalIssuer
) -> None:
    token = sso_token(issuer, tenant=TENANT_B, agent=AGENT_B)
    for method, path in [
        ("GET", "/api/tab/card"),
        ("GET", "/api/tab/events"),
        ("POST", "/api/tab/actions"),
    ]:
        response = await client.request(
            method,
            path,
            json={"verb": "link", "data": {"interactionId": "call-1", "rev": 0}},
            headers=bearer(token),
        )
        assert response.status == 401, path
        assert "admin consent" in (await response.json())["detail"]
    assert await stored(client) == []
    await consent(client, TENANT_B)
    response = await client.get("/api/tab/card", headers=bearer(token))
    assert response.status == 200
    assert (await response.json())["tenantId"] == TENANT_B


async def test_webhook_workflows_and_admin_api_of_an_unconsented_tenant_get_401(
    client: Client,
) -> None:
    event = interaction_event("call-1", "assigned")
    calls: list[tuple[str, str, dict[str, str], Any]] = [
        ("POST", "/api/interactions", {"X-Api-Key": "key-b"}, event),
        ("POST", "/api/workflows/wf-1/execute", {"X-Api-Key": "key-b"}, {}),
        ("GET", "/api/admin/crms", {"X-Admin-Key": "admin-b"}, None),
        ("POST", "/api/admin/crms", {"X-Admin-Key": "admin-b"}, {"kind": "demo"}),
    ]
    for method, path, headers, body in calls:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status == 401, path
        assert "admin consent" in (await response.json())["detail"], path
    assert await stored(client) == []

    await consent(client, TENANT_B)
    response = await client.post("/api/interactions", json=event, headers={"X-Api-Key": "key-b"})
    assert response.status == 202
    response = await client.get("/api/admin/crms", headers={"X-Admin-Key": "admin-b"})
    assert response.status == 200


async def test_unknown_keys_are_still_refused_by_the_route_itself(client: Client) -> None:
    response = await client.post(
        "/api/interactions", json={}, headers={"X-Api-Key": "nobody's key"}
    )
    assert response.status == 401
    assert "X-Api-Key" in (await response.json())["detail"]


async def test_with_the_gate_off_every_tenant_is_served(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer
) -> None:
    settings = sso_settings(tmp_path, issuer, tenant_gate=False)
    client: Client = await aiohttp_client(create_app(settings))
    event = interaction_event("call-1", "assigned")
    response = await client.post("/api/interactions", json=event, headers={"X-Api-Key": "key-b"})
    assert response.status == 202
    token = sso_token(issuer, tenant=TENANT_B, agent=AGENT_B)
    assert (await client.get("/api/tab/card", headers=bearer(token))).status == 200


async def test_check_tenant_and_is_served_give_the_same_verdict(client: Client) -> None:
    """The gate's two phrasings agree: served, never consented, revoked (with its message)."""
    assert client.app is not None
    store = client.app[CONTEXT].store
    gated = Settings(_env_file=None, app_id="app", tenant_gate=True)  # type: ignore[call-arg]

    assert not await tenants.is_served(store, gated, TENANT_B)
    with pytest.raises(tenants.TenantNotConsented) as never:
        await tenants.check_tenant(store, gated, TENANT_B)
    assert "revoked" not in str(never.value)

    await consent(client, TENANT_B)
    assert await tenants.is_served(store, gated, TENANT_B)
    await tenants.check_tenant(store, gated, TENANT_B)

    await tenants.revoke(store, TENANT_B, at=NOW, by="test admin")
    assert not await tenants.is_served(store, gated, TENANT_B)
    with pytest.raises(tenants.TenantNotConsented) as revoked:
        await tenants.check_tenant(store, gated, TENANT_B)
    assert "admin consent was revoked" in str(revoked.value)
