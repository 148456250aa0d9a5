"""The pure rules: when a write-back falls due, to which records, with what values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.domain.identifiers import Channel
from bot.domain.interactions import LifecycleEvent as E
from bot.domain.memorialization import (
    TRUNCATION_MARKER,
    FieldMapping,
    MemorializationMapping,
    SourceField,
    TextLimits,
    WriteKind,
    build_payload,
    fitted_to,
    idempotency_key,
    interaction_values,
    truncate,
    with_reference,
    writeback_targets,
)
from tests.writeback.harness import ACCOUNT, CASE, CONTACT, interaction

VOICE_DONE = (E.assigned, E.connected, E.ended, E.acw_completed)


@pytest.mark.parametrize(
    ("channel", "events", "due"),
    [
        (Channel.voice, (E.assigned, E.connected), False),
        (Channel.voice, (E.assigned, E.connected, E.ended), False),  # still in ACW
        (Channel.voice, VOICE_DONE, True),
        (Channel.voice, (E.assigned, E.connected, E.transferred), False),
        (Channel.voice, (E.assigned, E.abandoned), False),
        (Channel.chat, (E.assigned, E.connected), False),
        (Channel.chat, (E.assigned, E.connected, E.transferred), True),
        (Channel.chat, (E.assigned, E.unassigned), True),
        (Channel.chat, (E.assigned, E.transferred, E.assigned), False),  # picked up again
        (Channel.email, (E.assigned, E.ended), False),
        (Channel.sms, (E.assigned, E.connected, E.unassigned), True),
        (Channel.chat, (E.assigned, E.abandoned), False),
    ],
)
def test_trigger(channel: Channel, events: tuple[E, ...], due: bool) -> None:
    it = interaction(channel=channel, events=events, linked=(CONTACT,))
    assert it.writeback_due is due
    assert writeback_targets(it) == ([CONTACT.ref] if due else [])


@pytest.mark.parametrize(
    ("linked", "unlinked", "pinned", "expected"),
    [
        ((CONTACT,), (), (), [CONTACT]),
        ((), (CONTACT,), (), []),  # unlinked: nothing written
        ((CONTACT, ACCOUNT), (), (), [CONTACT, ACCOUNT]),
        ((CONTACT,), (ACCOUNT,), (CASE,), [CONTACT, CASE]),  # pinned records are linked
        ((), (), (CASE,), [CASE]),
        ((), (), (), []),
    ],
)
def test_targets_are_the_linked_records(
    linked: tuple, unlinked: tuple, pinned: tuple, expected: list
) -> None:
    for channel, events in (
        (Channel.voice, VOICE_DONE),
        (Channel.chat, (E.assigned, E.unassigned)),
    ):
        it = interaction(
            channel=channel, events=events, linked=linked, unlinked=unlinked, pinned=pinned
        )
        assert writeback_targets(it) == [r.ref for r in expected]


def test_truncation_is_visible() -> None:
    assert truncate("short", 10) == ("short", False)
    assert truncate("x" * 50, None) == ("x" * 50, False)
    cut, was_cut = truncate("y" * 100, 40)
    assert was_cut and len(cut) == 40 and cut.endswith(TRUNCATION_MARKER)
    assert cut.startswith("y" * (40 - len(TRUNCATION_MARKER)))


def test_payload_maps_fields_and_truncates() -> None:
    mapping = MemorializationMapping(
        fields=[
            FieldMapping(source=SourceField.notes, target="last_notes", max_length=30),
            FieldMapping(source=SourceField.disposition, target="disposition"),
            FieldMapping(source=SourceField.duration, target="last_call_duration"),
            FieldMapping(source=SourceField.agent, target="last_agent"),
            FieldMapping(source=SourceField.contact_name, target="last_contact"),
            FieldMapping(source=SourceField.phone, target="last_phone"),
            FieldMapping(source=SourceField.transcript, target="transcript"),  # none: skipped
        ]
    )
    it = interaction(details={"notes": "N" * 100, "disposition": "Resolved"})
    payload = build_payload(it, mapping)
    assert payload.fields["last_notes"].endswith(TRUNCATION_MARKER)
    assert len(payload.fields["last_notes"]) == 30
    assert payload.fields["disposition"] == "Resolved"
    assert payload.fields["last_call_duration"] == "0:01:00"  # connected 08:01, ended 08:02
    assert payload.fields["last_agent"] == "Elinor Dashwood"
    assert payload.fields["last_contact"] == "Edward Ferrars"
    assert payload.fields["last_phone"] == "+15550100"
    assert "transcript" not in payload.fields
    assert payload.truncated == ["notes"]
    assert payload.kinds == [WriteKind.fields, WriteKind.timeline]
    assert payload.timeline_subject == "Call (inbound) with Edward Ferrars"
    assert "Disposition: Resolved" in (payload.timeline_description or "")


CUT_MAPPING = MemorializationMapping(
    fields=[
        FieldMapping(source=SourceField.notes, target="description", max_length=50),
        FieldMapping(source=SourceField.disposition, target="subject"),
        FieldMapping(source=SourceField.agent, target="owner_name"),
    ]
)
"""Three rules: one with a length of its own, one without, one whose value is short."""
LONG_DETAILS = {"notes": "N" * 100, "disposition": "D" * 100}


def test_payload_is_cut_to_the_crms_own_limits_and_names_each_cut() -> None:
    """A CRM's limits (a Dataverse column's MaxLength) cut the texts where the payload is
    built, the shorter of theirs and crmcard's own winning; the description leaves room for
    its reference line. ``truncated`` names each cut, so nothing is cut unsaid later."""
    mapping, it = CUT_MAPPING, interaction(details=LONG_DETAILS)
    limits = TextLimits(
        fields={"description": 80, "subject": 40, "unmapped": 1},
        timeline_subject=20,
        timeline_description=300,
    )
    payload = build_payload(it, mapping, limits)
    assert len(payload.fields["description"]) == 50  # the rule's is shorter
    assert len(payload.fields["subject"]) == 40
    assert payload.fields["subject"].endswith(TRUNCATION_MARKER)
    assert payload.fields["owner_name"] == "Elinor Dashwood"
    assert payload.timeline_subject == payload.note_subject
    assert len(payload.timeline_subject or "") == 20
    described = with_reference(payload.timeline_description or "", "crmcard-" + "0" * 32)
    assert len(described) == 300 and TRUNCATION_MARKER in described
    assert payload.truncated == [
        "notes",
        "disposition",
        "timeline subject",
        "timeline description",
    ]
    unlimited = build_payload(it, mapping)  # crmcard's own limits only
    assert unlimited.truncated == ["notes"]
    assert unlimited.timeline_subject == "Call (inbound) with Edward Ferrars"
    roomy = TextLimits(fields={"subject": 200}, timeline_subject=200, timeline_description=2000)
    assert build_payload(it, mapping, roomy) == unlimited  # short enough: nothing more cut


def test_a_payload_built_without_its_crms_limits_is_fitted_to_them_and_says_so() -> None:
    """A payload built while its CRM was not connected (no limits known) meets them at
    delivery: each text still too long is cut there and named, a field by its CRM name;
    one built for those limits comes back as it is (nothing cut twice, nothing renamed)."""
    mapping, it = CUT_MAPPING, interaction(details=LONG_DETAILS)
    limits = TextLimits(
        fields={"description": 80, "subject": 40}, timeline_subject=20, timeline_description=300
    )
    unlimited = build_payload(it, mapping)
    assert unlimited.truncated == ["notes"]
    fitted = fitted_to(unlimited, limits)
    assert fitted.truncated == ["notes", "subject", "timeline subject", "timeline description"]
    assert fitted.fields["description"] == unlimited.fields["description"]  # 50 fits in 80
    assert len(fitted.fields["subject"]) == 40 and fitted.fields["subject"].endswith(
        TRUNCATION_MARKER
    )
    assert fitted.fields["owner_name"] == "Elinor Dashwood"
    assert len(fitted.timeline_subject or "") == 20
    described = with_reference(fitted.timeline_description or "", "crmcard-" + "0" * 32)
    assert len(described) == 300 and TRUNCATION_MARKER in described
    assert fitted_to(fitted, limits) is fitted  # a second delivery attempt cuts nothing
    built = build_payload(it, mapping, limits)
    assert fitted_to(built, limits) is built


def test_a_transferred_call_ends_when_its_last_agent_ends_it() -> None:
    first_agent = (E.assigned, E.connected, E.transferred)
    second_agent = (E.assigned, E.connected, E.ended, E.acw_completed)
    transferred = interaction(events=(*first_agent, *second_agent))
    values = interaction_values(transferred)
    assert values[SourceField.start] == "2026-11-23T08:01:00Z"  # the first agent connected
    assert values[SourceField.end] == "2026-11-23T08:05:00Z"  # the second agent's end
    assert values[SourceField.duration] == "0:04:00"


def test_timeline_off_and_no_fields_writes_nothing() -> None:
    mapping = MemorializationMapping.model_validate({"timeline": {"enabled": False}})
    assert build_payload(interaction(), mapping).kinds == []


@pytest.mark.parametrize(
    "bad",
    [
        {"fields": [{"source": "nope", "target": "x"}]},
        {"fields": [{"source": "notes", "target": "bad field"}]},
        {"fields": [{"source": "notes", "target": "x", "maxLength": 3}]},
        {"fields": [{"source": "notes", "target": "x"}, {"source": "agent", "target": "x"}]},
        {"timeline": {"activityType": "meeting"}},
        {"extra": 1},
    ],
)
def test_mapping_validation(bad: dict) -> None:
    with pytest.raises(ValidationError):
        MemorializationMapping.model_validate(bad)


def test_idempotency_key_is_stable_per_interaction_record_and_kind() -> None:
    one = idempotency_key("t", "i", CONTACT.ref, WriteKind.timeline)
    assert one == idempotency_key("t", "i", CONTACT.ref, WriteKind.timeline)
    others = {
        idempotency_key("t", "i", CONTACT.ref, WriteKind.fields),
        idempotency_key("t", "i", ACCOUNT.ref, WriteKind.timeline),
        idempotency_key("t", "i2", CONTACT.ref, WriteKind.timeline),
        idempotency_key("t2", "i", CONTACT.ref, WriteKind.timeline),
    }
    assert one not in others and len(others) == 4
