"""Awaiting two things at once, each only as long as the other is still wanted.

``asyncio.gather`` lets the other run on when one fails: a store write goes on after its
request already failed. :func:`both` cancels the other and awaits it to its end first,
then raises the failure as it was raised, not wrapped in an ``ExceptionGroup``: what
catches it, and the mapping of :mod:`bot.errors` to answers, knows it by its own type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

A = TypeVar("A")
B = TypeVar("B")


async def both(first: Coroutine[Any, Any, A], second: Coroutine[Any, Any, B]) -> tuple[A, B]:
    """``first`` and ``second`` run at once; their results, in that order. The first to
    fail has the other cancelled (and awaited), then is raised."""
    failure: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as group:
            one, two = group.create_task(first), group.create_task(second)
    except BaseExceptionGroup as failed:
        failure = failed.exceptions[0]
    if failure is not None:  # raised here, not in the handler: its context stays its own
        raise failure
    return one.result(), two.result()
