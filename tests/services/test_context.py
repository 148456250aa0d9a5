"""A turn's copy of the use cases' context."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from bot.services.audit import Door
from bot.services.context import Context


def test_a_turns_context_keeps_every_other_field_and_leaves_the_shared_one_alone() -> None:
    shared = Context(
        store=cast(Any, "shared store"),
        crms=cast(Any, "crms"),
        delivery=cast(Any, "delivery"),
        crm_deadline=1.25,
        icons="https://example.test/icons",
    )
    turn = shared.for_turn(cast(Any, "turn store"), Door.teams)
    assert turn.store == "turn store" and turn.door is Door.teams
    assert (shared.store, shared.door) == ("shared store", Door.api)
    for name in (f.name for f in dataclasses.fields(Context)):
        if name not in ("store", "door"):
            assert getattr(turn, name) is getattr(shared, name), name
    assert turn == dataclasses.replace(shared, store=turn.store, door=Door.teams)
