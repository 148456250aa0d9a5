"""``crmcard tickets sync|search|show|purge`` on the store and archive of Settings."""

from __future__ import annotations

import argparse
import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.storage.local import LocalStore
from bot.adapters.tickets.sqlite import SqliteTicketArchive
from bot.cli import tickets as cli
from bot.cli.main import parser
from bot.domain.tickets import ImportReport
from bot.services.audit import Actor, Door
from bot.services.crm_configs import CrmConfigs
from bot.services.secret_box import SecretBox
from bot.services.ticketing.sync import Progress
from bot.settings import Settings
from tests.tickets.factories import ticket
from tests.tickets.fakes.zendesk_exports import ZendeskExports, zendesk_config

KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRMCARD_SECRET_KEY", KEY)
    monkeypatch.setenv("CRMCARD_CRM_ALLOW_LOCAL_URLS", "true")  # the fakes run on loopback
    return tmp_path / "data"


def args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["tickets", *argv])


async def test_sync_prints_progress_and_the_report_then_search_finds(
    data_dir: Path, aiohttp_server: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    fake = ZendeskExports(clock=lambda: datetime.now(UTC).timestamp())
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    fake.add_user("Cher", "cher@example.com")
    fake.add_ticket("Rechnung fehlt", assignee=ada, solved_at=now - timedelta(days=1))
    fake.add_ticket("Open one", status="open", assignee=ada)
    server = await aiohttp_server(fake.app())
    data_dir.mkdir()
    store = LocalStore(data_dir / "state.sqlite3")
    policy = Settings(_env_file=None).crm_url_policy  # type: ignore[call-arg]
    await CrmConfigs(store, SecretBox.from_setting(KEY), url_policy=policy).create(
        zendesk_config(str(server.make_url("")), language="german"),
        Actor("test", Door.cli),
    )
    await store.close()

    assert await cli._sync(args("sync", "--full")) == 0
    out, err = capsys.readouterr()
    assert "zendesk: 1 imported · 1 skipped (not solved or closed 1) ·" in err
    assert "tickets/s" in err
    assert "1 users imported" in out and "1 tickets imported, 1 skipped" in out
    assert "rejected user" in out and "last name is missing" in out

    assert await cli._search(args("search", "Rechnungen", "--status", "solved")) == 0
    out, _ = capsys.readouterr()
    assert "Rechnung fehlt — Ada Lovelace" in out
    assert await cli._search(args("search", "--status", "pending")) == 2
    assert await cli._sync(args("sync", "--crm", "nope")) == 2
    assert await cli._purge(args("purge")) == 0
    assert "0 tickets purged" in capsys.readouterr().out


async def test_sync_purges_the_tickets_past_their_90_days_as_the_server_does(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the server's periodic sync off, ``tickets sync`` is what keeps the retention."""
    data_dir.mkdir()
    archive = SqliteTicketArchive(data_dir / "tickets.sqlite3")
    await archive.open()
    now = datetime.now(UTC)
    await archive.put_tickets(
        [
            ticket("old", tenant_id="demo-tenant", closed_at=now - timedelta(days=91)),
            ticket("recent", tenant_id="demo-tenant", closed_at=now - timedelta(days=89)),
        ]
    )
    await archive.close()

    assert await cli._sync(args("sync")) == 0

    assert "1 tickets purged" in capsys.readouterr().out
    archive = SqliteTicketArchive(data_dir / "tickets.sqlite3")
    await archive.open()
    try:
        assert await archive.ticket("demo-tenant", "zendesk", "old") is None
        assert await archive.ticket("demo-tenant", "zendesk", "recent") is not None
    finally:
        await archive.close()


def test_the_progress_line_has_rate_and_eta() -> None:
    report = ImportReport(crm_id="sf", started_at=datetime.now(UTC), tickets_imported=900)
    report.skip("not solved or closed")
    line = cli.progress_line(Progress(report, elapsed=2.0, expected=4_505))
    assert (
        line
        == "sf: 900 imported · 1 skipped (not solved or closed 1) · 450 tickets/s · ETA 0:00:08"
    )
