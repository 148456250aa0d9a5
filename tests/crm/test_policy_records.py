"""A record-creation policy's new record, written to each vendor's contract fake: the
CRM takes the fields the policy gives it and the record reads back with its title."""

from __future__ import annotations

import pytest

from bot.domain.record_policies import RecordPolicy, is_open, record_fields, reopen_fields
from bot.services.crm import SearchCriteria
from tests.crm.vendors import Env, connect

TITLE = "IVR call +1 415 555 0100 2026-12-01 09:30:00 UTC"
CREATING_CASES = ("salesforce", "dynamics", "servicenow", "zendesk", "freshdesk", "kustomer")


@pytest.fixture
def env(aiohttp_server, session, vtime, entra, tls) -> Env:
    return Env(aiohttp_server, session, vtime, entra, tls)


@pytest.mark.parametrize("vendor", CREATING_CASES)
async def test_a_policy_case_is_created_with_its_title(env, vendor):
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100")
    [caller] = await connected.crm.search(SearchCriteria(phones=["+14155550100"]))
    fields = record_fields(RecordPolicy(create_records=True), vendor, TITLE, "Voice Inbound (IVR)")
    created = await connected.crm.create("case", fields, caller.ref)
    again = await connected.crm.get(created.ref)
    assert TITLE in again.title


def _close_dynamics_case(fake, record_id: str) -> None:
    fake.rows["incidents"][record_id].update(statecode=1, statuscode=5)  # problem solved


def _close_servicenow_case(fake, record_id: str) -> None:
    fake.tables["sn_customerservice_case"][record_id]["state"] = "3"  # closed


CLOSING = {"dynamics": _close_dynamics_case, "servicenow": _close_servicenow_case}


@pytest.mark.parametrize("vendor", sorted(CLOSING))
async def test_a_closed_case_reads_back_closed(env, vendor):
    """A session is appended to an open case only: one the agent closed takes a new one."""
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100")
    [caller] = await connected.crm.search(SearchCriteria(phones=["+14155550100"]))
    fields = record_fields(RecordPolicy(create_records=True), vendor, TITLE, "Voice Inbound (IVR)")
    created = await connected.crm.create("case", fields, caller.ref)
    assert is_open(vendor, (await connected.crm.get(created.ref)).fields)
    CLOSING[vendor](connected.fake, created.ref.id)
    assert not is_open(vendor, (await connected.crm.get(created.ref)).fields)


async def test_a_freshdesk_ticket_gets_the_session_type_and_product_tags(env):
    connected = await connect("freshdesk", env)
    connected.add_person("Jane", "(415) 555-0100")
    [caller] = await connected.crm.search(SearchCriteria(phones=["+14155550100"]))
    policy = RecordPolicy(create_records=True, session_type_tags=True, product_tag=True)
    fields = record_fields(policy, "freshdesk", TITLE, "Messaging Inbound (Web chat)")
    created = await connected.crm.create("case", fields, caller.ref)
    stored = connected.fake.tickets[int(created.ref.id)]
    assert stored["tags"] == ["Messaging Inbound (Web chat)", "crmcard"]


def _close_salesforce_case(fake, record_id: str) -> None:
    fake.records["Case"][record_id]["Status"] = "Closed"


REOPENING = {"salesforce": _close_salesforce_case, "dynamics": _close_dynamics_case}


@pytest.mark.parametrize("vendor", sorted(REOPENING))
async def test_a_case_closed_within_the_window_is_reopened(env, vendor):
    """The CRMs that take updates reopen the case a policy appends a session to."""
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100")
    [caller] = await connected.crm.search(SearchCriteria(phones=["+14155550100"]))
    policy = RecordPolicy(create_records=True, reopen_status="New")
    created = await connected.crm.create(
        "case", record_fields(policy, vendor, TITLE, "Voice Inbound (IVR)"), caller.ref
    )
    REOPENING[vendor](connected.fake, created.ref.id)
    reopened = await connected.crm.update(created.ref, reopen_fields(policy, vendor))
    assert is_open(vendor, reopened.fields)
