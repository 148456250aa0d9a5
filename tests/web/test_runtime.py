import asyncio
import gc

import pytest
import uvloop

from bot.web.runtime import SERVER_GC_THRESHOLDS, settle_heap, use_fast_event_loop


def test_server_runs_on_uvloop() -> None:
    before = asyncio.get_event_loop_policy()
    try:
        assert use_fast_event_loop() is True
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    finally:
        asyncio.set_event_loop_policy(before)


def test_standard_loop_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "uvloop", None)  # import fails
    before = asyncio.get_event_loop_policy()
    assert use_fast_event_loop() is False
    assert asyncio.get_event_loop_policy() is before


def test_settled_heap_is_frozen_and_collected_less_often() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == SERVER_GC_THRESHOLDS
        assert SERVER_GC_THRESHOLDS[0] > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
