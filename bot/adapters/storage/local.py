"""The embedded store: one SQLite file, safe across threads and processes.

SQLite's own locking makes the compare-and-swap in :meth:`LocalStore.replace` atomic
even when two bot processes share the file; WAL mode keeps readers off writers' backs.

Each statement is first tried on the calling thread with no waiting at all: in WAL mode a
primary-key read or a small commit (no fsync with ``synchronous=NORMAL``) takes
microseconds, far less than a hop to another thread. Only when the file is busy (another
process is writing) does the statement move to the store's own thread, which may wait.
Checkpoints, the one slow part, always run on that thread.

The documents live in an ordinary (rowid) table. A ``WITHOUT ROWID`` table keeps at most
about a quarter of a page of each row in its b-tree (SQLite's guidance: such tables suit
rows under a twentieth of a page), so an interaction of 2-3 KB spilled into an overflow
page and every read and compare-and-swap write of it touched two pages; in a rowid table
it fits its leaf page (measured at 2.2 KB between other work, as a click runs them: about
a third less time for the read and for the write). Files from before are rebuilt once,
when first opened.

Writes share commits: the first write on a calling thread's connection opens a
transaction (``BEGIN IMMEDIATE``, which takes the file's write lock or finds it busy and
moves the write to the store's thread as above), and every write that thread's event loop
makes before its next iteration goes into it; the transaction is committed in that next
iteration, and each write returns once its commit is done, so what a write returned is on
disk and seen by other processes, as with a commit per write. A commit is most of a small
write's cost (a WAL frame per page, the file's locks): the name index files a new card
under a few dozen documents at once, and the cards of many interactions in flight are
written in the same iterations. A listing or a statement moved to the store's thread waits
for the commit in progress first, so it sees what was written before it; another process
waits for the write lock no longer than one iteration of this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.services.store import AlreadyExists, Document, PreconditionFailed, StoreError

log = logging.getLogger(__name__)

_COLUMNS = "(key TEXT PRIMARY KEY, data BLOB NOT NULL, etag TEXT NOT NULL)"
_READ = "SELECT data, etag FROM documents WHERE key = ?"
_INSERT = "INSERT INTO documents (key, data, etag) VALUES (?, ?, ?)"
_REPLACE = "UPDATE documents SET data = ?, etag = ? WHERE key = ? AND etag = ?"
_CHECKPOINT_EVERY = 500  # commits made without waiting between two background checkpoints


def _new_etag() -> str:
    return f'"{os.urandom(16).hex()}"'  # as random as uuid4, a quarter of its cost


def _connect(path: Path, *, wait: float) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=wait, check_same_thread=False)
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _rows(connection: sqlite3.Connection, query: str, params: tuple[Any, ...]) -> list[Any]:
    """One statement's rows, or ``[rowcount]`` for a write."""
    cursor = connection.execute(query, params)
    return cursor.fetchall() if cursor.description else [cursor.rowcount]


def _create_table(connection: sqlite3.Connection) -> None:
    """The documents table: created, or in a file written before it was a rowid table
    (``WITHOUT ROWID``), rebuilt as one with every key, document and ETag. One transaction:
    another process sees the old table or the new one, and the first to open does it."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        found = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'documents'"
        ).fetchone()
        if found is None:
            connection.execute(f"CREATE TABLE documents {_COLUMNS}")
        elif "WITHOUT ROWID" in found[0].upper():
            (count,) = connection.execute("SELECT count(*) FROM documents").fetchone()
            log.warning(
                "rebuilding the documents table as a rowid table, once: %d documents", count
            )
            connection.execute(f"CREATE TABLE documents_rebuilt {_COLUMNS}")
            connection.execute(
                "INSERT INTO documents_rebuilt (key, data, etag)"
                " SELECT key, data, etag FROM documents"
            )
            connection.execute("DROP TABLE documents")
            connection.execute("ALTER TABLE documents_rebuilt RENAME TO documents")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


class LocalStore:
    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-store")
        self._waiting: sqlite3.Connection | None = None  # owned by the store's thread
        self._immediate = threading.local()  # one non-waiting connection per calling thread
        self._opened: list[tuple[int, sqlite3.Connection]] = []  # (its thread, connection)
        self._closed = False
        self._ready = threading.Lock()
        self._schema_ready = False
        self._commits = 0

    def _ensure_schema(self) -> None:
        with self._ready:
            if not self._schema_ready:
                connection = _connect(self._path, wait=30)
                connection.execute("PRAGMA journal_mode=WAL")
                _create_table(connection)
                connection.close()
                self._schema_ready = True

    def _immediate_db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._immediate, "connection", None)
        if connection is None:
            self._ensure_schema()
            connection = _connect(self._path, wait=0)
            connection.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints: store's thread
            self._immediate.connection = connection
            self._opened.append((threading.get_ident(), connection))
        return connection

    def _waiting_db(self) -> sqlite3.Connection:
        if self._waiting is None:
            self._ensure_schema()
            self._waiting = _connect(self._path, wait=30)
        return self._waiting

    async def _on_store_thread(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        await self._committed()
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _rows, self._waiting_db(), query, params
        )

    async def _run(self, query: str, *params: Any) -> list[Any]:
        if self._closed:
            raise StoreError("the store is closed")
        if query is _READ:
            try:
                return _rows(self._immediate_db(), query, params)
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
                return await self._on_store_thread(query, params)
        waiting = self._transaction()
        if waiting is None:  # another process is writing
            return await self._on_store_thread(query, params)
        rows = _rows(self._immediate_db(), query, params)
        if rows != [0]:  # a write made (a refused compare-and-swap changed nothing)
            committed = asyncio.get_running_loop().create_future()
            waiting.append(committed)
            await committed
        return rows

    def _transaction(self) -> list[asyncio.Future[None]] | None:
        """The writes waiting for this thread's commit of this loop iteration, its
        transaction begun by the first of them (None: the file is busy, nothing begun)."""
        local = self._immediate
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Future[None]] | None = getattr(local, "waiting", None)
        connection = self._immediate_db()
        if waiting is not None:
            if local.loop is loop:
                return waiting
            self._commit(connection, waiting)  # its loop stopped before committing it
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
            return None
        local.waiting, local.loop = (waiting := []), loop
        loop.call_soon(self._commit, connection, waiting)
        return waiting

    def _commit(self, connection: sqlite3.Connection, waiting: list[asyncio.Future[None]]) -> None:
        if self._immediate.waiting is not waiting:
            return  # committed already (its loop had stopped: the next write did)
        self._immediate.waiting = None
        failed: BaseException | None = None
        try:
            if not connection.in_transaction:  # SQLite rolled it back on a failed write
                raise StoreError("a write's transaction was rolled back; nothing was written")
            connection.execute("COMMIT")
        except Exception as error:
            failed = error
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        for committed in waiting:
            if committed.done() or committed.get_loop().is_closed():
                continue  # its writer was cancelled, or is gone: the write stands alike
            if failed is None:
                committed.set_result(None)
            else:
                committed.set_exception(failed)
        if failed is None:
            self._commits += 1
            if self._commits % _CHECKPOINT_EVERY == 0:
                self._checkpoint_soon()

    async def _committed(self) -> None:
        """Once this thread's commit in progress, if any, is done: a statement on the
        store's thread must see what was written before it."""
        waiting: list[asyncio.Future[None]] | None = getattr(self._immediate, "waiting", None)
        if waiting is not None:
            committed = asyncio.get_running_loop().create_future()
            waiting.append(committed)
            with contextlib.suppress(Exception):  # the writes' failure is theirs to report
                await committed

    def _checkpoint_soon(self) -> None:
        def checkpoint() -> None:
            self._waiting_db().execute("PRAGMA wal_checkpoint(PASSIVE)")

        asyncio.get_running_loop().run_in_executor(self._executor, checkpoint)

    async def read(self, key: str) -> Document | None:
        rows = await self._run(_READ, key)
        return Document(data=bytes(rows[0][0]), etag=rows[0][1]) if rows else None

    async def create(self, key: str, data: bytes) -> str:
        etag = _new_etag()
        try:
            await self._run(_INSERT, key, data, etag)
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(key) from exc
        return etag

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        new_etag = _new_etag()
        [changed] = await self._run(_REPLACE, data, new_etag, key, etag)
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
        if self._closed:
            raise StoreError("the store is closed")
        rows = await self._on_store_thread(
            "SELECT key FROM documents WHERE key >= ? AND key < ? ORDER BY key",
            (prefix, prefix + "\U0010ffff"),
        )
        for (key,) in rows:
            yield key

    async def close(self) -> None:
        """Refuse new statements, let the commit in progress finish, then close.

        Each connection is closed on the thread that runs its statements: closing one that
        another thread is using crashes SQLite. The calling thread's own connections close
        here, the store thread's on that thread, once it is idle; another thread's
        connection (a second event loop sharing the store) is left to close with that
        thread, which may still be running a statement on it."""
        self._closed = True
        await self._committed()
        here = threading.get_ident()
        for thread, connection in self._opened:
            if thread == here:
                connection.close()
        self._opened.clear()

        def shutdown() -> None:
            if self._waiting is not None:
                self._waiting.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._waiting.close()
                self._waiting = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shutdown)
        self._executor.shutdown(wait=True)
