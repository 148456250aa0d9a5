"""The per-instance tenant cache: fresh for its TTL, then answered for another TTL while one
read in the background replaces it; read again at once after a change here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from bot.services.store import StoreError
from bot.services.tenant_cache import PerTenant


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_value_is_kept_for_its_ttl_then_replaced_by_a_read_nobody_waits_for() -> None:
    clock = Clock()
    cache: PerTenant[int] = PerTenant(ttl=5.0, clock=clock)
    loads: list[str] = []
    release = asyncio.Event()

    async def load(tenant: str) -> int:
        loads.append(tenant)
        if len(loads) > 2:
            await release.wait()  # the store is slow to answer the read in the background
        return len(loads)

    assert await cache.get("t1", lambda: load("t1")) == 1
    clock.now += 4.9
    assert await cache.get("t1", lambda: load("t1")) == 1
    assert await cache.get("t2", lambda: load("t2")) == 2  # per tenant
    clock.now += 0.2  # due: the caller is answered at once, one read replaces it
    assert await asyncio.wait_for(cache.get("t1", lambda: load("t1")), 5) == 1
    assert await asyncio.wait_for(cache.get("t1", lambda: load("t1")), 5) == 1
    assert loads == ["t1", "t2", "t1"]  # the second caller did not start a read of its own
    release.set()
    await _read_done(cache, "t1")
    assert await cache.get("t1", lambda: load("t1")) == 3
    assert loads == ["t1", "t2", "t1"]


async def test_a_value_older_than_twice_its_ttl_is_waited_for() -> None:
    clock = Clock()
    cache: PerTenant[str] = PerTenant(ttl=5.0, clock=clock)
    assert await cache.get("t", _value("before")) == "before"
    clock.now += 10.0  # nobody asked for a while: too old to answer
    assert await cache.get("t", _value("after")) == "after"


async def test_a_read_in_the_background_that_fails_leaves_the_next_call_to_read_again() -> None:
    clock = Clock()
    cache: PerTenant[str] = PerTenant(ttl=5.0, clock=clock)
    assert await cache.get("t", _value("kept")) == "kept"
    clock.now += 6.0

    async def fails() -> str:
        raise StoreError("the store is down")

    assert await cache.get("t", fails) == "kept"
    await _read_done(cache, "t")  # its failure is nobody's: not logged as never retrieved
    assert await cache.get("t", _value("read again")) == "kept"  # and a new read started
    await _read_done(cache, "t")
    assert await cache.get("t", _value("unused")) == "read again"
    clock.now += 10.0
    with pytest.raises(StoreError):  # too old to answer: the caller waits and sees it fail
        await cache.get("t", fails)


async def test_a_change_here_during_a_read_in_the_background_is_not_undone_by_it() -> None:
    clock = Clock()
    cache: PerTenant[str] = PerTenant(ttl=5.0, clock=clock)
    assert await cache.get("t", _value("before")) == "before"
    clock.now += 6.0
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        started.set()
        await release.wait()
        return "read before the change"

    assert await cache.get("t", slow) == "before"
    await started.wait()
    cache.forget("t")  # the admin changed it here meanwhile
    release.set()
    assert await cache.get("t", _value("read after the change")) == "read after the change"


async def test_forget_reads_again_and_a_load_overlapping_a_change_is_not_kept() -> None:
    cache: PerTenant[str] = PerTenant(ttl=60.0, clock=Clock())
    assert await cache.get("t", _value("before")) == "before"
    cache.forget("t")
    assert await cache.get("t", _value("after")) == "after"

    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        started.set()
        await release.wait()
        return "read before the change"

    cache.forget("t")
    pending = asyncio.ensure_future(cache.get("t", slow))
    await started.wait()
    cache.forget("t")  # the admin changed it while that read was under way
    release.set()
    assert await pending == "read before the change"
    assert await cache.get("t", _value("read after the change")) == "read after the change"


async def test_callers_finding_it_stale_at_once_share_one_read() -> None:
    cache: PerTenant[str] = PerTenant(ttl=5.0, clock=Clock())
    loads: list[str] = []
    release = asyncio.Event()

    async def slow() -> str:
        loads.append("read")
        await release.wait()
        return "value"

    waiting = [asyncio.ensure_future(cache.get("t", slow)) for _ in range(50)]
    await asyncio.sleep(0)  # every caller is now waiting on the read
    release.set()
    assert await asyncio.gather(*waiting) == ["value"] * 50
    assert loads == ["read"]


async def test_a_caller_after_a_change_does_not_join_the_read_it_made_stale() -> None:
    cache: PerTenant[str] = PerTenant(ttl=60.0, clock=Clock())
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        started.set()
        await release.wait()
        return "read before the change"

    before = asyncio.ensure_future(cache.get("t", slow))
    await started.wait()
    cache.forget("t")
    assert await cache.get("t", _value("read after the change")) == "read after the change"
    release.set()
    assert await before == "read before the change"


async def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    cache: PerTenant[str] = PerTenant(ttl=5.0, clock=Clock())
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "value"

    first = asyncio.ensure_future(cache.get("t", slow))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(cache.get("t", slow))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "value"


async def _read_done(cache: PerTenant[object], tenant_id: str) -> None:
    """Wait for the tenant's read under way, if any, to end (its keeping included: the
    cache's own callback on the read runs before its waiters resume)."""
    running = cache._loading.get(tenant_id)
    if running is not None:
        with contextlib.suppress(Exception):
            await running


def _value(value: str) -> Callable[[], Awaitable[str]]:
    async def load() -> str:
        return value

    return load
