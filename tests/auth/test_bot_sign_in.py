"""Bot SSO: when a delegated CRM needs the agent's token and crmcard holds none, the bot
asks Teams for it -- an OAuthCard with ``tokenExchangeResource`` in the personal chat, a
``silentAuth`` result in the message extension -- and keeps what Teams hands over
(``signin/tokenExchange``, the query's ``authentication.token``, the sign-in page and
``signin/verifyState``). All through the real HTTP routes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from botframework.connector.auth import MicrosoftAppCredentials

from bot.web.app import create_app
from tests.activities import activity
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import AGENT_A, BOT_APP_ID, PUBLIC_URL
from tests.auth.test_delegated_access import (  # noqa: F401  (fixtures)
    ADMIN,
    agent_token,
    callers,
    dataverse,
    delegated,
    settings_for,
    token_exchange,
    trust_local_entra,
)
from tests.connector import FakeConnector
from tests.crm.fakes.dynamics import FakeDataverse
from tests.crm.fakes.entra import FakeEntra

Client = TestClient[Any, Any]
OAUTH_CARD = "application/vnd.microsoft.card.oauth"
RESOURCE = "api://crmcard.example.com/app-id"  # the SSO app's Application ID URI


def from_agent(sent: dict[str, Any], tenant: str, user: str = AGENT_A) -> dict[str, Any]:
    sent["from"] = {**sent["from"], "aadObjectId": user, "id": f"29:{user}"}
    sent["conversation"]["tenantId"] = tenant
    sent["channelData"] = {"tenant": {"id": tenant}}
    return sent


def oauth_cards(connector: FakeConnector) -> list[dict[str, Any]]:
    return [
        attachment["content"]
        for sent in connector.sent
        for attachment in sent.activity.get("attachments") or []
        if attachment.get("contentType") == OAUTH_CARD
    ]


class Bot:
    def __init__(self, client: Client, url: str, issuer: LocalIssuer, tenant: str) -> None:
        self.client, self.url, self.tenant = client, url, tenant
        token = issuer.mint(audience=BOT_APP_ID, service_url=url)
        self.channel = {"Authorization": f"Bearer {token}"}

    async def post(self, sent: dict[str, Any]) -> Any:
        response = await self.client.post(
            "/api/messages", json=from_agent(sent, self.tenant), headers=self.channel
        )
        assert response.status in (200, 201, 412), await response.text()
        return response

    async def say(self, text: str) -> None:
        await self.post(activity(self.url, "message", text=text))

    async def search(self, text: str, **value: Any) -> dict[str, Any]:
        query = {
            "commandId": "searchRecords",
            "parameters": [{"name": "query", "value": text}],
            "queryOptions": {"skip": 0, "count": 25},
            **value,
        }
        sent = activity(self.url, "invoke", name="composeExtension/query", value=query)
        response = await self.post(sent)
        assert response.status == 200
        body: dict[str, Any] = (await response.json())["composeExtension"]
        return body


@pytest.fixture(autouse=True)
def outbound_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot's own token for its replies to the (local) Bot Connector."""

    def token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        return "outbound-token-from-a-fake-entra"

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", token)


@pytest.fixture
async def bot(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    connector: tuple[FakeConnector, str],
) -> Bot:
    """The bot as :func:`settings_for` configures it, its agent chatting in personal chat."""
    client: Client = await aiohttp_client(create_app(settings_for(tmp_path, issuer, entra)))
    return Bot(client, connector[1], issuer, entra.tenant)


async def connect_delegated(bot: Bot, entra: FakeEntra, org: FakeDataverse) -> None:
    created = await bot.client.post("/api/admin/crms", json=delegated(entra, org), headers=ADMIN)
    assert created.status == 201, await created.text()


async def test_the_personal_chat_gets_an_oauth_card_until_teams_hands_the_token_over(
    bot: Bot,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,  # noqa: F811
    connector: tuple[FakeConnector, str],
    trust_local_entra: None,  # noqa: F811
) -> None:
    fake, url = connector
    await bot.say("help")
    assert fake.sent and oauth_cards(fake) == [], "no delegated CRM: nothing to sign in to"

    await connect_delegated(bot, entra, dataverse)
    await bot.say("help")
    [card] = oauth_cards(fake)
    assert card["connectionName"] == "crmcard-sso" and "Dynamics" in card["text"]
    assert card["tokenExchangeResource"]["uri"] == RESOURCE and card["tokenExchangeResource"]["id"]
    [button] = card["buttons"]
    assert button["type"] == "signin"
    assert button["value"] == f"{PUBLIC_URL}/tab/sign-in?locale=en"

    refused = await bot.post(token_exchange(url, entra.tenant, "not-a-token"))
    assert refused.status == 412  # Teams shows the card's sign-in button instead
    await bot.say("help")
    assert len(oauth_cards(fake)) == 2, "still not signed in: asked again"

    token = agent_token(issuer, entra)
    exchanged = await bot.post(token_exchange(url, entra.tenant, token))
    assert exchanged.status == 200, await exchanged.text()
    await bot.say("help")
    await bot.say("karte")
    assert len(oauth_cards(fake)) == 2, "signed in: no more OAuthCards"


async def test_the_message_extension_asks_for_silent_sign_in_then_searches_as_the_agent(
    bot: Bot,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,  # noqa: F811
    trust_local_entra: None,  # noqa: F811
) -> None:
    await connect_delegated(bot, entra, dataverse)

    asked = await bot.search("+1 415 555 0123")
    assert asked["type"] == "silentAuth"  # Teams tries SSO, then sends the query again
    [action] = asked["suggestedActions"]["actions"]
    assert action["type"] == "openUrl" and action["value"].startswith(f"{PUBLIC_URL}/tab/sign-in")
    link = activity(bot.url, "invoke", name="composeExtension/queryLink", value={"url": "x"})
    unfurl = await bot.post(link)
    assert (await unfurl.json())["composeExtension"]["type"] == "silentAuth"
    assert dataverse.requests == []

    bad = agent_token(issuer, entra, audience="someone-else")
    refused = await bot.search("+1 415 555 0123", authentication={"token": bad})
    assert refused["type"] == "auth"  # SSO did not work: the agent signs in by the link
    assert refused["suggestedActions"]["actions"][0]["value"] == action["value"]

    token = agent_token(issuer, entra)
    found = await bot.search("+1 415 555 0123", authentication={"token": token})
    assert found["type"] == "result", found
    assert [a["preview"]["content"]["title"] for a in found["attachments"]] == ["Jane Doe"]
    assert set(callers(entra, dataverse)) == {f"user:{token}"}  # as the agent, not crmcard

    again = await bot.search("+1 415 555 0123")  # the token is kept: no sign-in asked
    assert again["type"] == "result"


async def test_the_sign_in_page_hands_the_token_over_and_verify_state_finds_it(
    bot: Bot,
    issuer: LocalIssuer,
    entra: FakeEntra,
    dataverse: FakeDataverse,  # noqa: F811
) -> None:
    await connect_delegated(bot, entra, dataverse)
    verify = activity(bot.url, "invoke", name="signin/verifyState", value={"state": "signed-in"})
    assert (await bot.post(verify)).status == 412

    page = await bot.client.get("/tab/sign-in?locale=de-DE")
    assert page.status == 200 and page.content_type == "text/html"
    text = await page.text()
    assert "<title>Bei crmcard anmelden</title>" in text and 'lang="de"' in text
    assert "frame-ancestors" in page.headers["Content-Security-Policy"]

    refused = await bot.client.post("/api/tab/sign-in")
    assert refused.status == 401
    token = agent_token(issuer, entra)
    signed = await bot.client.post("/api/tab/sign-in", headers={"Authorization": f"Bearer {token}"})
    assert signed.status == 200, await signed.text()
    assert (await signed.json())["signedIn"] is True
    assert (await bot.post(verify)).status == 200
    assert await bot.search("+1 415 555 0123") != {"type": "silentAuth"}
