"""The embedded ticket archive: one SQLite file with an FTS5 index (the default).

Writes go through one connection on the archive's own writer thread; searches run on a
small pool of reader threads with their own connections. WAL mode lets them read while
an import or the retention purge writes, and the purge deletes in short transactions, so
searches never wait long behind it. Subjects and conversations are stemmed in Python
(:mod:`bot.adapters.tickets.text`) and the FTS5 table holds the stems.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.adapters.tickets.facets import facet_filters, facets
from bot.adapters.tickets.text import indexed, match_expression
from bot.domain.tickets import Agent, Ticket
from bot.services.ticketing.archive import (
    MAX_INDEXED_CHARS,
    SyncState,
    TicketPage,
    TicketQuery,
    TicketSummary,
    mailboxes,
    page_of,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    crm_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status TEXT NOT NULL,
    channel TEXT,
    agent_email TEXT NOT NULL,
    requester_email TEXT,
    requester_phone TEXT,
    closed_at REAL NOT NULL,
    summary TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (tenant_id, crm_id, external_id)
);
CREATE INDEX IF NOT EXISTS tickets_closed ON tickets (tenant_id, closed_at);
CREATE INDEX IF NOT EXISTS tickets_purge ON tickets (closed_at);
CREATE INDEX IF NOT EXISTS tickets_agent ON tickets (tenant_id, agent_email, closed_at);
CREATE INDEX IF NOT EXISTS tickets_requester_email ON tickets (tenant_id, requester_email)
    WHERE requester_email IS NOT NULL;
CREATE INDEX IF NOT EXISTS tickets_requester_phone ON tickets (tenant_id, requester_phone)
    WHERE requester_phone IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS tickets_fts USING fts5(
    subject, conversation, facets, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TABLE IF NOT EXISTS agents (
    tenant_id TEXT NOT NULL,
    email TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant_id, email)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agent_links (
    tenant_id TEXT NOT NULL,
    crm_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (tenant_id, crm_id, external_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ticket_sync (
    tenant_id TEXT NOT NULL,
    crm_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant_id, crm_id)
) WITHOUT ROWID;
"""

_UPSERT = """
INSERT INTO tickets (tenant_id, crm_id, external_id, status, channel, agent_email,
    requester_email, requester_phone, closed_at, summary, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant_id, crm_id, external_id) DO UPDATE SET
    status = excluded.status, channel = excluded.channel,
    agent_email = excluded.agent_email, requester_email = excluded.requester_email,
    requester_phone = excluded.requester_phone, closed_at = excluded.closed_at,
    summary = excluded.summary, data = excluded.data
RETURNING id
"""


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _in(column: str, values: Sequence[str], where: list[str], params: list[Any]) -> None:
    if values:
        where.append(f"{column} IN ({', '.join('?' * len(values))})")
        params.extend(values)


def _filters(tenant_id: str, query: TicketQuery) -> tuple[list[str], list[Any]]:
    where = ["t.tenant_id = ?"]
    params: list[Any] = [tenant_id]
    _in("t.status", [s.value for s in query.statuses], where, params)
    _in("t.channel", [c.value for c in query.channels], where, params)
    _in("t.agent_email", [a.lower() for a in query.agents], where, params)
    if query.crm_id:
        where.append("t.crm_id = ?")
        params.append(query.crm_id)
    if query.closed_from:
        where.append("t.closed_at >= ?")
        params.append(_epoch(query.closed_from))
    if query.closed_to:
        where.append("t.closed_at < ?")
        params.append(_epoch(query.closed_to))
    contact: list[str] = []
    if query.requester_emails:
        contact.append(f"t.requester_email IN ({', '.join('?' * len(query.requester_emails))})")
        params.extend(e.lower() for e in query.requester_emails)
    if query.requester_phones:
        contact.append(f"t.requester_phone IN ({', '.join('?' * len(query.requester_phones))})")
        params.extend(query.requester_phones)
    if contact:
        where.append("(" + " OR ".join(contact) + ")")
    return where, params


def _delete_ids(connection: sqlite3.Connection, ids: list[int]) -> int:
    """Delete these ticket rows and their FTS5 entries (inside the caller's transaction)."""
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        connection.execute(f"DELETE FROM tickets_fts WHERE rowid IN ({marks})", chunk)
        connection.execute(f"DELETE FROM tickets WHERE id IN ({marks})", chunk)
    return len(ids)


def _with_facets(expression: str, query: TicketQuery) -> str:
    """The text expression on the text columns, AND the selective filters as facet tokens.

    FTS5 intersects posting lists, so a common word with a rare agent or channel costs
    what the rare one costs; SQL still checks every filter on the joined row.
    """
    parts = [f"{{subject conversation}} : ({expression})"]
    parts += [f"facets : ({' OR '.join(tokens)})" for tokens in facet_filters(query)]
    return " AND ".join(parts)


class SqliteTicketArchive:
    """:class:`~bot.services.ticketing.archive.TicketArchive` on one SQLite file."""

    def __init__(self, path: Path | str, *, readers: int = 2) -> None:
        self._path = Path(path)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tickets-write")
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="tickets-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, isolation_level=None, timeout=30, check_same_thread=False
            )
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result

        return await asyncio.get_running_loop().run_in_executor(self._writer, run)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, lambda: work(self._connection())
        )

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)

        def create(connection: sqlite3.Connection) -> None:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)

        await asyncio.get_running_loop().run_in_executor(
            self._writer, lambda: create(self._connection())
        )

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    # -- agents -------------------------------------------------------------------------

    async def agent(self, tenant_id: str, email: str) -> Agent | None:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM agents WHERE tenant_id = ? AND email = ?",
                (tenant_id, email.lower()),
            ).fetchall()
        )
        return Agent.model_validate_json(rows[0][0]) if rows else None

    async def agent_by_external_id(
        self, tenant_id: str, crm_id: str, external_id: str
    ) -> Agent | None:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT a.data FROM agent_links l JOIN agents a "
                "ON a.tenant_id = l.tenant_id AND a.email = l.email "
                "WHERE l.tenant_id = ? AND l.crm_id = ? AND l.external_id = ?",
                (tenant_id, crm_id, external_id),
            ).fetchall()
        )
        return Agent.model_validate_json(rows[0][0]) if rows else None

    async def put_agent(self, agent: Agent) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO agents (tenant_id, email, data) VALUES (?, ?, ?)",
                (agent.tenant_id, agent.email.lower(), agent.model_dump_json()),
            )
        )

    async def link_agent(self, tenant_id: str, crm_id: str, external_id: str, email: str) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO agent_links (tenant_id, crm_id, external_id, email) "
                "VALUES (?, ?, ?, ?)",
                (tenant_id, crm_id, external_id, email.lower()),
            )
        )

    async def unlink_agent(self, tenant_id: str, crm_id: str, external_id: str) -> None:
        await self._write(
            lambda c: c.execute(
                "DELETE FROM agent_links WHERE tenant_id = ? AND crm_id = ? AND external_id = ?",
                (tenant_id, crm_id, external_id),
            )
        )

    async def delete_agent(self, tenant_id: str, email: str) -> None:
        def delete(connection: sqlite3.Connection) -> None:
            key = (tenant_id, email.lower())
            connection.execute("DELETE FROM agent_links WHERE tenant_id = ? AND email = ?", key)
            connection.execute("DELETE FROM agents WHERE tenant_id = ? AND email = ?", key)

        await self._write(delete)

    async def agents(self, tenant_id: str) -> list[Agent]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM agents WHERE tenant_id = ? ORDER BY email", (tenant_id,)
            ).fetchall()
        )
        return [Agent.model_validate_json(row[0]) for row in rows]

    # -- tickets ------------------------------------------------------------------------

    async def put_tickets(self, tickets: Sequence[Ticket]) -> None:
        # Analysis (stemming) happens here, on the event loop's thread: it is the CPU work
        # of an import and keeps the writer thread's transaction short.
        prepared = [
            (
                (
                    t.tenant_id,
                    t.crm_id,
                    t.external_id,
                    t.status.value,
                    t.channel.value if t.channel else None,
                    t.agent_email.lower(),
                    t.requester_email.lower() if t.requester_email else None,
                    t.requester_phone,
                    _epoch(t.closed_at),
                    TicketSummary.of(t).model_dump_json(),
                    t.model_dump_json(),
                ),
                indexed(t.subject, t.language),
                indexed(t.conversation[:MAX_INDEXED_CHARS], t.language),
                " ".join(facets(t)),
            )
            for t in tickets
        ]

        def write(connection: sqlite3.Connection) -> None:
            for row, subject, conversation, tokens in prepared:
                (rowid,) = connection.execute(_UPSERT, row).fetchone()
                connection.execute("DELETE FROM tickets_fts WHERE rowid = ?", (rowid,))
                connection.execute(
                    "INSERT INTO tickets_fts (rowid, subject, conversation, facets) "
                    "VALUES (?, ?, ?, ?)",
                    (rowid, subject, conversation, tokens),
                )

        if prepared:
            await self._write(write)

    async def ticket(self, tenant_id: str, crm_id: str, external_id: str) -> Ticket | None:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM tickets WHERE tenant_id = ? AND crm_id = ? AND external_id = ?",
                (tenant_id, crm_id, external_id),
            ).fetchall()
        )
        return Ticket.model_validate_json(rows[0][0]) if rows else None

    async def search(self, tenant_id: str, query: TicketQuery) -> TicketPage:
        where, params = _filters(tenant_id, query)
        expression = match_expression(query.text) if query.text else None
        if expression is not None:
            expression = _with_facets(expression, query)
        if query.text and expression is None:
            return page_of(query, [])
        if expression is not None:
            # CROSS JOIN keeps FTS5 the outer loop: with an agent filter the planner would
            # otherwise walk that agent's tickets and run the MATCH once per ticket
            sql = (
                "SELECT t.summary FROM tickets_fts CROSS JOIN tickets t "
                "ON t.id = tickets_fts.rowid "
                f"WHERE tickets_fts MATCH ? AND {' AND '.join(where)} "
            )
            params.insert(0, expression)
            order = (
                "bm25(tickets_fts, 3.0, 1.0, 0.0), t.closed_at DESC, t.id DESC"
                if query.by_relevance
                else "t.closed_at DESC, t.id DESC"
            )
        else:
            sql = f"SELECT t.summary FROM tickets t WHERE {' AND '.join(where)} "
            order = "t.closed_at DESC, t.id DESC"
        sql += f"ORDER BY {order} LIMIT ? OFFSET ?"
        params += [query.page_size + 1, query.offset]
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        return page_of(query, [row[0] for row in rows])

    async def count(self, tenant_id: str) -> int:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT count(*) FROM tickets WHERE tenant_id = ?", (tenant_id,)
            ).fetchall()
        )
        return int(rows[0][0])

    async def _delete_where(self, where: str, params: Sequence[Any]) -> int:
        def delete(connection: sqlite3.Connection) -> int:
            ids = [
                row[0]
                for row in connection.execute(f"SELECT id FROM tickets WHERE {where}", params)
            ]
            return _delete_ids(connection, ids)

        return await self._write(delete)

    async def delete_tickets(self, tenant_id: str, crm_id: str, external_ids: Sequence[str]) -> int:
        if not external_ids:
            return 0
        marks = ", ".join("?" * len(external_ids))
        return await self._delete_where(
            f"tenant_id = ? AND crm_id = ? AND external_id IN ({marks})",
            [tenant_id, crm_id, *external_ids],
        )

    @staticmethod
    def _requester(
        tenant_id: str, emails: Sequence[str], phones: Sequence[str]
    ) -> tuple[str, list[Any]]:
        boxes = mailboxes(emails)
        where = (
            f"tenant_id = ? AND (requester_email IN ({', '.join('?' * len(boxes)) or 'NULL'}) "
            f"OR requester_phone IN ({', '.join('?' * len(phones)) or 'NULL'}))"
        )
        return where, [tenant_id, *boxes, *phones]

    async def requester_tickets(
        self, tenant_id: str, *, emails: Sequence[str], phones: Sequence[str]
    ) -> list[Ticket]:
        where, params = self._requester(tenant_id, emails, phones)
        rows = await self._read(
            lambda c: c.execute(
                f"SELECT data FROM tickets WHERE {where} ORDER BY closed_at DESC", params
            ).fetchall()
        )
        return [Ticket.model_validate_json(row[0]) for row in rows]

    async def erase_requester(
        self, tenant_id: str, *, emails: Sequence[str], phones: Sequence[str]
    ) -> int:
        where, params = self._requester(tenant_id, emails, phones)
        return await self._delete_where(where, params)

    async def purge(self, closed_before: datetime, *, batch: int = 2_000) -> int:
        cutoff = _epoch(closed_before)

        def delete_batch(connection: sqlite3.Connection) -> int:
            ids = [
                row[0]
                for row in connection.execute(
                    "SELECT id FROM tickets WHERE closed_at < ? LIMIT ?", (cutoff, batch)
                )
            ]
            return _delete_ids(connection, ids)

        total = 0
        while deleted := await self._write(delete_batch):
            total += deleted
            await asyncio.sleep(0)  # let searches and imports in between batches
        return total

    # -- sync state ---------------------------------------------------------------------

    async def sync_state(self, tenant_id: str, crm_id: str) -> SyncState | None:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM ticket_sync WHERE tenant_id = ? AND crm_id = ?",
                (tenant_id, crm_id),
            ).fetchall()
        )
        return SyncState.model_validate_json(rows[0][0]) if rows else None

    async def put_sync_state(self, state: SyncState) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO ticket_sync (tenant_id, crm_id, data) VALUES (?, ?, ?)",
                (state.tenant_id, state.crm_id, state.model_dump_json()),
            )
        )

    async def sync_states(self, tenant_id: str) -> list[SyncState]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT data FROM ticket_sync WHERE tenant_id = ? ORDER BY crm_id", (tenant_id,)
            ).fetchall()
        )
        return [SyncState.model_validate_json(row[0]) for row in rows]
