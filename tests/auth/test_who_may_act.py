"""Only an interaction's agent, or a supervisor, acts on its card, through any door.

Interaction ids come from the contact-center platform and are guessable (``call-42``):
a colleague in the same tenant who sends a card action for someone else's interaction,
through the bot or through the tab, is refused with a 403 and nothing is stored. A user
holding the tenant's ``crmcard.Supervisor`` app role may act: the tab reads the role from
the SSO token, and the bot honours it for as long as that token was valid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.services import keys
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import card_action, interaction_event
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import (
    AGENT_A,
    AGENT_B,
    BOT_APP_ID,
    TENANT_A,
    bearer,
    sso_settings,
    sso_token,
)
from tests.bot.test_customer_card_flow import call_card, record_action
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
SUPERVISOR = "c0c0c0c0-0000-4000-8000-0000000000c1"


def as_user(activity: dict[str, Any], user: str, tenant: str | None = None) -> dict[str, Any]:
    activity["from"] = {**activity["from"], "aadObjectId": user, "id": f"29:{user}"}
    if tenant is not None:
        activity["conversation"]["tenantId"] = tenant
        activity["channelData"] = {"tenant": {"id": tenant}}
    return activity


async def stored_interaction(client: Client, tenant: str, interaction_id: str) -> bytes:
    assert client.app is not None
    document = await client.app[CONTEXT].store.read(keys.interaction(tenant, interaction_id))
    assert document is not None
    return document.data


async def test_through_the_bot_another_agent_is_refused_and_nothing_changes(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    card = await call_card(bot_client, url, fake)
    link = record_action(card, "link", "contact:C-2001")
    before = await stored_interaction(bot_client, "demo-tenant", "call-1")
    for verb, data in (("link", link["data"]), ("refreshCard", {**link["data"]})):
        activity = as_user(card_action(url, verb, data), "someone-else")
        response = await bot_client.post("/api/messages", json=activity)
        assert response.status == 200  # Universal Actions answer 200 with a typed body
        body = await response.json()
        assert body["type"] == "application/vnd.microsoft.error"
        assert body["statusCode"] == 403
        assert "another agent" in body["value"]["message"]
    assert await stored_interaction(bot_client, "demo-tenant", "call-1") == before


@pytest.fixture
async def sso_client(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer
) -> AsyncIterator[Client]:
    yield await aiohttp_client(create_app(sso_settings(tmp_path, issuer, tenant_gate=False)))


async def test_a_supervisor_acts_through_tab_and_bot_a_colleague_does_not(
    sso_client: Client, issuer: LocalIssuer, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    for event in ("assigned", "connected"):
        payload = interaction_event("call-7", event, agent=AGENT_A)
        response = await sso_client.post(
            "/api/interactions", json=payload, headers={"X-Api-Key": "key-a"}
        )
        assert response.status == 202, await response.text()
    mine = bearer(sso_token(issuer, agent=AGENT_A))
    card = (await (await sso_client.get("/api/tab/card", headers=mine)).json())["card"]
    link = record_action(card, "link", "contact:C-2001")
    before = await stored_interaction(sso_client, TENANT_A, "call-7")

    colleague = bearer(sso_token(issuer, agent=AGENT_B))
    body = {"verb": "link", "data": link["data"]}
    response = await sso_client.post("/api/tab/actions", json=body, headers=colleague)
    assert response.status == 403
    assert "another agent" in await response.text()
    assert await stored_interaction(sso_client, TENANT_A, "call-7") == before

    supervisor = bearer(sso_token(issuer, agent=SUPERVISOR, roles=["crmcard.Supervisor"]))
    response = await sso_client.post("/api/tab/actions", json=body, headers=supervisor)
    assert response.status == 200, await response.text()
    linked = (await response.json())["card"]
    unlink = record_action(linked, "unlink", "contact:C-2001")

    # Through the bot the supervisor's role is the one their SSO token showed the tab.
    def bot_action(user: str) -> dict[str, Any]:
        return as_user(card_action(url, "unlink", unlink["data"]), user, tenant=TENANT_A)

    token = {"Authorization": f"Bearer {issuer.mint(audience=BOT_APP_ID, service_url=url)}"}
    response = await sso_client.post("/api/messages", json=bot_action(AGENT_B), headers=token)
    assert (await response.json())["statusCode"] == 403
    response = await sso_client.post("/api/messages", json=bot_action(SUPERVISOR), headers=token)
    answer = await response.json()
    assert answer["statusCode"] == 200, answer
    assert record_action(answer["value"], "link", "contact:C-2001")
