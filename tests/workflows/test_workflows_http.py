"""The workflows API over HTTP: admin definitions, execute by a contact-center script,
results on the agent's card, idempotent retries, Update refused on a Zendesk kind."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.interactions import Interaction
from bot.services import keys, outbox
from bot.services.card_view import build_view
from bot.services.cards import get_card
from bot.services.store import read_model
from tests.activities import interaction_event
from tests.workflows.conftest import (
    ADMIN,
    API,
    Client,
    CountingDemo,
    Directory,
    ZendeskKind,
    context,
)

SEARCH = {
    "type": "search",
    "name": "Find by email or name",
    "criteria": [
        {"by": "email", "input": "email"},
        {"by": "name", "input": "name"},
        {"by": "custom", "input": "exactEmail", "field": "email"},
    ],
    "recordTypes": ["contact"],
}
CREATE_CASE = {
    "type": "create",
    "variant": "standard",
    "recordType": "case",
    "fields": ["subject", "priority"],
    "required": ["subject"],
    "defaults": {"priority": "Medium"},
}
UPDATE_CASE = {"type": "update", "recordType": "case", "fields": ["status", "priority"]}


async def put(client: Client, workflow_id: str, body: dict[str, Any]) -> Any:
    response = await client.put(f"/api/admin/workflows/{workflow_id}", json=body, headers=ADMIN)
    return response.status, await response.json()


async def run(client: Client, workflow_id: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"/api/workflows/{workflow_id}/execute", json=body, headers=API)
    return response.status, await response.json()


async def start_call(client: Client, interaction_id: str = "call-1") -> None:
    for second, event in enumerate(("assigned", "connected")):
        payload = interaction_event(
            interaction_id, event, occurred_at=f"2026-11-23T08:00:0{second}Z"
        )
        response = await client.post("/api/interactions", json=payload, headers=API)
        assert response.status == 202, await response.text()


async def sections(client: Client, interaction_id: str = "call-1") -> dict[str, list[str]]:
    ctx = context(client)
    interaction = await read_model(
        ctx.store, keys.interaction("demo-tenant", interaction_id), Interaction
    )
    assert interaction is not None
    card = await get_card(ctx.store, "demo-tenant", interaction.card_id)
    assert card is not None
    view = build_view(card, interaction, crm_connected=True)
    return {s["id"]: [r["key"] for r in s["records"]] for s in view["sections"]}


async def test_admin_keeps_validated_definitions(client: Client) -> None:
    assert (await put(client, "find", SEARCH))[0] == 200
    assert (await put(client, "new-case", CREATE_CASE))[0] == 200
    listed = await client.get("/api/admin/workflows", headers=ADMIN)
    assert [w["id"] for w in (await listed.json())["workflows"]] == ["find", "new-case"]
    got = await client.get("/api/admin/workflows/find", headers=ADMIN)
    assert (await got.json())["criteria"][2]["field"] == "email"
    deleted = await client.delete("/api/admin/workflows/find", headers=ADMIN)
    assert deleted.status == 204
    assert (await client.get("/api/admin/workflows/find", headers=ADMIN)).status == 404
    assert (await client.delete("/api/admin/workflows/find", headers=ADMIN)).status == 404


async def test_admin_api_needs_the_admin_key(client: Client) -> None:
    assert (await client.get("/api/admin/workflows", headers=API)).status == 401
    response = await client.put("/api/admin/workflows/x", json=SEARCH, headers=API)
    assert response.status == 401


async def test_invalid_definitions_are_refused_when_saved(client: Client) -> None:
    status, body = await put(client, "bad", {**CREATE_CASE, "fields": ["subject", "Custom__c"]})
    assert status == 422 and "not standard case fields" in body["detail"]
    status, body = await put(client, "bad", {**CREATE_CASE, "recordType": "Invoice__c"})
    assert status == 422 and "custom create workflow" in body["detail"]
    status, _ = await put(
        client,
        "bad",
        {
            **CREATE_CASE,
            "variant": "custom",
            "recordType": "Invoice__c",
            "fields": ["subject", "priority", "Region__c"],
        },
    )
    assert status == 200
    status, body = await put(client, "bad", {**UPDATE_CASE, "settingsId": "zd"})
    assert status == 422 and "Salesforce and Dynamics only" in body["detail"]
    status, body = await put(client, "bad", {**SEARCH, "settingsId": "nowhere"})
    assert status == 422 and "not connected" in body["detail"]
    status, body = await put(client, "bad", {"type": "delete"})
    assert status == 422
    status, body = await put(client, "other", {**SEARCH, "id": "not-other"})
    assert status == 422
    assert (await client.get("/api/admin/workflows/bad", headers=ADMIN)).status == 200


async def test_search_results_appear_under_related_interactions(client: Client) -> None:
    await put(client, "find", SEARCH)
    await start_call(client)
    status, body = await run(
        client, "find", {"interactionId": "call-1", "inputs": {"email": "Marianne@Example.org"}}
    )
    assert status == 200, body
    assert [r["key"] for r in body["records"]] == ["demo:contact:C-2003"]
    assert body["records"][0]["title"] == "Marianne Dashwood"
    shown = await sections(client)
    assert "demo:contact:C-2003" in shown["related"]
    assert "demo:contact:C-2003" not in shown["current"]


async def test_search_custom_criterion_narrows_results(client: Client) -> None:
    await put(client, "find", SEARCH)
    status, body = await run(
        client, "find", {"inputs": {"name": "Dashwood", "exactEmail": "marianne@example.org"}}
    )
    assert status == 200
    assert [r["title"] for r in body["records"]] == ["Marianne Dashwood"]
    status, body = await run(client, "find", {"inputs": {"exactEmail": "marianne@example.org"}})
    assert status == 422 and "at least one of the inputs" in body["detail"]


async def test_created_record_is_pinned_under_current_interaction(
    client: Client, demo: CountingDemo
) -> None:
    await put(client, "new-case", CREATE_CASE)
    await start_call(client)
    status, body = await run(
        client, "new-case", {"interactionId": "call-1", "fields": {"subject": "Broken piano"}}
    )
    assert status == 200, body
    [record] = body["records"]
    assert record["type"] == "case" and record["title"] == "Broken piano"
    assert record["fields"]["priority"] == "Medium"
    shown = await sections(client)
    assert shown["current"] == [record["key"]]
    interaction = await read_model(
        context(client).store, keys.interaction("demo-tenant", "call-1"), Interaction
    )
    assert interaction is not None and interaction.linked_keys() == [record["key"]]
    assert len(demo.created) == 1


async def test_a_record_created_after_the_write_back_is_written_back_too(
    client: Client, demo: CountingDemo
) -> None:
    """The script creates the case once the call is done: pinned, so linked, it gets the
    interaction's write-back like the records linked before."""
    await put(client, "new-case", CREATE_CASE)
    await start_call(client)
    for event, minute in (("ended", 5), ("acw-completed", 6)):
        payload = interaction_event("call-1", event, occurred_at=f"2026-11-23T08:0{minute}:00Z")
        response = await client.post("/api/interactions", json=payload, headers=API)
        assert response.status == 202, await response.text()
    status, body = await run(
        client, "new-case", {"interactionId": "call-1", "fields": {"subject": "Follow-up"}}
    )
    assert status == 200, body
    [record] = body["records"]
    items = await outbox.items_for(context(client).store, "demo-tenant", "call-1")
    assert [item.record.key for item in items] == [record["key"]]


async def test_create_inputs_are_checked(client: Client) -> None:
    await put(client, "new-case", CREATE_CASE)
    status, body = await run(client, "new-case", {"fields": {"priority": "High"}})
    assert status == 422 and "needs subject" in body["detail"]
    status, body = await run(client, "new-case", {"fields": {"subject": "x", "status": "New"}})
    assert status == 422 and "does not set status" in body["detail"]


async def test_retry_with_the_same_request_id_creates_once(
    client: Client, demo: CountingDemo
) -> None:
    await put(client, "new-case", CREATE_CASE)
    await start_call(client)
    request = {"interactionId": "call-1", "requestId": "r-1", "fields": {"subject": "Once"}}
    first = await run(client, "new-case", request)
    second = await run(client, "new-case", request)
    assert first[0] == second[0] == 200
    assert second[1]["replayed"] is True
    assert second[1]["records"] == first[1]["records"]
    assert len(demo.created) == 1
    assert (await sections(client))["current"] == [first[1]["records"][0]["key"]]
    status, body = await run(client, "new-case", {**request, "fields": {"subject": "Other"}})
    assert status == 409 and "different request" in body["detail"]
    # without a request id every call runs
    await run(client, "new-case", {"fields": {"subject": "Twice"}})
    await run(client, "new-case", {"fields": {"subject": "Twice"}})
    assert len(demo.created) == 3


async def test_failed_run_can_be_retried_with_its_request_id(
    client: Client, demo: CountingDemo
) -> None:
    await put(client, "upd", UPDATE_CASE)
    request = {"requestId": "r-2", "recordId": "CS-404", "fields": {"status": "Closed"}}
    status, body = await run(client, "upd", request)
    assert status == 502 and "CS-404" in body["detail"]
    assert (await run(client, "upd", request))[0] == 502  # runs again, fails again
    # a failed run leaves nothing behind: the id is free for the corrected request
    fixed = {**request, "recordId": "CS-4001"}
    status, body = await run(client, "upd", fixed)
    assert status == 200 and body["records"][0]["fields"]["status"] == "Closed"
    status, body = await run(client, "upd", fixed)
    assert status == 200 and body["replayed"] is True


async def test_update_on_demo_refreshes_the_card(client: Client) -> None:
    await put(client, "upd", UPDATE_CASE)
    await start_call(client)
    status, body = await run(
        client,
        "upd",
        {"interactionId": "call-1", "recordId": "CS-4001", "fields": {"status": "In progress"}},
    )
    assert status == 200, body
    assert body["records"][0]["fields"]["status"] == "In progress"
    status, body = await run(client, "upd", {"recordId": "CS-4001", "fields": {"subject": "x"}})
    assert status == 422 and "does not change subject" in body["detail"]


async def test_update_on_a_zendesk_kind_is_a_clear_error_when_run(
    client: Client, demo: CountingDemo, zendesk: ZendeskKind
) -> None:
    assert (await put(client, "upd", UPDATE_CASE))[0] == 200  # default CRM: the demo
    context(client).crms = Directory([zendesk, demo])  # the admin reordered the CRMs
    status, body = await run(client, "upd", {"recordId": "CS-4001", "fields": {"status": "x"}})
    assert status == 422
    assert "Salesforce and Dynamics only" in body["detail"]
    assert "zendesk" in body["detail"]


async def test_timeline_logs_on_linked_records(client: Client, demo: CountingDemo) -> None:
    await put(client, "new-case", CREATE_CASE)
    await put(client, "log", {"type": "timeline", "subject": "Call"})
    await start_call(client)
    status, created = await run(
        client, "new-case", {"interactionId": "call-1", "fields": {"subject": "Log me"}}
    )
    assert status == 200, created
    status, body = await run(
        client, "log", {"interactionId": "call-1", "inputs": {"description": "Talked"}}
    )
    assert status == 200, body
    [task] = body["records"]
    assert task["type"] == "task" and task["title"] == "Call"
    status, body = await run(client, "log", {"inputs": {}})
    assert status == 422 and "recordKey" in body["detail"]


async def test_execute_is_authenticated_and_checked(client: Client) -> None:
    await put(client, "find", SEARCH)
    response = await client.post(
        "/api/workflows/find/execute", json={}, headers={"X-Api-Key": "nope"}
    )
    assert response.status == 401
    assert (await run(client, "missing", {"inputs": {}}))[0] == 404
    status, body = await run(client, "find", {"interactionId": "nope", "inputs": {"name": "x"}})
    assert status == 404 and "nope" in body["detail"]
    status, body = await run(client, "find", {"unknown": 1})
    assert status == 422
    garbage = await client.post(
        "/api/workflows/find/execute",
        data=b"{",
        headers={"Content-Type": "application/json", **API},
    )
    assert garbage.status == 400
    other = await client.post(
        "/api/workflows/find/execute",
        json={"inputs": {"name": "x"}},
        headers={"X-Api-Key": "other-key"},
    )
    assert other.status == 404  # another tenant's script cannot run this tenant's workflow


async def test_an_admin_runs_a_workflow_on_the_admin_door(client: Client) -> None:
    assert (await put(client, "find", SEARCH))[0] == 200
    body = {"inputs": {"email": "edward.ferrars@example.com"}}
    response = await client.post("/api/admin/workflows/find/run", json=body, headers=ADMIN)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer == (await run(client, "find", body))[1]
    refused = await client.post("/api/admin/workflows/find/run", json=body, headers=API)
    assert refused.status == 401  # the platform's key is not an admin's


REFUSED_DEFINITIONS = {
    "de": (
        "Custom__c: keine Standardfelder von case",
        "Der Workflow ist ungültig (search.criteria: Erwartet wird eine Liste)",
        "Kein Workflow 'nope'",
    ),
    "fr": (
        "Custom__c : pas des champs standard de case",
        "Le workflow n'est pas valide (search.criteria : Une liste est attendue)",
        "Aucun workflow 'nope'",
    ),
}


@pytest.mark.parametrize("language", ["de", "fr"])
async def test_the_console_reads_a_refused_definition_in_the_admins_language(
    client: Client, language: str
) -> None:
    headers = {**ADMIN, "Accept-Language": language}
    put_bad = f"/api/admin/workflows/bad?locale={language}"
    unfit, not_a_list, unknown = REFUSED_DEFINITIONS[language]
    response = await client.put(
        put_bad, json={**CREATE_CASE, "fields": ["subject", "Custom__c"]}, headers=headers
    )
    assert response.status == 422 and unfit in (await response.json())["detail"]
    response = await client.put(put_bad, json={**SEARCH, "criteria": "ani"}, headers=headers)
    body = await response.json()
    assert response.status == 422 and body["detail"].startswith(not_a_list), body
    assert body["errors"][0]["type"] == "list_type"
    response = await client.get("/api/admin/workflows/nope", headers=headers)
    assert response.status == 404 and (await response.json())["detail"] == unknown


@pytest.mark.parametrize(
    ("language", "no_policy", "nothing"),
    [
        ("de", "Keine Regel zum Anlegen von Datensätzen für die Warteschlange 'nope'", "Unter"),
        ("fr", "Aucune règle de création de fiches pour la file d'attente 'nope'", "Rien à"),
    ],
)
async def test_what_the_console_asks_for_and_is_not_there_is_told_in_the_admins_language(
    client: Client, language: str, no_policy: str, nothing: str
) -> None:
    headers = {**ADMIN, "Accept-Language": language}
    response = await client.get("/api/admin/policies/nope", headers=headers)
    assert response.status == 404 and (await response.json())["detail"] == no_policy
    response = await client.get("/api/admin/no-such-page", headers=headers)
    body = await response.json()
    assert response.status == 404 and body["detail"].startswith(nothing), body


async def test_a_custom_create_on_a_zendesk_kind_sends_its_tags_field_as_tags(
    client: Client, zendesk: ZendeskKind
) -> None:
    custom = {**CREATE_CASE, "variant": "custom", "fields": ["subject", "tags"], "required": []}
    custom |= {"settingsId": "zd", "defaults": {}}
    assert (await put(client, "zd-case", custom))[0] == 200
    await start_call(client)
    status, body = await run(
        client,
        "zd-case",
        {"interactionId": "call-1", "fields": {"subject": "Refund", "tags": "billing, vip"}},
    )
    assert status == 200, body
    [sent] = zendesk.records_sent
    assert sent.tags == ("billing", "vip")
    assert sent.fields == {"subject": "Refund"}
