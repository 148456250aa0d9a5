"""A record-creation policy's new record, written to each vendor's contract fake: the
CRM takes the fields and tags the policy gives it (each tag whole), the record reads back
with its title, counts as closed once the CRM closes it and, where the CRM takes updates,
is reopened."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.domain.record_policies import RecordPolicy, is_open, new_record, reopen_fields
from bot.domain.records import CrmRecord, NewRecord
from bot.services.crm import InvalidRecord, SearchCriteria
from tests.crm.vendors import Connected, Env, connect

TITLE = "IVR call +1 415 555 0100 2026-12-01 09:30:00 UTC"
CREATING_CASES = ("salesforce", "dynamics", "servicenow", "zendesk", "freshdesk", "kustomer")
POLICY = RecordPolicy(create_records=True, reopen_status="New")


@pytest.fixture
def env(aiohttp_server, session, vtime, entra, tls) -> Env:
    return Env(aiohttp_server, session, vtime, entra, tls)


async def policy_case(
    env: Env, vendor: str, policy: RecordPolicy = POLICY, session_type: str = "Voice Inbound (IVR)"
) -> tuple[Connected, CrmRecord]:
    """The vendor connected, and the case its caller's session got under ``policy``."""
    return await caller_case(env, vendor, new_record(policy, vendor, TITLE, session_type))


async def caller_case(env: Env, vendor: str, record: NewRecord) -> tuple[Connected, CrmRecord]:
    """The vendor connected, and ``record`` created as a case of its caller."""
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100")
    [caller] = await connected.crm.search(SearchCriteria(phones=["+14155550100"]))
    return connected, await connected.crm.create("case", record, caller.ref)


async def _close_salesforce_case(connected: Connected, case: CrmRecord) -> None:
    await connected.crm.update(case.ref, {"Status": "Closed"})


async def _close_dynamics_case(connected: Connected, case: CrmRecord) -> None:
    connected.fake.rows["incidents"][case.ref.id].update(statecode=1, statuscode=5)  # solved


async def _close_servicenow_case(connected: Connected, case: CrmRecord) -> None:
    connected.fake.tables["sn_customerservice_case"][case.ref.id]["state"] = "3"  # closed


CLOSING = {
    "salesforce": _close_salesforce_case,
    "dynamics": _close_dynamics_case,
    "servicenow": _close_servicenow_case,
}
REOPENING = ("salesforce", "dynamics")
"""The vendors whose adapters take updates."""


@pytest.mark.parametrize("vendor", CREATING_CASES)
async def test_a_policy_case_is_created_with_its_title(env, vendor):
    connected, created = await policy_case(env, vendor)
    assert TITLE in (await connected.crm.get(created.ref)).title


@pytest.mark.parametrize("vendor", sorted(CLOSING))
async def test_a_closed_case_reads_back_closed(env, vendor):
    """A session is appended to an open case only: one the agent closed takes a new one."""
    connected, created = await policy_case(env, vendor)
    assert is_open(vendor, (await connected.crm.get(created.ref)).fields)
    await CLOSING[vendor](connected, created)
    assert not is_open(vendor, (await connected.crm.get(created.ref)).fields)


@pytest.mark.parametrize("vendor", REOPENING)
async def test_a_case_closed_within_the_window_is_reopened(env, vendor):
    """The CRMs that take updates reopen the case a policy appends a session to."""
    connected, created = await policy_case(env, vendor)
    await CLOSING[vendor](connected, created)
    reopened = await connected.crm.update(created.ref, reopen_fields(POLICY))
    assert is_open(vendor, reopened.fields)


async def test_a_salesforce_case_in_a_closed_status_of_the_org_counts_as_closed(env):
    """Salesforce: open is any status not flagged closed, whatever the org calls them."""
    connected, created = await policy_case(env, "salesforce")
    connected.fake.closed_case_statuses.add("Resolved by phone")
    escalated = await connected.crm.update(created.ref, {"Status": "Escalated"})
    assert is_open("salesforce", escalated.fields)
    closed = await connected.crm.update(created.ref, {"Status": "Resolved by phone"})
    assert not is_open("salesforce", closed.fields)


async def test_a_freshdesk_ticket_gets_the_session_type_and_product_tags(env):
    policy = RecordPolicy(create_records=True, session_type_tags=True, product_tag=True)
    connected, created = await policy_case(env, "freshdesk", policy, "Messaging Inbound (Web chat)")
    stored = connected.fake.tickets[int(created.ref.id)]
    assert stored["tags"] == ["Messaging Inbound (Web chat)", "crmcard"]


@pytest.mark.parametrize("vendor", REOPENING)
async def test_a_policy_lead_is_named_with_its_title(env, vendor):
    """A policy for a named record type writes its title as the record's name."""
    connected = await connect(vendor, env)
    policy = RecordPolicy(create_records=True, record_type="lead")
    created = await connected.crm.create("lead", new_record(policy, vendor, TITLE, "x"))
    assert (await connected.crm.get(created.ref)).title == TITLE


async def test_dynamics_refuses_to_reopen_what_has_no_open_state_known(env):
    """Only a case's open state is known; a session is then appended to a new record."""
    connected = await connect("dynamics", env)
    connected.add_person("Jane", "(415) 555-0100")
    [jane] = await connected.crm.search(SearchCriteria(phones=["+14155550100"]))
    with pytest.raises(InvalidRecord, match="cannot reopen a contact"):
        await connected.crm.update(jane.ref, reopen_fields(POLICY))


async def test_a_zendesk_ticket_gets_the_session_type_and_product_tags(env):
    """Zendesk takes ``tags`` as an array of strings (text there is refused, 422)."""
    policy = RecordPolicy(create_records=True, session_type_tags=True, product_tag=True)
    connected, created = await policy_case(env, "zendesk", policy)
    stored = connected.fake.data.tickets[int(created.ref.id)]
    assert stored["tags"] == ["voice_inbound_ivr", "crmcard"]


async def test_a_kustomer_conversation_gets_its_tags_by_name(env):
    """A conversation's ``tags`` are tag ids: the names go to "Append tags to
    conversation", which creates the tags the org does not have yet."""
    policy = RecordPolicy(create_records=True, session_type_tags=True, product_tag=True)
    connected, created = await policy_case(env, "kustomer", policy)
    assert connected.fake.tag_names(created.ref.id) == ["Voice Inbound - IVR", "crmcard"]
    [create] = [r for r in connected.fake.requests if r.path == "/v1/conversations"]
    assert "tags" not in create.json()


async def test_a_kustomer_conversation_whose_tags_are_refused_is_kept(env, caplog):
    """Tagging is second to the record: a refused append keeps the created conversation
    (the session is on its record) and logs that its tags are missing."""
    policy = RecordPolicy(create_records=True, product_tag=True)
    connected = await connect("kustomer", env)
    connected.fake.may_update_conversations = False
    connected.add_person("Jane", "(415) 555-0100")
    [caller] = await connected.crm.search(SearchCriteria(phones=["+14155550100"]))
    caplog.set_level(logging.WARNING, logger="bot.adapters.crm.kustomer")
    record = new_record(policy, "kustomer", TITLE, "Voice Inbound (IVR)")
    created = await connected.crm.create("case", record, caller.ref)
    assert connected.fake.conversations[created.ref.id]["name"] == TITLE
    assert connected.fake.tag_names(created.ref.id) == []
    assert f"conversation {created.ref.id} kept without its tags" in caplog.text


STORED_TAGS: dict[str, Callable[[Connected, CrmRecord], list[str]]] = {
    "zendesk": lambda connected, case: connected.fake.data.tickets[int(case.ref.id)]["tags"],
    "freshdesk": lambda connected, case: connected.fake.tickets[int(case.ref.id)]["tags"],
    "kustomer": lambda connected, case: connected.fake.tag_names(case.ref.id),
}
"""The vendors with tags: the tags their fake holds on a case."""
COMMA_TAGS = NewRecord(fields={"subject": TITLE}, tags=("billing,refunds", "crmcard"))


@pytest.mark.parametrize("vendor", sorted(STORED_TAGS))
async def test_a_tag_with_a_comma_reaches_the_crm_as_one_tag(env, vendor):
    """A new record's tags are a list all the way to the CRM: a comma is part of its tag."""
    connected, created = await caller_case(env, vendor, COMMA_TAGS)
    assert STORED_TAGS[vendor](connected, created) == ["billing,refunds", "crmcard"]


@pytest.mark.parametrize("vendor", sorted(set(CREATING_CASES) - set(STORED_TAGS)))
async def test_a_crm_without_tags_creates_the_case_without_them(env, vendor):
    """Tags are no field there: the fakes that refuse unknown fields create the case."""
    connected, created = await caller_case(env, vendor, COMMA_TAGS)
    assert TITLE in (await connected.crm.get(created.ref)).title
