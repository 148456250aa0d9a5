"""Caller lookup for the IVR, routing rules and the screen pop, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.activities import installed, interaction_event
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
KEY = {"X-Api-Key": "demo-key"}
ADMIN = {"X-Admin-Key": "demo-admin-key"}

RULES = {
    "rules": [
        {
            "name": "escalated cases",
            "when": [{"field": "case.status", "value": "Escalated"}],
            "queue": "Escalations",
            "skills": ["retention"],
        },
        {
            "name": "gold accounts",
            "when": [{"field": "account.tier", "op": "in", "values": ["Gold", "Platinum"]}],
            "queue": "Gold Support",
            "skills": ["priority", "english"],
        },
    ],
    "defaultQueue": "General",
    "defaultSkills": ["english"],
}


async def put_rules(client: Client, rules: dict[str, Any] = RULES) -> None:
    response = await client.put("/api/admin/routing", json=rules, headers=ADMIN)
    assert response.status == 200, await response.text()


async def look_up(client: Client, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = await client.post("/api/lookup", json=body, headers=KEY)
    assert response.status == status, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def test_identified_by_phone_with_name_and_routing(bot_client: Client) -> None:
    await put_rules(bot_client)
    answer = await look_up(bot_client, {"phone": "+1 555 0100"})
    assert answer["identified"] is True
    assert answer["name"] == "Edward Ferrars"
    keys = [r["key"] for r in answer["records"]]
    assert "demo:contact:C-2001" in keys and "demo:account:A-1001" in keys
    assert answer["routing"] == {
        "queue": "Gold Support",
        "skills": ["priority", "english"],
        "rule": "gold accounts",
        "tier": "Gold",
    }
    assert answer["lookupId"] and answer["ask"] == []


async def test_case_number_routes_on_the_case_and_greets_its_contact(bot_client: Client) -> None:
    await put_rules(bot_client)
    answer = await look_up(bot_client, {"caseNumber": "CS-4004"})
    assert answer["identified"] is True
    assert answer["name"] == "Marianne Dashwood"
    assert answer["routing"]["queue"] == "Escalations"


async def test_account_number_lookup(bot_client: Client) -> None:
    answer = await look_up(bot_client, {"accountNumber": "A-1004"})
    assert answer["identified"] is True
    assert answer["name"] == "Delaford Parsonage Trust"
    assert answer["routing"]["queue"] == "General"  # no rules yet: the default


async def test_not_identified_asks_for_other_identifiers(bot_client: Client) -> None:
    answer = await look_up(bot_client, {"phone": "+1 555 0999"})
    assert answer["identified"] is False
    assert answer["name"] is None and answer["records"] == [] and answer["lookupId"] is None
    assert answer["ask"] == ["accountNumber", "email", "caseNumber"]
    again = await look_up(bot_client, {"accountNumber": "A-9999"})
    assert again["identified"] is False and "phone" in again["ask"]


async def test_bad_identifiers_are_refused(bot_client: Client) -> None:
    for body in (
        {"phone": "not a phone"},
        {"email": "nobody"},
        {},
        {"phone": "+1 555 0100", "email": "edward.ferrars@example.com"},
        {"fax": "+1 555 0100"},
    ):
        response = await bot_client.post("/api/lookup", json=body, headers=KEY)
        assert response.status == 422, (body, await response.text())
    response = await bot_client.post(
        "/api/lookup", data=b"{", headers={"Content-Type": "application/json", **KEY}
    )
    assert response.status == 400


async def test_unknown_key_is_401(bot_client: Client) -> None:
    for headers in ({"X-Api-Key": "nope"}, {}):
        response = await bot_client.post(
            "/api/lookup", json={"phone": "+15550100"}, headers=headers
        )
        assert response.status == 401
    response = await bot_client.get("/api/admin/routing", headers={"X-Admin-Key": "nope"})
    assert response.status == 401


async def test_routing_rules_are_validated(bot_client: Client) -> None:
    six = {"rules": [{"name": "x", "queue": "Q", "skills": ["a", "b", "c", "d", "e", "f"]}]}
    response = await bot_client.put("/api/admin/routing", json=six, headers=ADMIN)
    assert response.status == 422
    assert "at most 5 skills" in (await response.json())["detail"]
    empty = {"rules": [{"name": "x", "queue": "Q", "skills": ["a", " "]}]}
    response = await bot_client.put("/api/admin/routing", json=empty, headers=ADMIN)
    assert response.status == 422
    response = await bot_client.get("/api/admin/routing", headers=ADMIN)
    assert (await response.json())["rules"] == []  # nothing refused was kept
    await put_rules(bot_client)
    response = await bot_client.get("/api/admin/routing", headers=ADMIN)
    assert [r["name"] for r in (await response.json())["rules"]] == [
        "escalated cases",
        "gold accounts",
    ]


def _find(node: Any, element_id: str) -> Any:
    if isinstance(node, dict):
        if node.get("id") == element_id:
            return node
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            found = _find(item, element_id)
            if found is not None:
                return found
    return None


async def test_screen_pop_pins_the_looked_up_record(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    response = await bot_client.post("/api/messages", json=installed(url))
    assert response.status in (200, 201)
    await put_rules(bot_client)
    answer = await look_up(bot_client, {"phone": "+1 555 0100"})
    event = interaction_event("call-pop", "assigned")
    event["lookupId"] = answer["lookupId"]
    event["queue"] = answer["routing"]["queue"]
    response = await bot_client.post("/api/interactions", json=event, headers=KEY)
    assert response.status == 202, await response.text()
    card = fake.cards()[-1].card
    text = json.dumps(card, ensure_ascii=False)
    assert "Routed: Gold Support · priority, english · Gold" in text
    current = _find(card, "section-current")
    assert current is not None
    current_text = json.dumps(current)
    assert "demo:contact:C-2001" in current_text
    assert '"verb": "unlink"' in current_text  # pinned, so linked


async def test_unknown_lookup_id_still_opens_the_card(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await bot_client.post("/api/messages", json=installed(url))
    event = interaction_event("call-nopop", "assigned")
    event["lookupId"] = "no-such-lookup"
    response = await bot_client.post("/api/interactions", json=event, headers=KEY)
    assert response.status == 202, await response.text()
    text = json.dumps(fake.cards()[-1].card, ensure_ascii=False)
    assert "Routed:" not in text and "Current interaction" in text


async def test_an_admin_tries_the_rules_on_the_admin_door(bot_client: Client) -> None:
    await put_rules(bot_client)
    response = await bot_client.post(
        "/api/admin/lookup", json={"phone": "+1 555 0100"}, headers=ADMIN
    )
    answer = await response.json()
    assert response.status == 200
    assert answer["routing"]["rule"] == "gold accounts"
    assert answer["name"] == "Edward Ferrars"
    platform = await bot_client.post(
        "/api/admin/lookup", json={"phone": "+1 555 0100"}, headers=KEY
    )
    assert platform.status == 401  # the platform's key is not an admin's
