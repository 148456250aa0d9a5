from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.adapters.tickets.postgres import PostgresTicketArchive
from bot.adapters.tickets.sqlite import SqliteTicketArchive
from bot.services.ticketing.archive import TicketArchive
from bot.settings import Settings
from bot.web.app import create_app
from tests.postgres import Postgres
from tests.tab.test_tab_browser import CHROMIUM, CHROMIUM_ARGS

_databases = itertools.count()


async def fresh_database(server: Postgres) -> str:
    """A new empty database on the session's server; its DSN."""
    name = f"tickets_{next(_databases)}"
    connection = await asyncpg.connect(server.dsn)
    try:
        await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()
    return server.dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
async def archive(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TicketArchive]:
    """Each engine of the ticket archive, empty and open."""
    store: TicketArchive
    if request.param == "sqlite":
        store = SqliteTicketArchive(tmp_path / "tickets.sqlite3")
    else:
        server: Postgres = request.getfixturevalue("postgres_server")
        store = PostgresTicketArchive(await fresh_database(server), max_size=4)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def served(aiohttp_server: Callable[..., Any], settings: Settings) -> tuple[Any, str]:
    """The app (no ticket sync) and its base URL."""
    app = create_app(settings.model_copy(update={"ticket_sync_minutes": 0}))
    server = await aiohttp_server(app)
    return app, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def chromium() -> AsyncIterator[tuple[Any, Any]]:
    """Headless Chromium and Playwright's ``expect``."""
    playwright_api = pytest.importorskip("playwright.async_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no /usr/bin/chromium")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser, playwright_api.expect
        finally:
            await browser.close()
