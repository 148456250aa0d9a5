import pytest

from bot.domain.errors import InvalidTransition
from bot.domain.identifiers import Channel
from bot.domain.interactions import LifecycleEvent as E
from bot.domain.interactions import apply_event
from tests.domain.factories import event, interaction


def run(channel: Channel, *events: E):  # type: ignore[no-untyped-def]
    current = interaction(channel)
    for minute, name in enumerate(events):
        current = apply_event(current, event(name, minute))
    return current


def test_voice_writeback_needs_end_and_after_call_work() -> None:
    assert not run(Channel.voice, E.assigned, E.connected, E.ended).writeback_due
    done = run(Channel.voice, E.assigned, E.connected, E.ended, E.acw_completed)
    assert done.writeback_due and not done.is_open


@pytest.mark.parametrize("last", [E.transferred, E.unassigned])
def test_digital_writeback_on_transfer_or_unassign(last: E) -> None:
    assert run(Channel.chat, E.assigned, E.connected, last).writeback_due
    assert not run(Channel.chat, E.assigned, E.connected).writeback_due


def test_after_call_work_done_before_the_end_arrived_waits_for_the_end() -> None:
    early = run(Channel.voice, E.assigned, E.connected, E.acw_completed)
    assert not early.writeback_due and early.is_open
    done = apply_event(early, event(E.ended, 9))
    assert done.writeback_due and not done.is_open
    assert [r.event for r in done.history] == [E.assigned, E.connected, E.ended, E.acw_completed]
    assert apply_event(done, event(E.ended, 9)) is done  # a replay of the end


def test_a_chat_has_no_after_call_work_before_its_end() -> None:
    with pytest.raises(InvalidTransition):
        run(Channel.chat, E.assigned, E.connected, E.acw_completed)


@pytest.mark.parametrize(
    "events",
    [
        (E.connected,),
        (E.acw_completed,),
        (E.assigned, E.acw_completed, E.acw_completed),
        (E.assigned, E.acw_completed, E.ended, E.ended),
        (E.assigned, E.acw_completed, E.transferred),
        (E.assigned, E.connected, E.connected),
        (E.assigned, E.ended, E.connected),
        (E.assigned, E.abandoned, E.ended),
    ],
)
def test_events_out_of_order_are_refused(events: tuple[E, ...]) -> None:
    with pytest.raises(InvalidTransition):
        run(Channel.voice, *events)


def test_replayed_event_changes_nothing() -> None:
    current = apply_event(interaction(), event(E.assigned, 0, event_id="e1"))
    assert apply_event(current, event(E.assigned, 5, event_id="e1")) is current
    assert apply_event(current, event(E.assigned, 0)) is current


def test_reassignment_after_transfer_changes_agent() -> None:
    current = run(Channel.voice, E.assigned, E.connected, E.transferred)
    moved = apply_event(
        current,
        event(E.assigned, 9).model_copy(
            update={"agent": current.agent.model_copy(update={"aad_object_id": "agent-2"})}
        ),
    )
    assert moved.agent.aad_object_id == "agent-2"
    assert moved.revision == current.revision + 1
