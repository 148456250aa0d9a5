"""The bot identity signs in at the Entra authority the operator names (national, private
or local clouds): ``CRMCARD_BOT_LOGIN_URL``.

crmcard runs as a SingleTenant bot (app id, client secret, tenant) whose login URL is a
local Entra over TLS (:class:`FakeEntra`, trusted through ``REQUESTS_CA_BUNDLE`` as an
operator trusts a private cloud's CA). Real MSAL, nothing replaced: the card or reply the
Bot Connector receives must carry, as its bearer token, the one that Entra issued to the
bot's app id in the bot's tenant for the Bot Connector's scope. A login URL that could
send the bot's client secret somewhere unintended refuses to start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import ValidationError

from bot.adapters.teams.sdk import create_adapter
from bot.settings import Settings
from bot.web.app import create_app
from tests.activities import installed, interaction_event, message
from tests.auth.openid_issuer import LocalIssuer
from tests.connector import FakeConnector
from tests.crm.conftest import Tls
from tests.crm.fakes.entra import FakeEntra

Client = TestClient[Any, Any]

REPO = Path(__file__).resolve().parents[2]
APP_ID = "0c8e5b1a-7d2f-4e6b-9a31-5f4c2d1e0b9a"
APP_SECRET = "the-bot-registration-client-secret"
APP_TENANT = "3f2a1b0c-0000-4000-8000-0000000b0751"
API_KEY = "platform-key-not-published"
BOT_CONNECTOR_SCOPE = "https://api.botframework.com/.default"


@pytest.fixture
def bot_entra(entra: FakeEntra, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> FakeEntra:
    """The local Entra knows the bot's registration; its CA is trusted as a bundle."""
    entra.tenant = APP_TENANT
    entra.clients = {APP_ID: APP_SECRET}
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_file)
    return entra


def bot_settings(tmp_path: Path, issuer: LocalIssuer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "app_id": APP_ID,
        "app_password": APP_SECRET,
        "app_type": "SingleTenant",
        "app_tenant_id": APP_TENANT,
        "openid_metadata_url": issuer.metadata_url,
        "token_issuer": issuer.issuer,
        "api_keys": {"demo-tenant": API_KEY},
        "demo_crm": True,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer, bot_entra: FakeEntra
) -> Client:
    settings = bot_settings(
        tmp_path, issuer, bot_login_url=bot_entra.base_url, bot_login_allow_local=True
    )
    made: Client = await aiohttp_client(create_app(settings))
    return made


def bearer(issuer: LocalIssuer, service_url: str) -> dict[str, str]:
    token = issuer.mint(audience=APP_ID, service_url=service_url)
    return {"Authorization": f"Bearer {token}"}


def issued_to_the_bot(entra: FakeEntra, authorization: str | None) -> None:
    """``authorization`` is a token Entra issued app-only to the bot for the Bot Connector."""
    scheme, _, token = (authorization or "").partition(" ")
    issued = entra.issued_token(token)
    assert scheme == "Bearer" and issued is not None, authorization
    assert (issued.grant, issued.subject, issued.scope) == (
        "client_credentials",
        APP_ID,
        BOT_CONNECTOR_SCOPE,
    )


async def test_a_reply_carries_the_token_the_named_authority_issued(
    client: Client,
    issuer: LocalIssuer,
    bot_entra: FakeEntra,
    connector: tuple[FakeConnector, str],
) -> None:
    fake, url = connector

    response = await client.post(
        "/api/messages", json=message(url, "hi"), headers=bearer(issuer, url)
    )

    assert response.status in (200, 201), await response.text()
    [welcome] = fake.cards()
    assert "Welcome to crmcard" in str(welcome.card)
    issued_to_the_bot(bot_entra, welcome.authorization)
    assert len(bot_entra.token_requests()) == 1


async def test_a_webhooks_card_carries_it_and_it_is_reused(
    client: Client,
    issuer: LocalIssuer,
    bot_entra: FakeEntra,
    connector: tuple[FakeConnector, str],
) -> None:
    fake, url = connector
    response = await client.post("/api/messages", json=installed(url), headers=bearer(issuer, url))
    assert response.status in (200, 201), await response.text()
    before = len(fake.sent)

    for event in ("assigned", "connected"):
        response = await client.post(
            "/api/interactions",
            json=interaction_event("call-1", event),
            headers={"X-Api-Key": API_KEY},
        )
        assert response.status == 202, await response.text()
    await fake.wait_until(lambda sent: any(s.method == "PUT" for s in sent[before:]))

    proactive = fake.sent[before:]
    assert {sent.method for sent in proactive} == {"POST", "PUT"}, "posted, then updated"
    [token] = {sent.authorization for sent in proactive}  # asked for once, sent with each
    issued_to_the_bot(bot_entra, token)


async def test_a_national_cloud_authority_is_taken_with_the_bots_tenant(
    tmp_path: Path, issuer: LocalIssuer
) -> None:
    """A public host needs no allowance; the SDK's credentials get the tenant's authority
    and the scope named (made without signing in: nothing reaches the cloud here)."""
    settings = bot_settings(
        tmp_path,
        issuer,
        bot_login_url="https://login.microsoftonline.us/",
        bot_oauth_scope="https://api.botframework.us",
    )
    assert settings.bot_login_authority == f"https://login.microsoftonline.us/{APP_TENANT}"
    clients = create_adapter(settings).bot_framework_authentication
    try:
        connector = await clients.connector(APP_ID, "https://smba.infra.gov.teams.microsoft.us/")
    finally:
        await clients.close()
    credentials = connector.config.credentials
    assert credentials.oauth_endpoint == f"https://login.microsoftonline.us/{APP_TENANT}"
    assert credentials.oauth_scope == "https://api.botframework.us"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"bot_login_url": "http://login.contoso.example"}, "must be an https URL"),
        ({"bot_login_url": "https://127.0.0.1:8443"}, "127.0.0.1, which is a loopback address"),
        ({"bot_login_url": "https://localhost:8443"}, "localhost, which is a loopback name"),
        ({"bot_login_url": "https://10.1.2.3"}, "10.1.2.3, which is a private address"),
        ({"bot_login_url": "https://2130706433"}, "not a host name or a canonical IP address"),
        ({"bot_login_url": "https://user:pw@login.contoso.example"}, "no user name, password"),
        (
            {"bot_login_url": "https://login.contoso.example", "app_type": "UserAssignedMSI"},
            "UserAssignedMSI identity's tokens come from Azure's managed identity endpoint",
        ),
        (
            {"bot_login_url": "https://login.contoso.example", "app_id": ""},
            "none is configured (MicrosoftAppId)",
        ),
        (
            {"bot_login_url": "https://login.contoso.example", "app_tenant_id": ""},
            "MicrosoftAppTenantId is not set",
        ),
    ],
)
def test_a_login_url_that_could_leak_the_secret_is_refused(
    tmp_path: Path, issuer: LocalIssuer, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match="CRMCARD_BOT_LOGIN_URL") as refused:
        bot_settings(tmp_path, issuer, **overrides)
    assert reason in str(refused.value)


def test_the_allowance_lets_a_local_authority_in_but_never_http(
    tmp_path: Path, issuer: LocalIssuer
) -> None:
    local = bot_settings(
        tmp_path, issuer, bot_login_url="https://127.0.0.1:8443", bot_login_allow_local=True
    )
    assert local.bot_login_authority == f"https://127.0.0.1:8443/{APP_TENANT}"
    with pytest.raises(ValidationError, match="must be an https URL"):
        bot_settings(
            tmp_path, issuer, bot_login_url="http://127.0.0.1:8443", bot_login_allow_local=True
        )


def test_serve_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("CRMCARD_", "MICROSOFT"))
    }
    env |= {
        "MicrosoftAppId": APP_ID,
        "MicrosoftAppPassword": APP_SECRET,
        "MicrosoftAppTenantId": APP_TENANT,
        "PYTHONPATH": str(REPO),
        "CRMCARD_DATA_DIR": str(tmp_path / "data"),
        "CRMCARD_PORT": "0",
        "CRMCARD_BOT_LOGIN_URL": "https://127.0.0.1:8443",
    }
    started = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "CRMCARD_BOT_LOGIN_URL 'https://127.0.0.1:8443' names 127.0.0.1" in started.stderr
    assert "CRMCARD_BOT_LOGIN_ALLOW_LOCAL=true" in started.stderr
