"""The card's own "Create record" button, from the agent's tab through each vendor adapter
to its contract fake over real HTTP: a known caller's new case and an unknown caller's
new contact are created with the subject, name, phone and email the card gives, in the
fields each CRM has, and come back on the card pinned.

The card speaks neutral field names (``subject``, ``name``, ``phone``, ``email``); the
fakes refuse the fields their vendor does not have, as the vendor does, so a name left
in the card's spelling shows up here as a refused create.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.domain.interactions import Interaction
from bot.domain.records import CrmRecord, RecordRef
from bot.services import keys
from bot.services.crm import SearchCriteria, creatable
from bot.services.store import read_model
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import interaction_event
from tests.cards import actions
from tests.crm.vendors import Connected, Env, connect
from tests.workflows.conftest import Directory

Client = TestClient[Any, Any]
KEY = {"X-Api-Key": "demo-key"}
CREATING = ("salesforce", "dynamics", "servicenow", "zendesk", "freshdesk", "kustomer", "oracle")
"""The vendors whose adapters create records (the generic REST one only with a create
template, which the shared connection has none of)."""
KNOWN_PHONE, NEW_PHONE, NEW_EMAIL = "+14155550100", "+14155550199", "jane.roe@example.com"


@pytest.fixture
def env(aiohttp_server, session, vtime, entra, tls) -> Env:
    return Env(aiohttp_server, session, vtime, entra, tls)


async def _app(aiohttp_client: Callable[..., Any], settings: Settings, crm: Connected) -> Client:
    client: Client = await aiohttp_client(create_app(settings))
    client.server.app[CONTEXT].crms = Directory([crm.crm])
    return client


async def _call(client: Client, interaction_id: str, customer: dict[str, str]) -> dict[str, Any]:
    """A call reaches the agent: the card their tab shows for it."""
    event = interaction_event(interaction_id, "assigned", customer=customer)
    response = await client.post("/api/interactions", json=event, headers=KEY)
    assert response.status == 202, await response.text()
    body = await (await client.get("/api/tab/card")).json()
    assert body["interactionId"] == interaction_id
    card: dict[str, Any] = body["card"]
    return card


async def _click_create(client: Client, card: dict[str, Any], **data: str) -> dict[str, Any]:
    [create] = actions(card, "createRecord")
    response = await client.post(
        "/api/tab/actions", json={"verb": "createRecord", "data": {**create["data"], **data}}
    )
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def _pinned(client: Client, interaction_id: str, record_type: str) -> RecordRef:
    """The record of ``record_type`` the click pinned to the interaction."""
    store = client.server.app[CONTEXT].store
    interaction = await read_model(
        store, keys.interaction("demo-tenant", interaction_id), Interaction
    )
    assert interaction is not None
    [ref] = [RecordRef.parse(k) for k in interaction.shown.current if f":{record_type}:" in k]
    return ref


@pytest.mark.parametrize("vendor", CREATING)
async def test_a_known_callers_case_is_created_with_the_subject(
    aiohttp_client, settings, env, vendor
):
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100")
    client = await _app(aiohttp_client, settings, connected)
    card = await _call(client, "call-1", {"phone": KNOWN_PHONE})
    answer = await _click_create(client, card, subject="Harp tuning request")
    [notice] = answer["notices"]
    assert notice.startswith("Created “") and "Harp tuning request" in notice, notice
    case = await connected.crm.get(await _pinned(client, "call-1", "case"))
    assert "Harp tuning request" in case.title


async def _found(connected: Connected, criteria: SearchCriteria) -> list[CrmRecord]:
    return await connected.crm.search(criteria.model_copy(update={"record_types": ["contact"]}))


@pytest.mark.parametrize("vendor", CREATING)
async def test_an_unknown_caller_becomes_a_contact_reachable_at_their_phone_and_email(
    aiohttp_client, settings, env, vendor
):
    connected = await connect(vendor, env)
    assert "contact" in creatable(connected.crm)
    client = await _app(aiohttp_client, settings, connected)
    card = await _call(client, "call-2", {"phone": NEW_PHONE, "email": NEW_EMAIL})
    answer = await _click_create(client, card, subject="Jane Roe", recordType="contact")
    assert "Created “Jane Roe”" in " ".join(answer["notices"]), answer["notices"]
    ref = await _pinned(client, "call-2", "contact")
    contact = await connected.crm.get(ref)
    assert contact.title == "Jane Roe"
    by_phone = await _found(connected, SearchCriteria(phones=[NEW_PHONE]))
    by_email = await _found(connected, SearchCriteria(emails=[NEW_EMAIL]))
    assert ref in [r.ref for r in by_phone] and ref in [r.ref for r in by_email]


@pytest.mark.parametrize("vendor", ["salesforce", "dynamics"])
async def test_an_unknown_caller_becomes_a_lead(aiohttp_client, settings, env, vendor):
    connected = await connect(vendor, env)
    client = await _app(aiohttp_client, settings, connected)
    card = await _call(client, "call-3", {"phone": NEW_PHONE, "email": NEW_EMAIL})
    answer = await _click_create(client, card, subject="Jane Roe", recordType="lead")
    assert "Created “Jane Roe”" in " ".join(answer["notices"]), answer["notices"]
    lead = await connected.crm.get(await _pinned(client, "call-3", "lead"))
    assert lead.title == "Jane Roe"
