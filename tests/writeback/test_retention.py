"""Retention of the recovery copies (PRODUCT.md section 8): finished write-back items older
than the recovery window are purged with their due markers; pending ones never are."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.storage.local import LocalStore
from bot.cli import main
from bot.services import keys, outbox
from bot.services.context import Context
from bot.services.outbox import OutboxItem, OutboxStatus
from bot.services.store import Store, read_model
from bot.settings import Settings
from bot.web.admin_outbox import WRITEBACK
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.store_wrapper import StoreWrapper
from tests.writeback.harness import (
    CONTACT,
    T0,
    TENANT,
    FaultyCrm,
    context,
    drain,
    interaction,
    store_due,
    worker,
)

DAY = timedelta(days=1)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


def clocked(store: Store, crm: FaultyCrm, clock: Clock) -> Context:
    ctx = context(store, crm)
    ctx.clock = clock
    return ctx


def item_key(interaction_id: str) -> str:
    return keys.outbox_item(TENANT, interaction_id, CONTACT.ref.key)


async def exists(store: Store, key: str) -> bool:
    return await store.read(key) is not None


async def deliver(ctx: Context, *interaction_ids: str) -> None:
    for interaction_id in interaction_ids:
        await store_due(ctx, interaction(interaction_id, linked=(CONTACT,)))
    await drain(worker(ctx))


async def _tenants() -> list[str]:
    return [TENANT]


def retention_worker(ctx: Context, **overrides: Any) -> Any:
    return worker(ctx, retention_tenants=_tenants, **overrides)


async def test_old_done_items_are_purged_recent_ones_kept(one_store: Store) -> None:
    clock, crm = Clock(), FaultyCrm()
    ctx = clocked(one_store, crm, clock)
    await deliver(ctx, "call-old")
    clock.now = T0 + 80 * DAY
    await deliver(ctx, "call-recent")
    clock.now = T0 + 91 * DAY
    sweeper = retention_worker(ctx)

    assert await sweeper.purge_once() == 1
    assert not await exists(one_store, item_key("call-old"))
    assert not await exists(one_store, keys.outbox_due(item_key("call-old")))
    [kept] = await outbox.list_items(one_store, TENANT)
    assert kept.interaction_id == "call-recent" and kept.status is OutboxStatus.done
    # Only the recovery copy goes: the interaction itself is another retention's business.
    assert await exists(one_store, keys.interaction(TENANT, "call-old"))
    assert await sweeper.purge_once() == 0
    clock.now = T0 + 171 * DAY
    assert await sweeper.purge_once() == 1
    assert not await outbox.list_items(one_store, TENANT)


async def test_pending_and_leased_items_are_never_purged(one_store: Store) -> None:
    clock = Clock()
    ctx = clocked(one_store, FaultyCrm(), clock)
    await store_due(ctx, interaction("call-waiting", linked=(CONTACT,)))
    await store_due(ctx, interaction("call-leased", linked=(CONTACT,)))
    leased = await read_model(one_store, item_key("call-leased"), OutboxItem)
    assert leased is not None
    claimed = leased.model_copy(update={"lease_owner": "w-2", "lease_until": T0 + DAY})
    document = await one_store.read(leased.key)
    assert document is not None
    await one_store.replace(leased.key, claimed.model_dump_json().encode(), document.etag)

    clock.now = T0 + 400 * DAY
    assert await retention_worker(ctx).purge_once() == 0
    assert await outbox.purge_tenants(one_store, [TENANT], clock.now + DAY) == {TENANT: []}
    for name in ("call-waiting", "call-leased"):
        assert await exists(one_store, item_key(name))
        assert await exists(one_store, keys.outbox_due(item_key(name)))


async def test_parked_items_are_kept_until_the_window(one_store: Store) -> None:
    clock, crm = Clock(), FaultyCrm()
    ctx = clocked(one_store, crm, clock)
    gone = crm.inner._find("contact", "C-2001")
    crm.inner._tables["contact"].remove(gone)
    await deliver(ctx, "call-parked", "call-replayed")
    assert len(await outbox.list_items(one_store, TENANT, OutboxStatus.parked)) == 2
    sweeper = retention_worker(ctx)

    clock.now = T0 + 50 * DAY  # an admin fixes one and replays it
    crm.inner._tables["contact"].append(gone)
    await outbox.replay(one_store, TENANT, "call-replayed", CONTACT.ref.key, clock.now)
    await drain(worker(ctx))

    clock.now = T0 + 89 * DAY
    assert await sweeper.purge_once() == 0
    clock.now = T0 + 91 * DAY  # the abandoned parked one is past the window
    assert await sweeper.purge_once() == 1
    [kept] = await outbox.list_items(one_store, TENANT)
    assert kept.interaction_id == "call-replayed" and kept.status is OutboxStatus.done
    clock.now = T0 + 141 * DAY  # the replayed one counts from its delivery
    assert await sweeper.purge_once() == 1


async def test_sweeps_are_bounded_and_resume(one_store: Store) -> None:
    clock = Clock()
    ctx = clocked(one_store, FaultyCrm(), clock)
    await deliver(ctx, *(f"call-{n:02}" for n in range(7)))
    clock.now = T0 + 100 * DAY
    sweeper = retention_worker(ctx, purge_limit=3)
    assert [await sweeper.purge_once() for _ in range(4)] == [3, 3, 1, 0]
    assert not await outbox.list_items(one_store, TENANT)


async def test_two_workers_purging_concurrently_end_consistent(
    two_stores: tuple[Store, Store],
) -> None:
    a, b = two_stores
    clock, crm = Clock(), FaultyCrm()
    ctx_a, ctx_b = clocked(a, crm, clock), clocked(b, crm, clock)
    old = [f"call-{n:02}" for n in range(12)]
    await deliver(ctx_a, *old)
    clock.now = T0 + 95 * DAY
    await store_due(ctx_a, interaction("call-new", linked=(CONTACT,)))  # pending, old-ish later
    clock.now = T0 + 200 * DAY
    one, two = retention_worker(ctx_a, purge_limit=5), retention_worker(ctx_b, purge_limit=4)

    purged = 0
    for _ in range(6):
        counts = await asyncio.gather(one.purge_once(), two.purge_once())
        purged += sum(counts)
    assert purged == len(old)  # each item purged once, by one of them
    [left] = await outbox.list_items(b, TENANT)
    assert left.interaction_id == "call-new" and left.status is OutboxStatus.pending
    markers = [key async for key in b.keys(keys.OUTBOX_DUE_PREFIX)]
    assert markers == [keys.outbox_due(left.key)]
    await drain(worker(ctx_b))  # and it is still delivered
    [left] = await outbox.list_items(a, TENANT)
    assert left.status is OutboxStatus.done


class ReplayDuringPurge(StoreWrapper):
    """A store on which an admin's replay lands between the purge's read and its delete."""

    def __init__(self, inner: Store, clock: Clock) -> None:
        super().__init__(inner)
        self.clock = clock
        self.fired: list[str] = []

    async def delete(self, key: str, etag: str | None = None) -> None:
        if key.startswith(keys.OUTBOX_DUE_PREFIX) and not self.fired:
            self.fired.append(key)
            # The replay (item made pending, marker put) lands just before the marker goes.
            await outbox.replay(self.inner, TENANT, "call-parked", CONTACT.ref.key, self.clock())
        await self.inner.delete(key, etag)


async def test_a_replay_racing_the_purge_keeps_the_item_and_its_marker(
    one_store: Store,
) -> None:
    clock, crm = Clock(), FaultyCrm()
    ctx = clocked(one_store, crm, clock)
    gone = crm.inner._find("contact", "C-2001")
    crm.inner._tables["contact"].remove(gone)
    await deliver(ctx, "call-parked")
    clock.now = T0 + 120 * DAY
    racing = ReplayDuringPurge(one_store, clock)
    result = await outbox.purge_expired(racing, TENANT, clock.now - 90 * DAY)
    assert racing.fired and result.purged == []
    [item] = await outbox.list_items(one_store, TENANT)
    assert item.status is OutboxStatus.pending
    assert await exists(one_store, keys.outbox_due(item.key))
    crm.inner._tables["contact"].append(gone)
    await drain(worker(ctx))
    [item] = await outbox.list_items(one_store, TENANT)
    assert item.status is OutboxStatus.done


async def test_background_sweep_runs_shortly_after_start(one_store: Store) -> None:
    clock = Clock()
    ctx = clocked(one_store, FaultyCrm(), clock)
    await deliver(ctx, "call-old")
    clock.now = T0 + 91 * DAY
    running = retention_worker(ctx, purge_first_after=0.01, purge_interval=3600)
    running.start()
    try:
        for _ in range(200):
            if not await exists(one_store, item_key("call-old")):
                break
            await asyncio.sleep(0.01)
    finally:
        await running.stop()
    assert not await exists(one_store, item_key("call-old"))


async def test_cli_purge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRMCARD_DEFAULT_TENANT_ID", TENANT)
    monkeypatch.delenv("CRMCARD_RECOVERY_DAYS", raising=False)
    store = LocalStore(tmp_path / "state.sqlite3")
    try:
        now = datetime.now(UTC)
        clock = Clock(now - 120 * DAY)
        ctx = clocked(store, FaultyCrm(), clock)
        await deliver(ctx, "call-ancient")
        clock.now = now - 40 * DAY
        await deliver(ctx, "call-older")
        clock.now = now - DAY
        await deliver(ctx, "call-fresh")
        await store_due(ctx, interaction("call-waiting", linked=(CONTACT,)))

        run: Callable[[list[str]], int] = main
        assert await asyncio.to_thread(run, ["outbox", "purge"]) == 0  # the 90-day default
        assert f"{TENANT}: purged 1 write-back(s)" in capsys.readouterr().out
        args = ["outbox", "purge", "--older-than-days", "30"]
        assert await asyncio.to_thread(run, args) == 0
        assert "purged 1 write-back(s)" in capsys.readouterr().out
        left = {i.interaction_id: i.status for i in await outbox.list_items(store, TENANT)}
        assert left == {"call-fresh": OutboxStatus.done, "call-waiting": OutboxStatus.pending}
        args = ["outbox", "purge", "--older-than-days", "0", "--all-tenants"]
        assert await asyncio.to_thread(run, args) == 0
        assert f"{TENANT}: purged 1" in capsys.readouterr().out
        [waiting] = await outbox.list_items(store, TENANT)
        assert waiting.interaction_id == "call-waiting"
        assert await asyncio.to_thread(run, ["outbox", "purge", "--older-than-days", "-1"]) == 2
    finally:
        await store.close()


async def test_admin_listing_shows_the_retention(
    aiohttp_client: Callable[..., Any], tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        api_keys={"demo-tenant": "demo-key", TENANT: "key-2"},
        admin_keys={TENANT: "admin-2"},
        recovery_days=30,
        writeback_worker=False,
    )
    client = await aiohttp_client(create_app(settings))
    ctx: Context = client.app[CONTEXT]
    clock = Clock()
    ctx.clock = clock
    await deliver(clocked(ctx.store, FaultyCrm(), clock), "call-done")
    await store_due(ctx, interaction("call-waiting", linked=(CONTACT,)))
    clock.now = T0 + 2 * DAY

    listed = await (
        await client.get("/api/admin/outbox", headers={"X-Admin-Key": "admin-2"})
    ).json()
    assert listed["retention"]["recoveryDays"] == 30
    when = lambda text: text and datetime.fromisoformat(text)  # noqa: E731
    assert when(listed["retention"]["purgesBefore"]) == clock.now - 30 * DAY
    purge_after = {i["interactionId"]: when(i["purgeAfter"]) for i in listed["items"]}
    assert purge_after == {"call-done": T0 + 30 * DAY, "call-waiting": None}
    writeback = client.app[WRITEBACK]
    assert writeback.recovery_days == 30
    assert writeback.retention_tenants is not None
    assert set(await writeback.retention_tenants()) == {"demo-tenant", TENANT}
