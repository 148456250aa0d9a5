"""The embedded store's table: a rowid table, and files from before rebuilt as one.

A ``WITHOUT ROWID`` table spilled a 2-3 KB interaction into an overflow page (its rows
keep about a quarter of a page in the b-tree); the rowid table keeps it in its leaf page.
A data directory written by an earlier version still opens with every document and ETag.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from bot.adapters.storage.local import LocalStore
from bot.services.store import PreconditionFailed

OLD_SCHEMA = """
CREATE TABLE documents (
    key TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    etag TEXT NOT NULL
) WITHOUT ROWID
"""


def _table_sql(path: Path) -> str:
    connection = sqlite3.connect(path)
    (sql,) = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'documents'"
    ).fetchone()
    connection.close()
    return str(sql)


async def test_a_new_file_keeps_documents_in_a_rowid_table(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = LocalStore(path)
    await store.create("tenants/t/interactions/i-1", b"x" * 2500)
    await store.close()
    assert "WITHOUT ROWID" not in _table_sql(path).upper()


async def test_a_file_from_before_is_rebuilt_with_every_document_and_etag(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute(OLD_SCHEMA)
    old.executemany(
        "INSERT INTO documents (key, data, etag) VALUES (?, ?, ?)",
        [(f"tenants/t/cards/c-{n}", bytes([n]) * (100 * n + 1), f'"e{n}"') for n in range(30)],
    )
    old.close()

    store = LocalStore(path)
    with caplog.at_level(logging.WARNING, logger="bot.adapters.storage.local"):
        assert await store.read("tenants/t/cards/c-0") is not None
    # The operator is told why the first start after the upgrade takes longer.
    assert [r.getMessage() for r in caplog.records] == [
        "rebuilding the documents table as a rowid table, once: 30 documents"
    ]
    for n in range(30):
        document = await store.read(f"tenants/t/cards/c-{n}")
        assert document is not None
        assert (document.data, document.etag) == (bytes([n]) * (100 * n + 1), f'"e{n}"')
    new_etag = await store.replace("tenants/t/cards/c-3", b"changed", '"e3"')
    with pytest.raises(PreconditionFailed):
        await store.replace("tenants/t/cards/c-3", b"again", '"e3"')  # that ETag is spent
    assert [key async for key in store.keys("tenants/t/cards/c-1")] == [
        "tenants/t/cards/c-1",
        *(f"tenants/t/cards/c-{n}" for n in range(10, 20)),
    ]
    await store.close()
    assert "WITHOUT ROWID" not in _table_sql(path).upper()

    caplog.clear()
    reopened = LocalStore(path)  # rebuilt once: opening it again changes nothing
    document = await reopened.read("tenants/t/cards/c-3")
    assert not caplog.records
    assert document is not None and (document.data, document.etag) == (b"changed", new_etag)
    await reopened.close()
