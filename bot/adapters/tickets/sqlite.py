"""The embedded ticket archive: one SQLite file with an FTS5 index (the default).

Writes go through one connection on the archive's own writer thread; searches run on a
small pool of reader threads with their own connections. WAL mode lets them read while
an import or the retention purge writes, and the purge deletes in short transactions, so
searches never wait long behind it. Subjects and conversations are stemmed in Python
(:mod:`bot.adapters.tickets.text`) and the FTS5 table holds the stems.

A ticket's row id is the second it was closed, shifted left by 20 bits, plus a sequence
within that second: id order is closing order. FTS5 hands out matches in row-id order
and stops when the query's LIMIT is reached, so a text search walks the newest matches
first and only as far as the page (date order) or the ranked window (relevance, see
:data:`~bot.services.ticketing.archive.RANKED_WINDOW`) needs, and a closing-date range
is a row-id range the index skips to. A word in half the tickets costs what the page
costs, not what the word costs. Archives written before this layout (``user_version``
0) are re-keyed once when opened.

The window is ranked by BM25 computed in SQL over the window itself (term counts from
the stored stems, the window's own document frequencies and average length): FTS5's
``bm25()`` would first count every ticket holding each query word, which for a word in
half the archive is the whole cost the window avoids.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.adapters.tickets.facets import facet, facet_filters, facets, narrowing
from bot.adapters.tickets.text import indexed, match_expression, stems
from bot.domain.tickets import Agent, Language, Ticket
from bot.services.ticketing.archive import (
    MAX_INDEXED_CHARS,
    SyncState,
    TicketPage,
    TicketQuery,
    TicketSummary,
    mailboxes,
    page_of,
    rested_batches,
)

T = TypeVar("T")

LAYOUT = 1
"""``PRAGMA user_version`` of the current layout (row ids in closing order)."""
SECOND = 1 << 20
"""Row ids of one closing second: ``second * SECOND`` up to the next second's."""
SAMPLE = 2_000
"""How many of the newest tickets the facet shares are counted over."""
STATS_SECONDS = 300.0
"""How long sampled facet shares are used before sampling again."""
PURGE_BATCH = 500
"""Tickets the retention purge deletes per transaction (each FTS5 row it deletes is read
and tokenised again to remove its postings)."""

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

_INSERT = """
INSERT INTO tickets (id, tenant_id, crm_id, external_id, status, channel, agent_email,
    requester_email, requester_phone, closed_at, summary, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPDATE = """
UPDATE tickets SET status = ?, channel = ?, agent_email = ?, requester_email = ?,
    requester_phone = ?, closed_at = ?, summary = ?, data = ?
WHERE id = ?
"""
_COLUMNS = (
    "tenant_id, crm_id, external_id, status, channel, agent_email, requester_email, "
    "requester_phone, closed_at, summary, data"
)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _second(moment: float) -> int:
    return max(0, int(moment))


def _free_id(connection: sqlite3.Connection, closed_at: float) -> int:
    """The next row id of the ticket's closing second (a full second spills into the next)."""
    low = _second(closed_at) * SECOND
    while True:
        (top,) = connection.execute(
            "SELECT max(id) FROM tickets WHERE id >= ? AND id < ?", (low, low + SECOND)
        ).fetchone()
        if top is None:
            return low
        if top + 1 < low + SECOND:
            return int(top) + 1
        low += SECOND


def _script(connection: sqlite3.Connection, script: str) -> None:
    """Run each statement of ``script`` inside the caller's transaction (executescript
    would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


def _rekey(connection: sqlite3.Connection) -> None:
    """Re-key an archive of the first layout (ids in import order) into closing order, and
    add the tenant token to its index; one transaction, inside the caller's."""
    connection.create_function("tenant_facet", 1, lambda t: facet("tn", t), deterministic=True)
    indexes = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for (name,) in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    connection.execute("ALTER TABLE tickets RENAME TO tickets_v0")
    connection.execute("ALTER TABLE tickets_fts RENAME TO tickets_fts_v0")
    _script(connection, _SCHEMA)  # the new tables (and their indexes: empty yet)
    connection.execute(
        "CREATE TEMP TABLE rekey AS SELECT id AS old, "
        "(CAST(max(closed_at, 0) AS INTEGER) << 20) + row_number() OVER "
        "(PARTITION BY CAST(max(closed_at, 0) AS INTEGER) ORDER BY id) - 1 AS new "
        "FROM tickets_v0"
    )
    connection.execute(
        f"INSERT INTO tickets (id, {_COLUMNS}) SELECT r.new, {_COLUMNS} "
        "FROM tickets_v0 JOIN rekey r ON r.old = tickets_v0.id ORDER BY r.new"
    )
    connection.execute(
        "INSERT INTO tickets_fts (rowid, subject, conversation, facets) "
        "SELECT r.new, f.subject, f.conversation, f.facets || ' ' || tenant_facet(t.tenant_id) "
        "FROM tickets_fts_v0 f JOIN rekey r ON r.old = f.rowid "
        "JOIN tickets_v0 t ON t.id = r.old ORDER BY r.new"
    )
    connection.execute("DROP TABLE rekey")
    connection.execute("DROP TABLE tickets_v0")
    connection.execute("DROP TABLE tickets_fts_v0")


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


def _with_facets(
    expression: str, tenant_id: str, query: TicketQuery, shares: Mapping[str, float]
) -> str:
    """The text expression on the text columns, AND the tenant and the filters as facet
    tokens where they are selective.

    FTS5 intersects posting lists, so a common word with a rare agent or channel costs
    what the rare one costs. A token most tickets carry (the only tenant, a status
    nearly every ticket has) narrows nothing and its long posting list is most of the
    search's cost, so a tenant or filter not :func:`~bot.adapters.tickets.facets.narrowing`
    by its ``shares`` of the newest tickets stays out of the index query. SQL checks
    every filter on the joined row either way.
    """
    parts = [f"{{subject conversation}} : ({expression})"]
    parts += [
        f"facets : ({' OR '.join(tokens)})"
        for tokens in narrowing([[facet("tn", tenant_id)], *facet_filters(query)], shares)
    ]
    return " AND ".join(parts)


def _sample_shares(connection: sqlite3.Connection, tenant_id: str) -> dict[str, float]:
    """Facet token -> its share of the newest :data:`SAMPLE` tickets: the tenant's among
    all tenants', each status's, channel's and agent's among the tenant's."""
    newest = connection.execute(
        "SELECT tenant_id FROM tickets ORDER BY id DESC LIMIT ?", (SAMPLE,)
    ).fetchall()
    rows = connection.execute(
        "SELECT status, channel, agent_email FROM tickets WHERE tenant_id = ? "
        "ORDER BY closed_at DESC LIMIT ?",
        (tenant_id, SAMPLE),
    ).fetchall()
    counts: Counter[str] = Counter()
    for status, channel, agent in rows:
        counts[facet("st", status)] += 1
        counts[facet("ag", agent)] += 1
        if channel is not None:
            counts[facet("ch", channel)] += 1
    shares = {token: count / len(rows) for token, count in counts.items()}
    if newest:
        shares[facet("tn", tenant_id)] = sum(t == tenant_id for (t,) in newest) / len(newest)
    return shares


def _id_range(query: TicketQuery) -> tuple[int, int]:
    """Row ids that can hold the query's closing dates (SQL checks the exact times)."""
    low = _second(_epoch(query.closed_from)) * SECOND if query.closed_from else 0
    high = (_second(_epoch(query.closed_to)) + 1) * SECOND if query.closed_to else 1 << 62
    return low, high


SCORED_WORDS = 12
"""Of a long query, the first this many distinct stems weigh in the ranking."""


def _ranked(newest: str, words: list[str]) -> str:
    """BM25 (k1 1.2, b 0.75; subject words count 3 times) of the ``newest`` window (the
    first ``?`` rows ranked, the rest in date order).

    Each stem's count in a column is how much shorter the column gets without it, in a
    copy whose words are set apart by two spaces (so neighbours both count).
    """
    counts = ", ".join(
        f"(length(s) - length(replace(s, ?, ''))) / {len(w) + 2} * 3 "
        f"+ (length(c) - length(replace(c, ?, ''))) / {len(w) + 2} AS tf{i}"
        for i, w in enumerate(words)
    )
    frequencies = ", ".join(f"sum(tf{i} > 0) OVER () AS df{i}" for i in range(len(words)))
    score = " + ".join(
        f"ln(1 + (n - df{i} + 0.5) / (df{i} + 0.5)) * tf{i} * 2.2 "
        f"/ (tf{i} + 1.2 * (0.25 + 0.75 * dl / max(avgdl, 1)))"
        for i in range(len(words))
    )
    return (
        "WITH hits AS MATERIALIZED (SELECT t.summary AS summary, t.id AS id, "
        "' ' || replace(tickets_fts.subject, ' ', '  ') || ' ' AS s, "
        f"' ' || replace(tickets_fts.conversation, ' ', '  ') || ' ' AS c {newest}), "
        f"counted AS (SELECT summary, id, {counts}, "
        "(length(s) - length(replace(s, '  ', ''))) * 1.5 "
        "+ (length(c) - length(replace(c, '  ', ''))) / 2.0 AS dl FROM hits), "
        "stats AS (SELECT *, avg(dl) OVER () AS avgdl, count(*) OVER () AS n, "
        f"row_number() OVER (ORDER BY id DESC) AS nth, {frequencies} FROM counted) "
        f"SELECT summary FROM stats ORDER BY nth > ?, CASE WHEN nth <= ? THEN {score} END DESC, "
        "id DESC LIMIT ? OFFSET ?"
    )


def _text_search(
    tenant_id: str, query: TicketQuery, expression: str, shares: Mapping[str, float]
) -> tuple[str, list[Any]]:
    """The SQL of a text search (see the module docstring) and its parameters."""
    where, filters = _filters(tenant_id, query)
    match = _with_facets(expression, tenant_id, query, shares)
    tail = [query.page_size + 1, query.offset]
    if query.requester_emails or query.requester_phones:
        # a contact's tickets are few: the planner finds them first, then matches each
        newest = (
            "FROM tickets t JOIN tickets_fts ON tickets_fts.rowid = t.id "
            f"WHERE tickets_fts MATCH ? AND {' AND '.join(where)} ORDER BY t.id DESC LIMIT ?"
        )
        params = [match, *filters]
    else:
        # CROSS JOIN keeps FTS5 the outer loop, walking its matches newest first
        newest = (
            "FROM tickets_fts CROSS JOIN tickets t ON t.id = tickets_fts.rowid "
            "WHERE tickets_fts MATCH ? AND tickets_fts.rowid >= ? AND tickets_fts.rowid < ? "
            f"AND {' AND '.join(where)} ORDER BY tickets_fts.rowid DESC LIMIT ?"
        )
        params = [match, *_id_range(query), *filters]
    if not query.by_relevance:
        return f"SELECT t.summary {newest} OFFSET ?", [*params, *tail]
    assert query.text is not None  # by_relevance: there is text
    found = (w for language in Language for w in stems(query.text, language))
    words = list(dict.fromkeys(found))[:SCORED_WORDS]
    patterns = [f" {w} " for w in words for _ in ("subject", "conversation")]
    window = [query.ranked, query.ranked]
    return _ranked(newest, words), [*params, query.newest, *patterns, *window, *tail]


class SqliteTicketArchive:
    """:class:`~bot.services.ticketing.archive.TicketArchive` on one SQLite file."""

    def __init__(self, path: Path | str, *, readers: int = 2) -> None:
        self._path = Path(path)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tickets-write")
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="tickets-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._sampled: dict[str, tuple[float, dict[str, float]]] = {}
        self.clock: Callable[[], float] = time.monotonic

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
            (layout,) = connection.execute("PRAGMA user_version").fetchone()
            old = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tickets'"
            ).fetchone()
            connection.execute("BEGIN IMMEDIATE")
            try:
                if old is not None and layout < LAYOUT:
                    _rekey(connection)
                _script(connection, _SCHEMA)
                connection.execute(f"PRAGMA user_version = {LAYOUT}")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

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
                " ".join([*facets(t), facet("tn", t.tenant_id)]),
            )
            for t in tickets
        ]

        def write(connection: sqlite3.Connection) -> None:
            for row, subject, conversation, tokens in prepared:
                found = connection.execute(
                    "SELECT id FROM tickets WHERE tenant_id = ? AND crm_id = ? AND external_id = ?",
                    row[:3],
                ).fetchone()
                if found is not None and found[0] // SECOND == _second(row[8]):
                    rowid = found[0]  # closed in the same second: its place stays
                    connection.execute(_UPDATE, (*row[3:], rowid))
                else:  # new, or closed at another time: it moves to its new place
                    if found is not None:
                        _delete_ids(connection, [found[0]])
                    rowid = _free_id(connection, row[8])
                    connection.execute(_INSERT, (rowid, *row))
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

    async def _shares(self, tenant_id: str) -> dict[str, float]:
        """The tenant's facet shares (:func:`_sample_shares`), sampled again after
        :data:`STATS_SECONDS`."""
        now = self.clock()
        sampled = self._sampled.get(tenant_id)
        if sampled is None or now - sampled[0] > STATS_SECONDS:
            shares = await self._read(lambda c: _sample_shares(c, tenant_id))
            sampled = self._sampled[tenant_id] = (now, shares)
        return sampled[1]

    async def search(self, tenant_id: str, query: TicketQuery) -> TicketPage:
        if query.text:
            expression = match_expression(query.text)
            if expression is None:
                return page_of(query, [])
            shares = await self._shares(tenant_id)
            sql, params = _text_search(tenant_id, query, expression, shares)
        else:
            where, params = _filters(tenant_id, query)
            sql = (
                f"SELECT t.summary FROM tickets t WHERE {' AND '.join(where)} "
                "ORDER BY t.closed_at DESC, t.id DESC LIMIT ? OFFSET ?"
            )
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

    async def purge(self, closed_before: datetime, *, batch: int = PURGE_BATCH) -> int:
        """See the port; in :func:`~bot.services.ticketing.archive.rested_batches`."""
        cutoff = _epoch(closed_before)

        def delete_batch(connection: sqlite3.Connection) -> int:
            ids = [
                row[0]
                for row in connection.execute(
                    "SELECT id FROM tickets WHERE closed_at < ? LIMIT ?", (cutoff, batch)
                )
            ]
            return _delete_ids(connection, ids)

        return await rested_batches(lambda: self._write(delete_batch), batch)

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
