from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.adapters.tickets.postgres import PostgresTicketArchive
from bot.adapters.tickets.sqlite import SqliteTicketArchive
from bot.services.ticketing.archive import TicketArchive
from tests.postgres import Postgres

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
