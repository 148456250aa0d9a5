"""Delegated CRM access: a Dynamics connection set to ``access: delegated`` calls Dataverse
as the acting agent, with their Teams SSO token exchanged On-Behalf-Of through MSAL
against the local Entra authority; the agent's token reaches crmcard from the tab or from
the bot's Teams token exchange (``signin/tokenExchange``), and without it the call is
refused, never made with crmcard's own access. Application access stays the default."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.crm.agent_tokens import AgentTokens
from bot.adapters.crm.factory import build_client
from bot.adapters.crm.tokens import MsalClientCredentials
from bot.adapters.storage.local import LocalStore
from bot.domain.crm_config import Access, CrmConfig
from bot.domain.interactions import Agent
from bot.domain.records import CrmRecord, RecordRef
from bot.services import acting_agent, outbox
from bot.services.context import Context
from bot.services.crm import AgentNotSignedIn, CrmAuthError, CrmClient, SearchCriteria
from bot.services.outbox import OutboxItem, OutboxStatus
from bot.services.retry import WRITEBACK
from bot.services.secret_box import SecretBox
from bot.services.store import update
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
from tests.writeback.harness import T0, Crms, NoDelivery, store_due
from tests.writeback.harness import interaction as writeback_interaction
from tests.writeback.harness import worker as make_worker

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
        crm_deadline_seconds=30.0,  # the card waits for the CRM, however loaded the machine
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


async def with_delegated_crm(
    aiohttp_client: Callable[..., Any], settings: Settings, entra: FakeEntra, org: FakeDataverse
) -> Client:
    """The app, its tenant's admin having connected ``org`` with delegated access."""
    client: Client = await aiohttp_client(create_app(settings))
    created = await client.post("/api/admin/crms", json=delegated(entra, org), headers=ADMIN)
    assert created.status == 201, await created.text()
    return client


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
    trust_local_entra: None,
) -> Client:
    """The app as :func:`settings_for` configures it, with the Dataverse fake connected."""
    return await with_delegated_crm(
        aiohttp_client, settings_for(tmp_path, issuer, entra), entra, dataverse
    )


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
    client: Client,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
) -> None:
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
                        "directoryTenantId": entra.tenant,
                        "clientId": "app-id",
                        "authorityHost": entra.base_url,
                        "instanceDiscovery": False,
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
    client: Client,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
    connector: tuple[FakeConnector, str],
) -> None:
    _, url = connector
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


TENANT = FakeEntra.tenant


@dataclass
class Rig:
    """A delegated Dynamics connection as the write-back worker sees it, with the clocks
    of the outbox (``clock``) and of the agents' Teams tokens (``wall``) in hand."""

    ctx: Context
    crm: CrmClient
    tokens: AgentTokens
    issue: Callable[[str], str]
    clock: list[datetime]
    wall: list[float]
    contact: RecordRef

    async def sign_in(self, agent: str) -> None:
        """The agent opens their card: their Teams token is kept and exchanged once."""
        validator = sso_validator(self.tokens.settings)
        await self.tokens.remember(await validator.validate(self.issue(agent)))
        await as_agent(agent, lambda: self.crm.get(self.contact))

    async def end_call(self, interaction_id: str, agent: str) -> None:
        linked = CrmRecord(ref=self.contact, title="Jane Doe")
        due = writeback_interaction(interaction_id, linked=(linked,)).model_copy(
            update={"tenant_id": TENANT, "agent": Agent(aad_object_id=agent)}
        )
        await store_due(self.ctx, due)

    async def deliver_once(self, interaction_id: str) -> OutboxItem:
        self.clock[0] += timedelta(seconds=1)  # past any retry's backoff
        await make_worker(self.ctx).run_once()
        [item] = await outbox.items_for(self.ctx.store, TENANT, interaction_id)
        return item


async def as_agent(agent: str, call: Callable[[], Awaitable[Any]]) -> Any:
    async def acting() -> Any:
        acting_agent.act_as(TENANT, agent)
        return await call()

    return await asyncio.create_task(acting())  # its own context, as a request has


@pytest.fixture
async def rig(
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
    session: aiohttp.ClientSession,
    tls: Tls,
) -> AsyncIterator[Rig]:
    store = LocalStore(tmp_path / "s.sqlite3")
    wall = [time.time()]
    tokens = AgentTokens(
        settings_for(tmp_path, issuer, entra),
        store,
        SecretBox.from_setting(SecretBox.new_key()),
        verify=tls.ca_file,
        wall_clock=lambda: wall[0],
    )
    crm = build_client(
        CrmConfig.model_validate(delegated(entra, dataverse)), session=session, agent_tokens=tokens
    )
    [jane] = dataverse.rows["contacts"]
    clock = [T0]
    ctx = Context(store=store, crms=Crms(crm), delivery=NoDelivery(), clock=lambda: clock[0])
    try:
        yield Rig(
            ctx,
            crm,
            tokens,
            lambda agent: agent_token(issuer, entra, agent),
            clock,
            wall,
            RecordRef(crm="d365", type="contact", id=jane),
        )
    finally:
        await store.close()


def writer_of(entra: FakeEntra, dataverse: FakeDataverse) -> list[str | None]:
    """Whose token each Dataverse write (POST) carried."""
    users = {issued.token: issued.user for issued in entra.issued}
    return [
        users.get(headers.get("Authorization", "").removeprefix("Bearer "))
        for method, _, headers in dataverse.requests
        if method == "POST"
    ]


async def test_the_write_back_runs_as_the_agent_after_their_teams_token_expired(
    rig: Rig, entra: FakeEntra, dataverse: FakeDataverse
) -> None:
    await rig.sign_in(AGENT_A)
    rig.wall[0] += 2 * 3600  # a long call: the agent's Teams token has expired meanwhile,
    entra.expire_all()  # and so has the Dataverse token it was exchanged for
    assert await rig.tokens.signed_in(TENANT, AGENT_A) is None

    await rig.end_call("call-1", AGENT_A)
    item = await rig.deliver_once("call-1")
    assert item.status is OutboxStatus.done, item.last_error
    [(task_id, task)] = dataverse.rows["tasks"].items()
    assert task["_regardingobjectid_value"] == rig.contact.id
    assert dataverse.owners[("tasks", task_id)] == AGENT_A  # written as the agent
    assert writer_of(entra, dataverse) == [AGENT_A]
    assert entra.token_requests("refresh_token"), "renewed from MSAL's cache, off the loop"
    assert len(entra.token_requests(OBO_GRANT)) == 1 and not entra.token_requests(
        "client_credentials"
    )

    entra.revoke_refresh_tokens()  # the agent's sign-in was revoked in Entra,
    entra.expire_all()  # and the tokens issued before have run out
    await rig.end_call("call-2", AGENT_A)
    item = await rig.deliver_once("call-2")
    assert item.status is OutboxStatus.pending and item.attempts == 1
    assert "Waiting for the agent" in (item.last_error or "")
    assert len(dataverse.rows["tasks"]) == 1


async def test_a_write_back_waits_pending_and_visible_for_the_agents_sign_in(
    rig: Rig, dataverse: FakeDataverse, entra: FakeEntra
) -> None:
    await rig.end_call("call-3", AGENT_B)  # Agent B never signed in to crmcard
    for attempt in (1, 2):
        item = await rig.deliver_once("call-3")
        assert item.status is OutboxStatus.pending and item.attempts == attempt
        assert item.last_error == (
            f"Waiting for the agent {AGENT_B} to sign in: sign in to Dynamics in the crmcard tab"
        )
        assert item.retrying and item.parked_reason is None
    [line] = outbox.summarize([item])  # the agent's card says so too
    assert outbox.is_failure(line) and "sign in to Dynamics" in line, line
    assert dataverse.rows["tasks"] == {} and entra.issued == []

    await rig.sign_in(AGENT_B)  # Jane is shared with Agent B
    item = await rig.deliver_once("call-3")
    assert item.status is OutboxStatus.done and item.attempts == 3
    [(task_id, _)] = dataverse.rows["tasks"].items()
    assert dataverse.owners[("tasks", task_id)] == AGENT_B


async def test_a_platform_lookup_acts_as_the_named_agent_or_says_one_is_needed(
    client: Client,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
) -> None:

    async def look_up(status: int, **who: Any) -> dict[str, Any]:
        response = await client.post(
            "/api/lookup", json={"phone": "+14155550123", **who}, headers=API
        )
        assert response.status == status, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer

    refused = await look_up(422)  # the platform's key speaks for no agent
    assert "delegated CRM access needs an agent" in refused["detail"]
    assert [e["loc"] for e in refused["errors"]] == [["agent"]]
    assert dataverse.requests == [] and entra.issued == []

    token = agent_token(issuer, entra)
    opened = await client.get("/api/tab/card", headers={"Authorization": f"Bearer {token}"})
    assert opened.status in (200, 404), await opened.text()  # Agent A signed in via the tab
    answer = await look_up(200, agent={"aadObjectId": AGENT_A})
    assert answer["identified"] is True and answer["name"] == "Jane Doe"
    assert set(callers(entra, dataverse)) == {f"user:{token}"}

    for interaction_id, agent in (("call-a", AGENT_A), ("call-b", AGENT_B)):
        event = interaction_event(
            interaction_id, "assigned", agent=agent, customer={"email": "x@y.example"}
        )
        response = await client.post("/api/interactions", json=event, headers=API)
        assert response.status == 202, await response.text()
    assert (await look_up(200, interactionId="call-a"))["name"] == "Jane Doe"
    as_b = await look_up(200, interactionId="call-b")  # Agent B never signed in
    assert as_b["identified"] is False
    assert as_b["problems"] == {"d365": "sign in to Dynamics in the crmcard tab"}
    in_german = await client.post(
        "/api/lookup",
        json={"phone": "+14155550123", "interactionId": "call-b"},
        headers={**API, "Accept-Language": "de-DE"},
    )
    assert (await in_german.json())["problems"] == {
        "d365": "Melden Sie sich im crmcard-Tab bei Dynamics an"
    }
    assert (await look_up(422, interactionId="no-such-call"))["status"] == 422


async def test_without_an_agent_the_lookup_skips_delegated_crms_and_asks_the_others(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
) -> None:
    settings = settings_for(tmp_path, issuer, entra).model_copy(update={"demo_crm": True})
    client = await with_delegated_crm(aiohttp_client, settings, entra, dataverse)
    response = await client.post("/api/lookup", json={"phone": "+1 555 0100"}, headers=API)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["identified"] is True and answer["name"] == "Edward Ferrars"  # the demo CRM
    assert "connected with each agent's own access" in answer["skipped"]["d365"]
    assert dataverse.requests == []


async def test_why_a_crm_was_not_asked_is_told_in_the_readers_language(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,
) -> None:
    """The lookup's reasons are read by the contact center's admins (the console's "try a
    lookup", the IVR's logs): in the language the request asks for, as errors are."""
    settings = settings_for(tmp_path, issuer, entra).model_copy(update={"demo_crm": True})
    client = await with_delegated_crm(aiohttp_client, settings, entra, dataverse)

    async def why(body: dict[str, str], language: str, door: str = "/api/lookup") -> str:
        keys = ADMIN if door == "/api/admin/lookup" else API
        response = await client.post(door, json=body, headers={**keys, "Accept-Language": language})
        assert response.status == 200, await response.text()
        assert response.headers["Content-Language"] == language[:2]
        reason: str = (await response.json())["skipped"]["d365"]
        return reason

    assert await why({"phone": "+1 555 0100"}, "de-DE") == (
        "Dynamics ist mit dem eigenen Zugang jedes Agenten verbunden: Nennen Sie den Agenten "
        "(agent.aadObjectId) oder die Interaktion (interactionId), für die der Anruf ist"
    )
    assert await why({"accountNumber": "A-1001"}, "fr-FR", "/api/admin/lookup") == (
        "Dynamics ne peut pas rechercher de numéros de compte"
    )
    assert await why({"caseNumber": "CS-4004"}, "de") == (
        "Dynamics kann keine Fallnummern nachschlagen"
    )
    assert await why({"caseNumber": "CS-4004"}, "en-GB") == "Dynamics cannot look up case numbers"
    assert dataverse.requests == []


async def test_the_agents_sign_in_makes_their_waiting_write_back_due_at_once(
    rig: Rig, dataverse: FakeDataverse
) -> None:
    worker = make_worker(rig.ctx, policy=replace(WRITEBACK, base_delay=600.0, max_delay=600.0))
    rig.tokens.sign_in_listeners.append(worker.agent_signed_in)
    await rig.end_call("call-4", AGENT_B)  # Agent B is not signed in
    await worker.run_once()
    [item] = await outbox.items_for(rig.ctx.store, TENANT, "call-4")
    assert item.waiting_for_sign_in and item.next_attempt_at > rig.clock[0]
    await worker.run_once()  # its backoff holds it: nothing is attempted
    [item] = await outbox.items_for(rig.ctx.store, TENANT, "call-4")
    assert item.attempts == 1 and dataverse.rows["tasks"] == {}

    await rig.sign_in(AGENT_B)  # no time passes: the sign-in alone makes it due
    [item] = await outbox.items_for(rig.ctx.store, TENANT, "call-4")
    assert item.next_attempt_at == rig.clock[0]
    await worker.run_once()
    [item] = await outbox.items_for(rig.ctx.store, TENANT, "call-4")
    assert item.status is OutboxStatus.done and item.attempts == 2
    [(task_id, _)] = dataverse.rows["tasks"].items()
    assert dataverse.owners[("tasks", task_id)] == AGENT_B


async def test_a_sign_in_leaves_other_agents_and_other_reasons_to_their_backoff(
    rig: Rig,
) -> None:
    await rig.end_call("call-5", AGENT_B)
    await make_worker(rig.ctx, policy=replace(WRITEBACK, base_delay=600.0)).run_once()
    [waiting] = await outbox.items_for(rig.ctx.store, TENANT, "call-5")
    assert waiting.waiting_for_sign_in
    assert await outbox.due_at_sign_in(rig.ctx.store, TENANT, AGENT_A, rig.clock[0]) == []
    await update(  # retried for another reason (the CRM throttled, say)
        rig.ctx.store,
        waiting.key,
        OutboxItem,
        lambda item: item.model_copy(update={"waiting_for_sign_in": False}),
    )
    assert await outbox.due_at_sign_in(rig.ctx.store, TENANT, AGENT_B, rig.clock[0]) == []
    [item] = await outbox.items_for(rig.ctx.store, TENANT, "call-5")
    assert item.next_attempt_at == waiting.next_attempt_at


async def test_a_failing_sign_in_listener_does_not_fail_the_sign_in(rig: Rig) -> None:
    async def broken(tenant_id: str, agent_id: str) -> None:
        raise RuntimeError("store down")

    rig.tokens.sign_in_listeners.append(broken)
    await rig.sign_in(AGENT_A)
    assert await rig.tokens.signed_in(TENANT, AGENT_A) is not None
