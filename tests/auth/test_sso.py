"""Teams tab SSO over real HTTP: tokens from a local OpenID issuer standing in for Entra.

The app is a registered bot whose SSO app's metadata URL and authority point at the
local issuer. A genuine token identifies the tenant (``tid``) and agent (``oid``); every
forged, stale, misdirected or app-only token gets a 401 and leaves nothing in the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from bot.adapters.crm.agent_tokens import AgentTokens
from bot.adapters.storage.local import LocalStore
from bot.adapters.teams.sso import InvalidSsoToken, SsoIdentity, SsoValidator, sso_audiences
from bot.services.crm import CrmAuthError
from bot.services.secret_box import SecretBox
from bot.web.access_log import RedactingAccessLogger
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.auth.openid_issuer import LocalIssuer, SigningKey, tampered
from tests.auth.sso_tokens import (
    AGENT_A,
    AUDIENCE,
    PUBLIC_URL,
    SSO_CLIENT_ID,
    TENANT_A,
    TENANT_B,
    authority,
    bearer,
    sso_settings,
    sso_token,
)
from tests.crm.conftest import Tls
from tests.crm.fakes.entra import FakeEntra

Client = TestClient[Any, Any]
CRM_SCOPE = "https://contoso.crm.dynamics.com/user_impersonation"


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer
) -> AsyncIterator[Client]:
    # The gate is tested elsewhere: here only the token decides.
    yield await aiohttp_client(create_app(sso_settings(tmp_path, issuer, tenant_gate=False)))


async def stored(client: Client) -> list[str]:
    assert client.app is not None
    return [key async for key in client.app[CONTEXT].store.keys("")]


# --- accepted -----------------------------------------------------------------------


@pytest.mark.parametrize("audience", [AUDIENCE, SSO_CLIENT_ID])
async def test_valid_token_identifies_tenant_and_agent(
    client: Client, issuer: LocalIssuer, audience: str
) -> None:
    token = sso_token(issuer, audience=audience)
    response = await client.get("/api/tab/card", headers=bearer(token))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["mode"], body["tenantId"], body["agentId"]) == ("sso", TENANT_A, AGENT_A)


async def test_event_stream_takes_the_token_as_a_query_parameter(
    client: Client, issuer: LocalIssuer
) -> None:
    token = sso_token(issuer, tenant=TENANT_B)
    async with client.get("/api/tab/events", params={"access_token": token}) as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")


async def test_small_clock_skew_is_tolerated(client: Client, issuer: LocalIssuer) -> None:
    token = sso_token(issuer, exp=int(time.time()) - 20)
    assert (await client.get("/api/tab/card", headers=bearer(token))).status == 200


async def test_keys_are_fetched_once_off_the_event_loop(
    client: Client, issuer: LocalIssuer
) -> None:
    issuer.jwks_delay = 0.3
    token = sso_token(issuer)
    tab = [
        asyncio.ensure_future(client.get("/api/tab/card", headers=bearer(token))) for _ in range(5)
    ]
    await asyncio.wait_for(asyncio.to_thread(issuer.jwks_requested.wait, 5), 6)
    health = await client.get("/healthz")  # answered while the keys are still on their way
    assert health.status == 200
    assert not all(task.done() for task in tab)
    assert [response.status for response in await asyncio.gather(*tab)] == [200] * 5
    assert (issuer.metadata_requests, issuer.jwks_requests) == (1, 1)
    await client.get("/api/tab/card", headers=bearer(sso_token(issuer)))
    assert issuer.jwks_requests == 1, "keys are cached"


# --- refused ------------------------------------------------------------------------


def _refused_tokens(issuer: LocalIssuer) -> dict[str, str]:
    other = SigningKey.generate(issuer.key.kid)  # same kid, another key
    genuine = sso_token(issuer)
    return {
        "expired": sso_token(issuer, exp=int(time.time()) - 300),
        "wrong audience": sso_token(issuer, audience="api://elsewhere.example.com/other-app"),
        "bot app id as audience": sso_token(
            issuer, audience="6f1f4e52-6a3c-4d0c-9c55-0a1b2c3d4e5f"
        ),
        "issuer of another tenant": sso_token(issuer, iss=f"{authority(issuer)}/{TENANT_B}/v2.0"),
        "v1 issuer": sso_token(issuer, iss=f"https://sts.windows.net/{TENANT_A}/"),
        "foreign issuer": sso_token(issuer, iss=f"https://evil.example.com/{TENANT_A}/v2.0"),
        "bad signature": sso_token(issuer, key=other),
        "tampered tenant": tampered(
            genuine, tid=TENANT_B, iss=f"{authority(issuer)}/{TENANT_B}/v2.0"
        ),
        "tampered agent": tampered(genuine, oid="someone-else"),
        "unknown key id": sso_token(issuer, kid="not-published"),
        "no key id": sso_token(issuer, kid=None),
        "no tenant": sso_token(issuer, tid=None),
        "no agent": sso_token(issuer, oid=None),
        "app-only (no scp)": sso_token(issuer, scp=None),
        "HS256": sso_token(issuer, algorithm="HS256"),
        "alg none": sso_token(issuer, algorithm="none"),
        "garbage": "not-a-real-token",
    }


REFUSALS = [
    "expired",
    "wrong audience",
    "bot app id as audience",
    "issuer of another tenant",
    "v1 issuer",
    "foreign issuer",
    "bad signature",
    "tampered tenant",
    "tampered agent",
    "unknown key id",
    "no key id",
    "no tenant",
    "no agent",
    "app-only (no scp)",
    "HS256",
    "alg none",
    "garbage",
]


@pytest.mark.parametrize("case", REFUSALS)
async def test_refused_tokens_get_401_and_change_nothing(
    client: Client, issuer: LocalIssuer, case: str
) -> None:
    token = _refused_tokens(issuer)[case]
    card = await client.get("/api/tab/card", headers=bearer(token))
    assert card.status == 401, case
    assert card.headers["WWW-Authenticate"].startswith("Bearer")
    assert "refused" in (await card.json())["detail"]
    action = await client.post(
        "/api/tab/actions",
        json={"verb": "link", "data": {"interactionId": "call-1", "rev": 0}},
        headers=bearer(token),
    )
    assert action.status == 401, case
    events = await client.get("/api/tab/events", params={"access_token": token})
    assert events.status == 401, case
    assert await stored(client) == []


async def test_without_any_token_the_tab_asks_for_sign_in(client: Client) -> None:
    response = await client.get("/api/tab/card?tenant=" + TENANT_A + "&agent=" + AGENT_A)
    assert response.status == 401
    assert "no SSO token" in (await response.json())["detail"]


async def test_unreachable_signing_keys_are_a_503_not_a_401(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer
) -> None:
    settings = sso_settings(
        tmp_path, issuer, tenant_gate=False, sso_openid_metadata_url="http://127.0.0.1:9/x"
    )
    client: Client = await aiohttp_client(create_app(settings))
    response = await client.get("/api/tab/card", headers=bearer(sso_token(issuer)))
    assert response.status == 503


async def test_validator_without_a_configured_app_refuses(issuer: LocalIssuer) -> None:
    validator = SsoValidator(
        metadata_url=issuer.metadata_url, authority=authority(issuer), audiences=()
    )
    with pytest.raises(InvalidSsoToken, match="no SSO app"):
        await validator.validate(sso_token(issuer))


async def test_v1_access_tokens_of_the_public_cloud_are_accepted(issuer: LocalIssuer) -> None:
    """An SSO app registered without ``requestedAccessTokenVersion: 2`` (Entra's default)
    gets v1 access tokens: issued by ``https://sts.windows.net/{tid}/``, the user in
    ``upn``. They are the same agent, signed with the same keys."""
    validator = SsoValidator(
        metadata_url=issuer.metadata_url,
        authority="https://login.microsoftonline.com",
        audiences=sso_audiences(SSO_CLIENT_ID, PUBLIC_URL),
    )
    v1 = sso_token(
        issuer,
        iss=f"https://sts.windows.net/{TENANT_A}/",
        ver="1.0",
        preferred_username=None,
        upn="avery@contoso.example",
    )
    agent = await validator.validate(v1)
    assert (agent.tenant_id, agent.object_id) == (TENANT_A, AGENT_A)
    assert agent.username == "avery@contoso.example"
    other_tenant = sso_token(issuer, iss=f"https://sts.windows.net/{TENANT_B}/", ver="1.0")
    with pytest.raises(InvalidSsoToken, match="issuer"):
        await validator.validate(other_tenant)


def test_audiences_are_the_application_id_uri_and_the_client_id() -> None:
    assert sso_audiences(SSO_CLIENT_ID, PUBLIC_URL) == (AUDIENCE, SSO_CLIENT_ID)


# --- On-Behalf-Of -------------------------------------------------------------------


async def test_validated_token_is_exchanged_on_behalf_of_the_agent(
    tmp_path: Path, issuer: LocalIssuer, entra: FakeEntra, tls: Tls
) -> None:
    """The agent's SSO token, once validated, buys a CRM token through MSAL (OBO)."""
    tenant = entra.tenant  # the local Entra authority serves this tenant
    token = sso_token(
        issuer, tenant=tenant, audience="app-id", iss=f"{entra.base_url}/{tenant}/v2.0"
    )
    entra.user_assertions = {token}
    settings = sso_settings(
        tmp_path,
        issuer,
        sso_client_id="app-id",
        sso_client_secret="app-secret",
        entra_authority=entra.base_url,
    )
    validator = SsoValidator(
        metadata_url=issuer.metadata_url,
        authority=entra.base_url,
        audiences=sso_audiences("app-id", PUBLIC_URL),
    )
    agent = await validator.validate(token)
    assert agent.token == token
    store = LocalStore(tmp_path / "s.sqlite3")
    try:
        tokens = AgentTokens(
            settings,
            store,
            SecretBox.from_setting(SecretBox.new_key()),
            verify=tls.ca_file,
            instance_discovery=False,
        )
        crm = await tokens.on_behalf_of(agent, (CRM_SCOPE,))
        assert entra.is_valid(crm.value, CRM_SCOPE)
        [issued] = entra.token_requests("urn:ietf:params:oauth:grant-type:jwt-bearer")
        assert issued.subject == f"user:{token}"
        assert await tokens.on_behalf_of(agent, (CRM_SCOPE,)) == crm, "cached per agent"
        assert len(entra.token_requests()) == 1
        assert (
            [key async for key in store.keys("")]
            == [key async for key in store.keys(f"tenants/{tenant}/token-caches/")]
            != []
        )
        forged = SsoIdentity(tenant, "someone", token="forged")
        with pytest.raises(CrmAuthError, match="invalid_grant"):
            await tokens.on_behalf_of(forged, (CRM_SCOPE,))
    finally:
        await store.close()


def test_the_access_log_leaves_out_the_event_streams_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.access")
    access_log = RedactingAccessLogger(logger)
    response = web.Response(status=200)
    with caplog.at_level(logging.INFO, logger="test.access"):
        for path in ("/api/tab/events?access_token=eyJ.secret.token", "/api/tab/card?x=1"):
            access_log.log(make_mocked_request("GET", path), response, 0.01)
    first, second = (record.getMessage() for record in caplog.records)
    assert "GET /api/tab/events HTTP/1.1" in first and "eyJ" not in first
    assert "GET /api/tab/card?x=1 HTTP/1.1" in second
