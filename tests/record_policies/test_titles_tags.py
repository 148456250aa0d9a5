"""Title templates (validated when saved), session-type tags per CRM, open/closed records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bot.domain.cards import CardIdentity
from bot.domain.identifiers import Channel, phone
from bot.domain.interactions import Agent, Direction, Interaction
from bot.domain.record_policies import (
    PRODUCT_TAG,
    RecordPolicy,
    appendable,
    call_type,
    is_open,
    new_record,
    render_title,
    session_tag,
    tags_for,
    title_values,
)
from bot.domain.records import NewRecord

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def interaction(
    channel: Channel = Channel.voice, direction: Direction = Direction.inbound
) -> Interaction:
    return Interaction(
        id="call-9",
        tenant_id="t",
        card_id="c",
        channel=channel,
        direction=direction,
        agent=Agent(aad_object_id="a"),
        identities=[CardIdentity(channel=channel, identifier=phone("+1 555 0100"))],
    )


@pytest.mark.parametrize(
    "template",
    ["{CALL_TYPE} {CALL_ID}", "Call {PHONE_NUMBER} in {LANGUAGE} via {MENU_PATH} at {TIMESTAMP}"],
)
def test_known_variables_are_accepted(template: str) -> None:
    assert RecordPolicy(title_template=template).title_template == template


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{CALLER}", "unknown title variables {CALLER}"),
        ("{call_type}", "unknown title variables {call_type}"),
        ("{CALL_TYPE", "unbalanced brace"),
        ("CALL_TYPE}", "unbalanced brace"),
        ("   ", "empty"),
    ],
)
def test_unknown_variables_are_refused_when_saved(template: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RecordPolicy(title_template=template)


def test_closed_records_need_append_to_open() -> None:
    with pytest.raises(ValidationError, match="appendToOpen"):
        RecordPolicy(append_closed_within_days=3)


def test_title_renders_every_variable() -> None:
    session = {
        "callType": "inbound-web",
        "callId": "42",
        "menuPath": "Billing > Refunds",
        "language": "fr",
        "phoneNumber": "+15550999",
    }
    values = title_values(interaction(), session, NOW)
    title = render_title(
        "{CALL_TYPE} #{CALL_ID} {MENU_PATH} to {PHONE_NUMBER} ({LANGUAGE}) {TIMESTAMP}", values
    )
    assert title == (
        "Inbound call (web) #42 Billing > Refunds to +15550999 (fr) 2026-11-23 08:00:00 UTC"
    )
    bare = render_title(
        "{CALL_TYPE} {MENU_PATH} {PHONE_NUMBER}", title_values(interaction(), {}, NOW)
    )
    assert bare == "IVR call +15550100"


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("{CALL_TYPE} from {PHONE_NUMBER} ({MENU_PATH})", {}, "IVR call from +15550100"),
        ("{CALL_TYPE} - {MENU_PATH} - {PHONE_NUMBER}", {}, "IVR call - +15550100"),
        ("{MENU_PATH} | {CALL_TYPE} [{LANGUAGE}]", {}, "IVR call"),
        ("{CALL_TYPE}, {LANGUAGE}, {MENU_PATH}", {}, "IVR call"),
        ("{CALL_TYPE} ({MENU_PATH})", {"menuPath": "Billing"}, "IVR call (Billing)"),
        ("{LANGUAGE} {MENU_PATH}", {}, "Interaction"),
    ],
)
def test_missing_values_leave_no_empty_brackets_or_dangling_separators(
    template: str, values: dict[str, str], expected: str
) -> None:
    assert render_title(template, title_values(interaction(), values, NOW)) == expected


@pytest.mark.parametrize(
    ("channel", "direction", "session", "expected"),
    [
        (Channel.voice, Direction.inbound, {}, ("IVR call", "Voice Inbound (IVR)")),
        (Channel.voice, Direction.outbound, {}, ("Outbound call", "Voice Outbound")),
        (
            Channel.voice,
            Direction.inbound,
            {"callType": "scheduled-app"},
            ("Scheduled voice (app)", "Voice Scheduled (App)"),
        ),
        (Channel.chat, Direction.inbound, {}, ("Web chat", "Messaging Inbound (Web chat)")),
    ],
)
def test_call_types(
    channel: Channel, direction: Direction, session: dict[str, str], expected: tuple[str, str]
) -> None:
    assert call_type(interaction(channel, direction), session) == expected


@pytest.mark.parametrize(
    ("kind", "session_type", "tag"),
    [
        ("zendesk", "Voice Inbound (IVR)", "voice_inbound_ivr"),
        ("kustomer", "Voice Inbound (IVR)", "Voice Inbound - IVR"),
        ("freshdesk", "Messaging Inbound (Web chat)", "Messaging Inbound (Web chat)"),
        ("zendesk", "Messaging Inbound (Web chat)", "messaging_inbound_web_chat"),
        ("kustomer", "Voice Outbound", "Voice Outbound"),
        ("salesforce", "Voice Inbound (IVR)", None),
        ("dynamics", "Voice Inbound (IVR)", None),
    ],
)
def test_session_type_tags_per_crm(kind: str, session_type: str, tag: str | None) -> None:
    assert session_tag(kind, session_type) == tag


def test_a_policy_record_has_its_title_and_its_tags_as_a_list() -> None:
    both = RecordPolicy(session_type_tags=True, product_tag=True)
    record = new_record(both, "freshdesk", "Call", "Voice Inbound (IVR)")
    assert record == NewRecord(
        fields={"subject": "Call"}, tags=("Voice Inbound (IVR)", PRODUCT_TAG)
    )
    named = new_record(RecordPolicy(record_type="lead"), "salesforce", "Call", "x")
    assert named == NewRecord(fields={"name": "Call"})


def test_tags_follow_the_policy() -> None:
    both = RecordPolicy(session_type_tags=True, product_tag=True)
    assert tags_for(both, "zendesk", "Voice Inbound (IVR)") == ["voice_inbound_ivr", "crmcard"]
    assert tags_for(RecordPolicy(product_tag=True), "kustomer", "x") == ["crmcard"]
    assert tags_for(RecordPolicy(), "zendesk", "Voice Inbound (IVR)") == []
    assert tags_for(both, "salesforce", "Voice Inbound (IVR)") == []  # no tags there


@pytest.mark.parametrize(
    ("kind", "fields", "open_"),
    [
        ("salesforce", {"status": "New"}, True),
        ("salesforce", {"status": "In progress"}, True),
        ("salesforce", {"status": "Escalated"}, True),
        ("salesforce", {"status": "Closed"}, False),
        ("salesforce", {"Status": "Working", "IsClosed": "true"}, False),
        ("zendesk", {"status": "solved"}, False),
        ("zendesk", {"status": "pending"}, True),
        ("freshdesk", {"status": "5"}, False),
        ("freshdesk", {"status": "2"}, True),
        ("servicenow", {"state": "7"}, False),
        ("servicenow", {"state": "2"}, True),
        ("servicenow", {"state": "3", "sys_class_name": "incident"}, True),  # on hold
        ("servicenow", {"state": "3", "sys_class_name": "sn_customerservice_case"}, False),
        ("servicenow", {"state": "10", "sys_class_name": "sn_customerservice_case"}, True),
        ("dynamics", {"statecode": "1"}, False),
        ("demo", {"status": "Closed"}, False),
        ("demo", {}, True),
    ],
)
def test_open_means_any_non_closed_state(kind: str, fields: dict[str, str], open_: bool) -> None:
    assert is_open(kind, fields) is open_


@pytest.mark.parametrize(
    ("policy", "fields", "expected"),
    [
        (RecordPolicy(), {"status": "New"}, (False, False)),
        (RecordPolicy(append_to_open=True), {"status": "New"}, (True, False)),
        (RecordPolicy(append_to_open=True), {"status": "Closed"}, (False, False)),
        (
            RecordPolicy(append_to_open=True, append_closed_within_days=3),
            {"status": "Closed", "closed_at": (NOW - timedelta(days=2)).isoformat()},
            (True, True),
        ),
        (
            RecordPolicy(append_to_open=True, append_closed_within_days=3),
            {"status": "Closed", "closed_at": (NOW - timedelta(days=4)).isoformat()},
            (False, False),
        ),
        (
            RecordPolicy(append_to_open=True, append_closed_within_days=3),
            {"status": "Closed"},  # closed when? unknown: not reopened
            (False, False),
        ),
    ],
)
def test_appendable(
    policy: RecordPolicy, fields: dict[str, str], expected: tuple[bool, bool]
) -> None:
    assert appendable(policy, "demo", fields, NOW) == expected


def test_last_session_bounds_an_unknown_close_date() -> None:
    policy = RecordPolicy(append_to_open=True, append_closed_within_days=3)
    closed = {"status": "Closed"}
    assert appendable(policy, "demo", closed, NOW, NOW - timedelta(days=2)) == (True, True)
    assert appendable(policy, "demo", closed, NOW, NOW - timedelta(days=4)) == (False, False)
