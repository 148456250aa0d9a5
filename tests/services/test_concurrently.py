"""Two awaited at once: both results in order, or the first failure as it was raised.

Driven by events, not by sleeping: each step waits for the one before it.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.services.concurrently import both
from bot.services.store import NotFound, StoreError


async def test_both_run_at_once_and_answer_in_order() -> None:
    started = asyncio.Event()

    async def first() -> int:
        await asyncio.wait_for(started.wait(), 5)  # one at a time: a TimeoutError
        return 1

    async def second() -> str:
        started.set()
        return "two"

    assert await both(first(), second()) == (1, "two")


@pytest.mark.parametrize("failing", [0, 1], ids=["first-fails", "second-fails"])
async def test_a_failure_cancels_the_other_then_raises_as_it_was(failing: int) -> None:
    """The other is cancelled and awaited to its end (its clean-up included) before the
    failure is raised: its own type, not an ExceptionGroup (the app maps bot.errors)."""
    running = asyncio.Event()
    ended: list[str] = []

    async def fails() -> None:
        await asyncio.wait_for(running.wait(), 5)
        raise NotFound("tenants/t1/cards/c-1")

    async def runs_on() -> None:
        running.set()
        try:
            await asyncio.Event().wait()  # a write still under way
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # its clean-up takes a turn of the loop
            ended.append("cancelled")
            raise

    pair = (fails(), runs_on()) if failing == 0 else (runs_on(), fails())
    with pytest.raises(StoreError) as raised:
        await both(*pair)
    assert type(raised.value) is NotFound and raised.value.key == "tenants/t1/cards/c-1"
    assert ended == ["cancelled"]


async def test_the_failure_keeps_its_cause() -> None:
    """The failure is raised as it was, its cause and context with it."""

    async def fails() -> None:
        try:
            raise OSError("connection reset")
        except OSError as error:
            raise StoreError("the store is down") from error

    async def answers() -> int:
        return 1

    with pytest.raises(StoreError) as raised:
        await both(answers(), fails())
    assert isinstance(raised.value.__cause__, OSError)
    assert isinstance(raised.value.__context__, OSError)


async def test_cancelled_from_outside_both_are_cancelled() -> None:
    running = asyncio.Event()
    cancelled: list[int] = []

    async def waits(n: int) -> None:
        if n:
            running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(n)
            raise

    task = asyncio.ensure_future(both(waits(0), waits(1)))
    await asyncio.wait_for(running.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == [0, 1]
