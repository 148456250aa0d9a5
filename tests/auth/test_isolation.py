"""Tenant isolation through every route: nothing of tenant A is readable or writable from B.

Tenant A (webhook key, admin key, agent's SSO token) has an interaction with a linked
card, a CRM connection and a workflow. Tenant B then uses every door it has, naming A's
interaction, record, connection and workflow ids, and presenting as agent the *same*
Entra object id as A's agent (an oid is only unique within a tenant). Afterwards A's
documents are byte-for-byte what they were, and no answer to B mentioned A's data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from botframework.connector.auth import MicrosoftAppCredentials

from bot.services import keys, tenants
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import card_action, interaction_event, message
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import AGENT_A, BOT_APP_ID, TENANT_A, TENANT_B, bearer, sso_settings
from tests.auth.sso_tokens import sso_token as mint_sso
from tests.bot.test_customer_card_flow import record_action
from tests.connector import FakeConnector
from tests.tab.test_tab_api import next_card

Client = TestClient[Any, Any]
A_CALL = "a-secret-call"
A_KEY = {"X-Api-Key": "key-a"}
B_KEY = {"X-Api-Key": "key-b"}
A_ADMIN = {"X-Admin-Key": "admin-a"}
B_ADMIN = {"X-Admin-Key": "admin-b"}
A_CRM = {
    "settingsId": "a-secret-crm",
    "kind": "freshdesk",
    "displayName": "A secret Freshdesk",
    "baseUrl": "https://a-secret.freshdesk.com",
    "auth": {"type": "api_key"},
    "secret": "a-secret-api-key",
}
A_WORKFLOW = {
    "type": "create",
    "variant": "standard",
    "recordType": "case",
    "fields": ["subject"],
    "required": ["subject"],
}
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_outbound_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    def token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        return "outbound-token"

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", token)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer
) -> AsyncIterator[Client]:
    app = create_app(sso_settings(tmp_path, issuer))  # the gate is on: both consented
    for tenant in (TENANT_A, TENANT_B):
        await tenants.record_consent(app[CONTEXT].store, tenant, at=NOW, by="test admin")
    yield await aiohttp_client(app)


async def snapshot(client: Client, tenant: str) -> dict[str, bytes]:
    """The tenant's documents, once the card clicks' waiting audit entries are written."""
    assert client.app is not None
    await client.app[CONTEXT].audit_feed.flush()
    store = client.app[CONTEXT].store
    found: dict[str, bytes] = {}
    async for key in store.keys(keys.tenant_prefix(tenant)):
        document = await store.read(key)
        assert document is not None
        found[key] = document.data
    return found


def of_tenant(activity: dict[str, Any], tenant: str) -> dict[str, Any]:
    activity["channelData"] = {"tenant": {"id": tenant}}
    activity["conversation"] = {**activity["conversation"], "tenantId": tenant}
    activity["from"] = {**activity["from"], "aadObjectId": AGENT_A}  # same oid, other tenant
    return activity


# What B never sent and could only learn from A's data. (B's answers may echo the ids B
# named itself, and the built-in demo CRM is the same for every tenant.)
SECRETS = ("A secret Freshdesk", "a-secret.freshdesk", "a-secret-api-key")


def assert_nothing_of_a(text: str, what: str, *more: str) -> None:
    for secret in (*SECRETS, *more):
        assert secret not in text, f"{what} revealed {secret!r}: {text[:300]}"


async def test_nothing_of_tenant_a_is_readable_or_writable_from_tenant_b(
    client: Client, issuer: LocalIssuer, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    a_tab = bearer(mint_sso(issuer, tenant=TENANT_A, agent=AGENT_A))
    b_tab = bearer(mint_sso(issuer, tenant=TENANT_B, agent=AGENT_A))

    # --- tenant A's world
    for second, event in enumerate(("assigned", "connected")):
        payload = interaction_event(
            A_CALL, event, occurred_at=f"2026-11-23T08:00:0{second}Z", agent=AGENT_A
        )
        response = await client.post("/api/interactions", json=payload, headers=A_KEY)
        assert response.status == 202, await response.text()
    a_card_id = (await response.json())["cardId"]
    card = (await (await client.get("/api/tab/card", headers=a_tab)).json())["card"]
    link = record_action(card, "link", "contact:C-2001")["data"]
    linked = await client.post(
        "/api/tab/actions", json={"verb": "link", "data": link}, headers=a_tab
    )
    assert linked.status == 200, await linked.text()
    unlink = record_action((await linked.json())["card"], "unlink", "contact:C-2001")["data"]
    created = await client.post("/api/admin/crms", json=A_CRM, headers=A_ADMIN)
    assert created.status == 201, await created.text()
    saved = await client.put("/api/admin/workflows/a-secret-wf", json=A_WORKFLOW, headers=A_ADMIN)
    assert saved.status in (200, 201), await saved.text()
    before = await snapshot(client, TENANT_A)
    assert any(A_CALL in key for key in before)

    answers: list[tuple[str, str]] = []

    async def b(method: str, path: str, **kwargs: Any) -> int:
        response = await client.request(method, path, **kwargs)
        answers.append((f"{method} {path}", await response.text()))
        return response.status

    # --- tenant B, through every door
    async with client.get("/api/tab/events", headers=b_tab) as stream:  # B's live card
        assert (await next_card(stream))["card"] is None

        # the tab API: same agent oid, A's interaction and record
        assert await b("GET", "/api/tab/card", headers=b_tab) == 200
        for verb, data in (("link", link), ("unlink", unlink), ("refresh", link)):
            status = await b(
                "POST", "/api/tab/actions", json={"verb": verb, "data": data}, headers=b_tab
            )
            assert status == 404
        # dev-mode parameters mean nothing with SSO
        assert (
            await b("GET", f"/api/tab/card?tenant={TENANT_A}&agent={AGENT_A}", headers=b_tab) == 200
        )

        # the bot: card actions and chat from tenant B naming A's interaction
        token = bearer(issuer.mint(audience=BOT_APP_ID, service_url=url))
        for verb, data in (("link", link), ("unlink", unlink), ("refresh", link)):
            activity = of_tenant(card_action(url, verb, data), TENANT_B)
            await b("POST", "/api/messages", json=activity, headers=token)
        for text in ("card", "end", "acw"):
            await b(
                "POST", "/api/messages", json=of_tenant(message(url, text), TENANT_B), headers=token
            )

        # the platform webhook: B's key naming A's interaction (the key decides the tenant)
        for event in ("connected", "ended", "transferred"):
            payload = interaction_event(
                A_CALL, event, occurred_at="2026-11-23T08:05:00Z", agent=AGENT_A
            )
            assert await b("POST", "/api/interactions", json=payload, headers=B_KEY) in (202, 409)
        payload["tenantId"] = TENANT_A  # a payload naming a tenant is not how a tenant is chosen
        assert await b("POST", "/api/interactions", json=payload, headers=B_KEY) in (422, 202, 409)
        await b(
            "POST",
            "/api/workflows/a-secret-wf/execute",
            json={"interactionId": A_CALL},
            headers=B_KEY,
        )

        # the admin API: B's admin key naming A's connection and workflow
        assert await b("GET", "/api/admin/crms", headers=B_ADMIN) == 200
        assert await b("GET", "/api/admin/crms/a-secret-crm", headers=B_ADMIN) == 404
        assert (
            await b(
                "PATCH", "/api/admin/crms/a-secret-crm", json={"displayName": "x"}, headers=B_ADMIN
            )
            == 404
        )
        assert (
            await b(
                "POST",
                "/api/admin/crms/a-secret-crm/rotate-secret",
                json={"secret": "x"},
                headers=B_ADMIN,
            )
            == 404
        )
        assert await b("POST", "/api/admin/crms/a-secret-crm/disable", headers=B_ADMIN) == 404
        assert await b("DELETE", "/api/admin/crms/a-secret-crm", headers=B_ADMIN) == 404
        assert await b("GET", "/api/admin/audit", headers=B_ADMIN) == 200
        assert await b("GET", "/api/admin/workflows", headers=B_ADMIN) == 200
        assert await b("GET", "/api/admin/workflows/a-secret-wf", headers=B_ADMIN) == 404
        assert await b("DELETE", "/api/admin/workflows/a-secret-wf", headers=B_ADMIN) in (404, 204)
        assert await b("GET", "/api/admin/outbox", headers=B_ADMIN) == 200

        # A's documents are byte-for-byte untouched, and B's live in B's own prefix
        assert await snapshot(client, TENANT_A) == before
        assert await snapshot(client, TENANT_B), "B's own requests did work, in B's prefix"
        # the data B presented was valid: A's own unlink of it works
        own = await client.post(
            "/api/tab/actions", json={"verb": "unlink", "data": unlink}, headers=a_tab
        )
        assert own.status == 200, await own.text()

        # a change on A's side never reaches B's open tab
        change = interaction_event(
            A_CALL, "ended", occurred_at="2026-11-23T08:06:00Z", agent=AGENT_A
        )
        assert (await client.post("/api/interactions", json=change, headers=A_KEY)).status == 202
        with pytest.raises(TimeoutError):
            while True:
                update = await next_card(stream, timeout=0.5)
                assert_nothing_of_a(str(update), "B's event stream", a_card_id)

    for what, text in answers:
        assert_nothing_of_a(text, what, a_card_id)
    for sent in fake.sent:
        assert_nothing_of_a(str(sent.activity), "a message to B", a_card_id)
