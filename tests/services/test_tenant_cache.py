"""The per-instance tenant cache: kept for its TTL, read again at once after a change here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.services.tenant_cache import PerTenant


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_value_is_kept_for_its_ttl_then_read_again() -> None:
    clock = Clock()
    cache: PerTenant[int] = PerTenant(ttl=5.0, clock=clock)
    loads: list[str] = []

    async def load(tenant: str) -> int:
        loads.append(tenant)
        return len(loads)

    assert await cache.get("t1", lambda: load("t1")) == 1
    clock.now += 4.9
    assert await cache.get("t1", lambda: load("t1")) == 1
    assert await cache.get("t2", lambda: load("t2")) == 2  # per tenant
    clock.now += 0.2
    assert await cache.get("t1", lambda: load("t1")) == 3
    assert loads == ["t1", "t2", "t1"]


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


def _value(value: str) -> Callable[[], Awaitable[str]]:
    async def load() -> str:
        return value

    return load
