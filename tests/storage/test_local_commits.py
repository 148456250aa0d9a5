"""The embedded store's writes share commits, and a write returns once it is on disk.

A commit is most of a small write's cost; the writes an event loop makes before its next
iteration (the name index filing a new card under a few dozen documents at once) go into
one. What a write returned must still be in the file for another process, and a listing
right after a write must find it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.adapters.storage import local
from bot.adapters.storage.local import LocalStore
from bot.services.store import StoreError


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the store's connections run, as SQLite traces them."""
    traced: list[str] = []
    connect = local._connect

    def traced_connect(path: Path, *, wait: float) -> sqlite3.Connection:
        connection = connect(path, wait=wait)
        connection.set_trace_callback(traced.append)
        return connection

    monkeypatch.setattr(local, "_connect", traced_connect)
    return traced


def _keys_on_disk(path: Path) -> set[str]:
    """What another process reading the file finds."""
    other = sqlite3.connect(path)
    try:
        return {key for (key,) in other.execute("SELECT key FROM documents")}
    finally:
        other.close()


async def test_writes_made_at_once_share_one_commit(tmp_path: Path, statements: list[str]) -> None:
    path = tmp_path / "state.sqlite3"
    store = LocalStore(path)
    await store.create("warm", b"{}")
    statements.clear()

    keys = [f"name-index/block-{n}" for n in range(20)]
    await asyncio.gather(*(store.create(key, b"{}") for key in keys))

    assert statements.count("COMMIT") == 1, statements
    assert set(keys) <= _keys_on_disk(path)  # on disk once every create returned
    await store.close()


async def test_writes_one_after_another_are_each_on_disk_when_they_return(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    store = LocalStore(path)
    etag = await store.create("doc", b"1")
    assert "doc" in _keys_on_disk(path)
    etag = await store.replace("doc", b"2", etag)
    other = sqlite3.connect(path)
    assert other.execute("SELECT data FROM documents WHERE key = 'doc'").fetchone() == (b"2",)
    other.close()
    await store.delete("doc", etag)
    assert "doc" not in _keys_on_disk(path)
    await store.close()


async def test_a_listing_right_after_a_write_finds_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state.sqlite3")
    await store.create("workflows/a", b"{}")
    write = asyncio.ensure_future(store.create("workflows/b", b"{}"))
    await asyncio.sleep(0)  # the write is made, its commit not yet
    assert [key async for key in store.keys("workflows/")] == ["workflows/a", "workflows/b"]
    await write
    await store.close()


async def test_a_cancelled_writer_leaves_the_others_of_its_commit_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = LocalStore(path)
    writes = [asyncio.ensure_future(store.create(f"doc-{n}", b"{}")) for n in range(3)]
    await asyncio.sleep(0)  # all three made, waiting for their commit
    writes[0].cancel()
    await asyncio.gather(writes[1], writes[2])
    assert {"doc-1", "doc-2"} <= _keys_on_disk(path)
    await store.close()


def test_a_write_left_uncommitted_by_a_stopped_loop_is_committed_by_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    store = LocalStore(path)
    first = asyncio.new_event_loop()
    write = first.create_task(store.create("doc-1", b"{}"))
    first.call_soon(first.stop)  # it stops once the write is made, before its commit
    first.run_forever()
    assert not write.done() and "doc-1" not in _keys_on_disk(path)
    write.cancel()
    first.close()
    asyncio.run(store.create("doc-2", b"{}"))
    assert {"doc-1", "doc-2"} <= _keys_on_disk(path)
    asyncio.run(store.close())


async def test_a_statement_made_while_the_store_closes_is_refused(tmp_path: Path) -> None:
    """close() hands the connections' closing to the store's thread and waits: a task of
    the same loop that reads meanwhile must not run on a connection being closed (SQLite
    crashes the process then), it is told the store is closed."""
    store = LocalStore(tmp_path / "state.sqlite3")
    await store.create("card", b"{}")
    closing = asyncio.ensure_future(store.close())
    await asyncio.sleep(0)  # close() has begun and waits
    assert not closing.done()
    with pytest.raises(StoreError, match="closed"):
        await store.read("card")
    with pytest.raises(StoreError, match="closed"):
        await store.create("other", b"{}")
    await closing
    assert _keys_on_disk(tmp_path / "state.sqlite3") == {"card"}


async def test_close_lets_the_write_in_progress_finish(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = LocalStore(path)
    await store.create("warm", b"{}")
    writing = asyncio.ensure_future(store.create("card", b"{}"))
    await asyncio.sleep(0)  # its transaction is begun, its commit not yet made
    await store.close()
    await writing
    assert _keys_on_disk(path) == {"warm", "card"}
