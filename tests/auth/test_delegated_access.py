"""Delegated CRM access: a Dynamics connection set to ``access: delegated`` calls Dataverse
as the acting agent, with their Teams SSO token exchanged On-Behalf-Of through MSAL
against the local Entra authority; the agent's token reaches crmcard from the tab or from
the bot's Teams token exchange (``signin/tokenExchange``), and without it the call is
refused, never made with crmcard's own access. Application access stays the default."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.crm.agent_tokens import AgentTokens
from bot.adapters.crm.config import Access, CrmConfig
from bot.adapters.crm.factory import build_client
from bot.adapters.crm.tokens import MsalClientCredentials
from bot.adapters.storage.local import LocalStore
from bot.domain.records import CrmRecord
from bot.services import acting_agent
from bot.services.crm import AgentNotSignedIn, CrmAuthError, SearchCriteria
from bot.services.secret_box import SecretBox
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.tab import sso_validator
from tests.activities import activity, interaction_event
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import AGENT_A, AGENT_B, BOT_APP_ID, sso_settings, sso_token
from tests.connector import FakeConnector
from tests.crm.conftest import Tls
from tests.crm.fakes.dynamics import FakeDataverse
from tests.crm.fakes.entra import FakeEntra

Client = TestClient[Any, Any]
OBO_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ADMIN = {"X-Admin-Key": "admin-c"}
API = {"X-Api-Key": "key-c"}


@pytest.fixture
async def dataverse(aiohttp_server: Callable[..., Any], entra: FakeEntra) -> FakeDataverse:
    fake = FakeDataverse(entra=entra)
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    jane = fake.add(
        "contacts",
        owner=AGENT_A,
        firstname="Jane",
        lastname="Doe",
        emailaddress1="jane@acme.example",
        telephone1="+1 (415) 555-0123",
    )
    fake.share("contacts", jane, AGENT_B)
    return fake


def settings_for(tmp_path: Path, issuer: LocalIssuer, entra: FakeEntra) -> Settings:
    """The SSO app is the local Entra authority's client; its tenant is the agents'."""
    return sso_settings(
        tmp_path,
        issuer,
        sso_client_id="app-id",
        sso_client_secret="app-secret",
        entra_authority=entra.base_url,
        tenant_gate=False,
        demo_crm=False,
        crm_allow_local_urls=True,  # the operator's allowance: the fakes run on loopback
        api_keys={entra.tenant: "key-c"},
        admin_keys={entra.tenant: "admin-c"},
    )


def agent_token(
    issuer: LocalIssuer,
    entra: FakeEntra,
    agent: str = AGENT_A,
    audience: str = "app-id",
    **claims: Any,
) -> str:
    """A Teams SSO token for the SSO app, issued by the local Entra authority's tenant."""
    token = sso_token(
        issuer,
        tenant=entra.tenant,
        agent=agent,
        audience=audience,
        iss=f"{entra.base_url}/{entra.tenant}/v2.0",
        **claims,
    )
    entra.user_assertions.add(token)  # Entra accepts it for On-Behalf-Of
    return token


def delegated(entra: FakeEntra, dataverse: FakeDataverse, **fields: Any) -> dict[str, Any]:
    return {
        "settingsId": "d365",
        "tenantId": entra.tenant,
        "kind": "dynamics",
        "displayName": "Dynamics",
        "baseUrl": dataverse.base_url,
        "access": "delegated",
        **fields,
    }


def callers(entra: FakeEntra, dataverse: FakeDataverse) -> list[str]:
    """Whom each Dataverse request's bearer token was issued to (``user:<assertion>``)."""
    subjects = {issued.token: issued.subject for issued in entra.issued}
    return [
        subjects.get(headers.get("Authorization", "").removeprefix("Bearer "), "?")
        for _, _, headers in dataverse.requests
    ]


@pytest.fixture
def trust_local_entra(monkeypatch: pytest.MonkeyPatch, tls: Tls) -> None:
    """MSAL's own HTTP client trusts the local authority's certificate (as a deployment
    trusts Microsoft's): the app runs with its production TLS settings."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_file)


async def test_the_card_of_a_tab_signed_in_agent_is_looked_up_with_their_obo_token(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
    trust_local_entra: None,
) -> None:
    client: Client = await aiohttp_client(create_app(settings_for(tmp_path, issuer, entra)))
    created = await client.post("/api/admin/crms", json=delegated(entra, dataverse), headers=ADMIN)
    assert created.status == 201, await created.text()
    token = agent_token(issuer, entra)
    auth = {"Authorization": f"Bearer {token}"}
    opened = await client.get("/api/tab/card", headers=auth)  # the agent opens the tab
    assert opened.status in (200, 404), await opened.text()

    for event in ("assigned", "connected"):
        payload = interaction_event(
            "call-1", event, agent=AGENT_A, customer={"phone": "+14155550123"}
        )
        response = await client.post("/api/interactions", json=payload, headers=API)
        assert response.status == 202, await response.text()
    card = await client.get("/api/tab/card", headers=auth)
    assert card.status == 200, await card.text()
    assert "Jane Doe" in await card.text()

    assert dataverse.requests and set(callers(entra, dataverse)) == {f"user:{token}"}
    assert entra.token_requests("client_credentials") == [], "never crmcard's own access"
    [exchange] = entra.token_requests(OBO_GRANT)  # once: MSAL's token serves the rest
    assert exchange.scope.split()[0] == f"{dataverse.base_url}/user_impersonation"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def test_without_the_agents_token_the_call_is_refused_not_made_as_crmcard(
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
    session: aiohttp.ClientSession,
    tls: Tls,
) -> None:
    store = LocalStore(tmp_path / "s.sqlite3")
    box = SecretBox.from_setting(SecretBox.new_key())
    settings = settings_for(tmp_path, issuer, entra)
    tokens = AgentTokens(settings, store, box, verify=tls.ca_file)
    config = CrmConfig.model_validate(delegated(entra, dataverse))
    crm = build_client(config, session=session, agent_tokens=tokens)
    search = SearchCriteria(phones=["+14155550123"])

    async def search_as(agent: str | None) -> list[CrmRecord]:
        async def acting() -> list[CrmRecord]:
            if agent is not None:
                acting_agent.act_as(entra.tenant, agent)
            return await crm.search(search)

        return await asyncio.create_task(acting())  # its own context, as a request has

    try:
        with pytest.raises(AgentNotSignedIn, match="no agent is acting"):
            await search_as(None)  # a platform key's lookup
        with pytest.raises(AgentNotSignedIn, match="sign in to Dynamics in the crmcard tab"):
            await search_as(AGENT_B)  # an agent who never signed in
        with pytest.raises(AgentNotSignedIn, match="no agent is acting"):
            acting_agent.act_as("another-tenant", AGENT_B)
            await crm.search(search)
        assert dataverse.requests == [] and entra.issued == []

        validator = sso_validator(settings)
        expired = await validator.validate(agent_token(issuer, entra, AGENT_B))
        await tokens.remember(replace(expired, expires_at=time.time() + 30))
        with pytest.raises(AgentNotSignedIn, match="sign in"):
            await search_as(AGENT_B)  # a token about to expire is not offered to Entra
        assert entra.issued == []

        # a fresh token remembered by another instance sharing the store is used
        fresh = await validator.validate(agent_token(issuer, entra, AGENT_B))
        await AgentTokens(settings, store, box).remember(fresh)
        [found] = await search_as(AGENT_B)
        assert found.title == "Jane Doe"
        assert set(callers(entra, dataverse)) == {f"user:{fresh.token}"}
    finally:
        await store.close()


async def test_each_agent_sees_only_the_records_dataverse_lets_them_see(
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
    session: aiohttp.ClientSession,
    tls: Tls,
) -> None:
    """Two contacts share a phone number: Jane is Agent A's (and shared with Agent B), Jonas
    is Agent B's alone. Each agent's search, and a read of the other's record, shows what
    Dataverse's security roles let that agent see; crmcard's application access sees both."""
    jonas = dataverse.add(
        "contacts", owner=AGENT_B, firstname="Jonas", lastname="Roe", telephone1="+14155550123"
    )
    store = LocalStore(tmp_path / "s.sqlite3")
    settings = settings_for(tmp_path, issuer, entra)
    box = SecretBox.from_setting(SecretBox.new_key())
    tokens = AgentTokens(settings, store, box, verify=tls.ca_file)
    validator = sso_validator(settings)
    for agent in (AGENT_A, AGENT_B):
        await tokens.remember(await validator.validate(agent_token(issuer, entra, agent)))
    crm = build_client(
        CrmConfig.model_validate(delegated(entra, dataverse)), session=session, agent_tokens=tokens
    )
    search = SearchCriteria(phones=["+14155550123"])

    async def as_agent(agent: str, call: Callable[[], Any]) -> Any:
        async def acting() -> Any:
            acting_agent.act_as(entra.tenant, agent)
            return await call()

        return await asyncio.create_task(acting())

    try:
        seen_by_a = await as_agent(AGENT_A, lambda: crm.search(search))
        seen_by_b = await as_agent(AGENT_B, lambda: crm.search(search))
        assert [r.title for r in seen_by_a] == ["Jane Doe"]
        assert sorted(r.title for r in seen_by_b) == ["Jane Doe", "Jonas Roe"]
        ref = next(r.ref for r in seen_by_b if r.title == "Jonas Roe")
        with pytest.raises(CrmAuthError, match="denied access"):
            await as_agent(AGENT_A, lambda: crm.get(ref))  # Dataverse's 403, not a leak
        assert (await as_agent(AGENT_B, lambda: crm.get(ref))).ref.id == jonas

        app_only = build_client(
            CrmConfig.model_validate(
                delegated(
                    entra,
                    dataverse,
                    access="application",
                    auth={
                        "type": "entra_client_credentials",
                        "directory_tenant_id": entra.tenant,
                        "client_id": "app-id",
                        "authority_host": entra.base_url,
                        "instance_discovery": False,
                    },
                    secret="app-secret",
                )
            ),
            session=session,
            tls_verify=tls.ca_file,
        )
        assert len(await app_only.search(search)) == 2
    finally:
        await store.close()


async def test_application_access_stays_the_default_and_delegated_needs_dynamics(
    session: Any,
) -> None:
    config = CrmConfig.model_validate(
        {
            "settingsId": "d365",
            "tenantId": "t",
            "kind": "dynamics",
            "displayName": "Dynamics",
            "baseUrl": "https://org.crm.dynamics.com",
            "auth": {
                "type": "entra_client_credentials",
                "directoryTenantId": "t",
                "clientId": "c",
            },
            "secret": "s",
        }
    )
    assert config.access is Access.APPLICATION
    crm = build_client(config, session=session)
    assert isinstance(crm.http.auth, MsalClientCredentials)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="knows Entra identities"):
        CrmConfig.model_validate(
            {
                "settingsId": "zd",
                "tenantId": "t",
                "kind": "zendesk",
                "displayName": "Zendesk",
                "access": "delegated",
            }
        )


def token_exchange(url: str, tenant: str, token: str, user: str = AGENT_A) -> dict[str, Any]:
    sent = activity(
        url,
        "invoke",
        name="signin/tokenExchange",
        value={"id": "exchange-1", "connectionName": "crmcard-sso", "token": token},
    )
    sent["from"] = {**sent["from"], "aadObjectId": user, "id": f"29:{user}"}
    sent["conversation"]["tenantId"] = tenant
    sent["channelData"] = {"tenant": {"id": tenant}}
    return sent


async def test_the_bots_token_exchange_signs_the_agent_in_and_a_bad_token_is_412(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
    connector: tuple[FakeConnector, str],
    trust_local_entra: None,
) -> None:
    _, url = connector
    client: Client = await aiohttp_client(create_app(settings_for(tmp_path, issuer, entra)))
    created = await client.post("/api/admin/crms", json=delegated(entra, dataverse), headers=ADMIN)
    assert created.status == 201, await created.text()
    channel = {"Authorization": f"Bearer {issuer.mint(audience=BOT_APP_ID, service_url=url)}"}

    for bad, why in (
        ("not-a-token", "refused"),
        (agent_token(issuer, entra, audience="someone-else"), "refused"),
        (agent_token(issuer, entra, AGENT_B), "not the sender's"),
    ):
        sent = token_exchange(url, entra.tenant, bad)
        response = await client.post("/api/messages", json=sent, headers=channel)
        assert response.status == 412, await response.text()
        body = await response.json()
        assert body["id"] == "exchange-1" and body["connectionName"] == "crmcard-sso"
        assert why in body["failureDetail"]

    token = agent_token(issuer, entra)
    sent = token_exchange(url, entra.tenant, token)
    response = await client.post("/api/messages", json=sent, headers=channel)
    assert response.status == 200, await response.text()
    assert await response.json() == {"id": "exchange-1", "connectionName": "crmcard-sso"}

    # the agent's lookups now run as them, with no tab opened
    for event in ("assigned", "connected"):
        payload = interaction_event(
            "call-2", event, agent=AGENT_A, customer={"phone": "+14155550123"}
        )
        response = await client.post("/api/interactions", json=payload, headers=API)
        assert response.status == 202, await response.text()
    assert dataverse.requests and set(callers(entra, dataverse)) == {f"user:{token}"}
