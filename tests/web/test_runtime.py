import asyncio
import gc
import subprocess
import sys
from pathlib import Path

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


WATCH_THE_CLI_IMPORT = """
import gc, runpy, sys

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "bot.cli":
            print(*gc.get_threshold())
        return None

sys.meta_path.insert(0, Watch())
sys.argv = ["bot", "--help"]
runpy.run_module("bot", run_name="__main__")
"""


def test_python_m_bot_imports_the_cli_with_the_server_thresholds() -> None:
    """The objects start-up builds are not traversed by the default thresholds' passes."""
    done = subprocess.run(
        [sys.executable, "-c", WATCH_THE_CLI_IMPORT],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == " ".join(map(str, SERVER_GC_THRESHOLDS))
