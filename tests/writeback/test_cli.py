"""``crmcard outbox list|replay`` on the configured store."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.storage.local import LocalStore
from bot.cli import main
from bot.services import outbox
from bot.services.outbox import OutboxStatus
from tests.writeback.harness import (
    CONTACT,
    TENANT,
    FaultyCrm,
    context,
    drain,
    interaction,
    store_due,
    worker,
)


async def test_list_and_replay_parked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRMCARD_DEFAULT_TENANT_ID", TENANT)
    store = LocalStore(tmp_path / "state.sqlite3")
    try:
        crm = FaultyCrm()
        ctx = context(store, crm)
        gone = crm.inner._find("contact", "C-2001")
        crm.inner._tables["contact"].remove(gone)
        await store_due(ctx, interaction("call-9", linked=(CONTACT,)))
        await drain(worker(ctx))
        assert await outbox.list_items(store, TENANT, OutboxStatus.parked)

        # The CLI runs its own event loop: run it in a thread, as a separate process would.
        import asyncio

        code = await asyncio.to_thread(main, ["outbox", "list", "--status", "parked"])
        out = capsys.readouterr().out
        assert code == 0 and "parked" in out and "call-9" in out and "C-2001" in out
        code = await asyncio.to_thread(main, ["outbox", "replay", "call-9", CONTACT.ref.key])
        assert code == 0 and "queued again" in capsys.readouterr().out
        [item] = await outbox.list_items(store, TENANT)
        assert item.status is OutboxStatus.pending
        crm.inner._tables["contact"].append(gone)
        await drain(worker(ctx))
        [item] = await outbox.list_items(store, TENANT)
        assert item.status is OutboxStatus.done
        code = await asyncio.to_thread(main, ["outbox", "replay", "call-9", CONTACT.ref.key])
        assert code == 1
        # Bulk: park two again, replay every parked one of the demo CRM.
        crm.inner._tables["contact"].remove(gone)
        await store_due(ctx, interaction("call-10", linked=(CONTACT,)))
        await store_due(ctx, interaction("call-11", linked=(CONTACT,)))
        await drain(worker(ctx))
        assert len(await outbox.list_items(store, TENANT, OutboxStatus.parked)) == 2
        crm.inner._tables["contact"].append(gone)
        args = ["outbox", "replay", "--all-parked", "--crm", "demo"]
        assert await asyncio.to_thread(main, args) == 0
        assert "2 parked" in capsys.readouterr().out
        await drain(worker(ctx))
        assert not await outbox.list_items(store, TENANT, OutboxStatus.parked)
        assert await asyncio.to_thread(main, ["outbox", "replay"]) == 2
    finally:
        await store.close()


async def test_an_operators_grant_makes_the_write_backs_waiting_for_consent_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``crmcard tenants grant`` is the other door a consent comes in by: it too makes the
    tenant's held-back write-backs due now, for the servers' scan to deliver."""
    import asyncio

    from bot.services import tenants
    from bot.services.retry import RetryPolicy
    from bot.settings import Settings

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path))
    store = LocalStore(tmp_path / "state.sqlite3")
    try:
        ctx = context(store, FaultyCrm())
        gated = Settings(_env_file=None, app_id="app", tenant_gate=True)  # type: ignore[call-arg]

        async def gate(tenant_id: str) -> None:
            await tenants.check_tenant(store, gated, tenant_id)

        held = worker(ctx, tenant_gate=gate, policy=RetryPolicy(base_delay=600, max_delay=600))
        await store_due(ctx, interaction("call-1"))
        await held.run_once()
        [waiting] = await outbox.list_items(store, TENANT)
        assert waiting.waiting_for_consent and waiting.next_attempt_at > ctx.clock()

        assert await asyncio.to_thread(main, ["tenants", "grant", TENANT]) == 0
        assert "due now: 1 write-back(s)" in capsys.readouterr().out
        assert await held.run_once() == 1
        [item] = await outbox.list_items(store, TENANT)
        assert item.status is OutboxStatus.done and item.attempts == 1
    finally:
        await store.close()
