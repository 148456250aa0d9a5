"""Agents run search and create workflows from the customer card (Action.Execute)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.activities import message
from tests.bot.test_customer_card_flow import (
    Client,
    actions,
    install,
    invoke,
    start_call,
    texts,
)
from tests.connector import FakeConnector
from tests.workflows.test_workflows_http import CREATE_CASE, SEARCH, UPDATE_CASE

ADMIN = {"X-Admin-Key": "demo-admin-key"}


async def open_workflows(client: Client, url: str, fake: FakeConnector) -> dict[str, Any]:
    for workflow_id, body in (("find", SEARCH), ("new-case", CREATE_CASE)):
        response = await client.put(f"/api/admin/workflows/{workflow_id}", json=body, headers=ADMIN)
        assert response.status == 200, await response.text()
    await install(client, url)
    await start_call(client)
    [button] = actions(fake.cards()[-1].card, "workflows")
    listed: dict[str, Any] = (await invoke(client, url, "workflows", button["data"]))["value"]
    return listed


async def test_workflow_card_lists_inputs_per_workflow(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    listed = await open_workflows(bot_client, url, fake)
    assert "Workflows for Edward Ferrars" in texts(listed)
    inputs = {i["id"]: i for i in _inputs(listed)}
    assert {"wf.find.email", "wf.find.name", "wf.new-case.subject"} <= set(inputs)
    assert inputs["wf.new-case.subject"]["isRequired"] is True
    assert inputs["wf.new-case.priority"]["value"] == "Medium"
    assert {a["data"]["workflowId"] for a in actions(listed, "runWorkflow")} == {"find", "new-case"}


async def test_search_then_create_from_the_card(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    listed = await open_workflows(bot_client, url, fake)
    runs = {a["data"]["workflowId"]: a["data"] for a in actions(listed, "runWorkflow")}
    # Teams submits every input of the card with the clicked action.
    submitted = {"wf.find.email": "", "wf.find.name": "Marianne", "wf.new-case.subject": ""}
    found = (await invoke(bot_client, url, "runWorkflow", {**runs["find"], **submitted}))["value"]
    assert "1 record found" in texts(found) and "Marianne Dashwood" in texts(found)

    created_inputs = {**submitted, "wf.new-case.subject": "Pianoforte tuning"}
    data = {**runs["new-case"], **created_inputs}
    created = (await invoke(bot_client, url, "runWorkflow", data))["value"]
    assert "created “Pianoforte tuning”, pinned and linked" in texts(created)
    assert [a for a in actions(created, "unlink") if "case:" in a["data"]["record"]]
    # Teams retries an unanswered invoke: the same click does not create a second case.
    again = (await invoke(bot_client, url, "runWorkflow", data))["value"]
    assert texts(again).count('"Pianoforte tuning"') == 1


async def test_missing_required_input_is_a_notice_not_a_crash(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    listed = await open_workflows(bot_client, url, fake)
    runs = {a["data"]["workflowId"]: a["data"] for a in actions(listed, "runWorkflow")}
    body = await invoke(bot_client, url, "runWorkflow", {**runs["new-case"]})
    assert body["statusCode"] == 200
    assert "subject" in texts(body["value"])


@pytest.mark.parametrize(
    ("choose", "wanted"),
    [
        ("sprache de", "Der Workflow 'new-case' braucht subject"),
        ("langue fr", "Le workflow 'new-case' a besoin de subject"),
    ],
)
async def test_a_refused_workflow_run_says_why_in_the_agents_language(
    bot_client: Client, connector: tuple[FakeConnector, str], choose: str, wanted: str
) -> None:
    fake, url = connector
    await install(bot_client, url)
    await bot_client.post("/api/messages", json=message(url, choose))
    listed = await open_workflows(bot_client, url, fake)
    runs = {a["data"]["workflowId"]: a["data"] for a in actions(listed, "runWorkflow")}
    body = await invoke(bot_client, url, "runWorkflow", {**runs["new-case"]})
    assert wanted in texts(body["value"]) and "needs subject" not in texts(body["value"])


async def test_no_workflows_button_when_only_record_and_timeline_workflows_exist(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """Update and timeline workflows run on a record or at write-back, never from the
    card: with only those, the card offers no Workflows button."""
    fake, url = connector
    for workflow_id, body in (("log", TIMELINE), ("close", UPDATE_CASE)):
        response = await bot_client.put(
            f"/api/admin/workflows/{workflow_id}", json=body, headers=ADMIN
        )
        assert response.status == 200, await response.text()
    await install(bot_client, url)
    await start_call(bot_client)
    card = fake.cards()[-1].card
    assert actions(card, "workflows") == []
    response = await bot_client.put("/api/admin/workflows/find", json=SEARCH, headers=ADMIN)
    assert response.status == 200
    [refresh] = actions(card, "refreshCard")
    shown = (await invoke(bot_client, url, "refreshCard", refresh["data"]))["value"]
    assert len(actions(shown, "workflows")) == 1


TIMELINE = {"type": "timeline", "subject": "Call"}


def _inputs(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type") == "Input.Text":
            found.append(card)
        for value in card.values():
            found.extend(_inputs(value))
    elif isinstance(card, list):
        for item in card:
            found.extend(_inputs(item))
    return found


async def test_the_card_offers_workflows_at_once_after_the_admin_adds_or_deletes_them(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """Whether the tenant has workflows is kept a few seconds per instance; a change made
    through this instance is seen on the very next card."""
    fake, url = connector
    await install(bot_client, url)
    card = await _card_after_call(bot_client, fake)
    assert not actions(card, "workflows")
    response = await bot_client.put("/api/admin/workflows/find", json=SEARCH, headers=ADMIN)
    assert response.status == 200, await response.text()
    refreshed = (await invoke(bot_client, url, "refreshCard", _data(card)))["value"]
    assert actions(refreshed, "workflows")
    response = await bot_client.delete("/api/admin/workflows/find", headers=ADMIN)
    assert response.status in (200, 204), await response.text()
    again = (await invoke(bot_client, url, "refreshCard", _data(refreshed)))["value"]
    assert not actions(again, "workflows")


async def _card_after_call(client: Client, fake: FakeConnector) -> dict[str, Any]:
    await start_call(client)
    card = fake.cards()[-1].card
    assert card is not None
    return card


def _data(card: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = card["refresh"]["action"]["data"]
    return data
