"""The embedded store: one SQLite file, safe across threads and processes.

SQLite's own locking makes the compare-and-swap in :meth:`LocalStore.replace` atomic
even when two bot processes share the file; WAL mode keeps readers off writers' backs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.services.store import AlreadyExists, Document, PreconditionFailed

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    key TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    etag TEXT NOT NULL
) WITHOUT ROWID
"""


_READ = "SELECT data, etag FROM documents WHERE key = ?"


def _new_etag() -> str:
    return f'"{uuid.uuid4().hex}"'


class LocalStore:
    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # One thread owns the connection: no locking in Python, no cross-thread use.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-store")
        self._connection: sqlite3.Connection | None = None
        self._readers = threading.local()
        self._all_readers: list[sqlite3.Connection] = []
        self._schema_ready = False

    def _db_ready(self) -> None:
        """Create the file and schema once, before any reader opens it."""
        if not self._schema_ready:
            connection = sqlite3.connect(self._path, isolation_level=None, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
            connection.close()
            self._schema_ready = True

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            self._connection = connection
        return self._connection

    async def _run(self, query: str, *params: Any) -> list[Any]:
        """Run one statement on the store's thread: its rows, or ``[rowcount]`` for writes."""

        def execute() -> list[Any]:
            cursor = self._db().execute(query, params)
            return cursor.fetchall() if cursor.description else [cursor.rowcount]

        return await asyncio.get_running_loop().run_in_executor(self._executor, execute)

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection (connections are not shared across threads)."""
        reader: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if reader is None:
            self._db_ready()
            reader = sqlite3.connect(
                self._path, isolation_level=None, timeout=0.05, check_same_thread=False
            )
            reader.execute("PRAGMA query_only=ON")
            self._readers.connection = reader
            self._all_readers.append(reader)
        return reader

    async def read(self, key: str) -> Document | None:
        # A primary-key read in WAL mode never waits for writers and takes microseconds:
        # cheaper on the event loop than the hop to the store's thread. A read that does
        # find the file busy (a checkpoint, say) takes the hop instead.
        try:
            rows = self._reader().execute(_READ, (key,)).fetchall()
        except sqlite3.OperationalError:
            rows = await self._run(_READ, key)
        return Document(data=bytes(rows[0][0]), etag=rows[0][1]) if rows else None

    async def create(self, key: str, data: bytes) -> str:
        etag = _new_etag()
        try:
            await self._run(
                "INSERT INTO documents (key, data, etag) VALUES (?, ?, ?)", key, data, etag
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(key) from exc
        return etag

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        new_etag = _new_etag()
        [changed] = await self._run(
            "UPDATE documents SET data = ?, etag = ? WHERE key = ? AND etag = ?",
            data,
            new_etag,
            key,
            etag,
        )
        if changed != 1:
            raise PreconditionFailed(key)
        return new_etag

    async def delete(self, key: str, etag: str | None = None) -> None:
        if etag is None:
            await self._run("DELETE FROM documents WHERE key = ?", key)
            return
        [deleted] = await self._run("DELETE FROM documents WHERE key = ? AND etag = ?", key, etag)
        if deleted != 1:
            raise PreconditionFailed(key)

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        rows = await self._run(
            "SELECT key FROM documents WHERE key >= ? AND key < ? ORDER BY key",
            prefix,
            prefix + "\U0010ffff",
        )
        for (key,) in rows:
            yield key

    async def close(self) -> None:
        def shutdown() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            for reader in self._all_readers:
                reader.close()
            self._all_readers.clear()

        await asyncio.get_running_loop().run_in_executor(self._executor, shutdown)
        self._executor.shutdown(wait=True)
