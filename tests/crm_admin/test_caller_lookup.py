"""The tenant's default region reaches the CRM: a caller is found in a connected CRM that
keeps the number in the tenant's national form, and a look-alike is not shown, over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from bot.settings import Settings
from bot.web.app import create_app
from tests.crm.fakes.zendesk import ZendeskFake

ADMIN = {"X-Admin-Key": "admin-a"}
API = {"X-Api-Key": "api-a"}


async def test_a_berlin_caller_is_found_as_stored_in_the_crm(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], admin_settings: Settings
) -> None:
    fake = ZendeskFake(seed=False)
    fake.add_user("Anna Schmidt", "anna@example.de", "030 123456")
    fake.add_user("Not Anna", "other@example.de", "+49 89 30123456")  # shares the suffix
    server = await aiohttp_server(fake.app)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(admin_settings))
    config = {
        "settingsId": "zd",
        "kind": "zendesk",
        "displayName": "Zendesk",
        "baseUrl": str(server.make_url("")).rstrip("/"),
        "auth": {"type": "api_key", "username": "agent@example.com"},
        "secret": "zd-api-token",
    }
    created = await client.post("/api/admin/crms", json=config, headers=ADMIN)
    assert created.status == 201, await created.text()
    region = await client.put("/api/admin/tenant", json={"defaultRegion": "DE"}, headers=ADMIN)
    assert region.status == 200, await region.text()

    response = await client.post("/api/lookup", json={"phone": "030 123456"}, headers=API)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["identified"] is True and answer["name"] == "Anna Schmidt"
    assert [r["title"] for r in answer["records"]] == ["Anna Schmidt"]
    [search] = fake.requests_to("/api/v2/search.json")
    assert search.query["query"] == "type:user phone:*30123456"
