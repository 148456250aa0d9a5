import pytest

from bot.domain.errors import UnknownRecord
from bot.domain.interactions import LifecycleEvent as E
from bot.domain.interactions import apply_event
from bot.domain.links import LinkOutcome, is_linked, pin_record, set_link
from tests.domain.factories import T0, event, interaction, record

C0, C1 = "demo:contact:C-0", "demo:contact:C-1"


def link(current, key, linked=True, seen=None):  # type: ignore[no-untyped-def]
    seen = current.revision if seen is None else seen
    return set_link(current, key, linked=linked, seen_revision=seen, actor="a", now=T0)


def test_link_then_unlink() -> None:
    linked = link(interaction(), C0)
    assert linked.outcome is LinkOutcome.applied and is_linked(linked.interaction, C0)
    unlinked = link(linked.interaction, C0, linked=False)
    assert unlinked.outcome is LinkOutcome.applied and not is_linked(unlinked.interaction, C0)


def test_repeating_an_applied_intent_is_a_no_op() -> None:
    once = link(interaction(), C0).interaction
    again = link(once, C0, seen=0)
    assert again.outcome is LinkOutcome.unchanged and again.interaction is once


def test_stale_card_cannot_undo_a_newer_change_to_the_same_record() -> None:
    start = interaction()
    linked = link(start, C0).interaction
    unlinked = link(linked, C0, linked=False).interaction
    stale = link(unlinked, C0, seen=start.revision)
    assert stale.outcome is LinkOutcome.stale and not is_linked(stale.interaction, C0)


def test_stale_card_may_still_change_records_nobody_touched() -> None:
    start = interaction()
    other = link(start, C1).interaction
    result = link(other, C0, seen=start.revision)
    assert result.outcome is LinkOutcome.applied
    assert is_linked(result.interaction, C0) and is_linked(result.interaction, C1)


def test_links_freeze_once_written_back() -> None:
    current = interaction()
    for minute, name in enumerate((E.assigned, E.connected, E.ended, E.acw_completed)):
        current = apply_event(current, event(name, minute))
    assert link(current, C0).outcome is LinkOutcome.closed


def test_unknown_record_is_refused() -> None:
    with pytest.raises(UnknownRecord):
        link(interaction(), "demo:contact:nope")


def test_pinned_records_are_current_and_linked() -> None:
    case = record("case", "CS-1", "Harp")
    pinned = pin_record(interaction(), case, actor="a", now=T0)
    assert pinned.shown.current == [case.ref.key]
    assert is_linked(pinned, case.ref.key)
