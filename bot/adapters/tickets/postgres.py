"""The shared ticket archive: PostgreSQL full-text search through asyncpg (production).

Each ticket row carries a ``tsvector`` built by the database with the ticket's language
configuration (``english``, ``german`` or ``french``): the subject weighted A, the
conversation B, under a GIN index. A query is parsed with all three configurations and
the three ``tsquery`` values are OR-ed, so it finds a ticket in whichever language it is
written; hits are ranked by ``ts_rank``. Filters use B-tree indexes led by the tenant.
The retention purge deletes in short transactions so searches keep running meanwhile.

A text search takes the newest matches first (the page in date order, the ranked window
for relevance: :data:`~bot.services.ticketing.archive.RANKED_WINDOW`). How it finds them
depends on how common the words are, which ``ANALYZE`` records for the ``document``
column (``pg_stats.most_common_elems``, read every few minutes): for rare words the GIN
index lists their few tickets; for words in at least :data:`COMMON` of all tickets that
list is a large part of the table, so the search walks the filter's B-tree index
(tenant with agent, channel or closing date) from the newest ticket and stops when the
page or window is full -- a few hundred rows instead of hundreds of thousands. The
planner cannot tell the two apart (the filters are also index tokens, and it counts them
twice), so the archive chooses: bitmap scans are switched off for the common case. Every
connection plans each statement with its values (``plan_cache_mode``), so the words
are constants to the planner, never re-parsed per row.
``password`` may be an async callable (asyncpg asks it on every new connection), e.g.
:class:`~bot.adapters.tickets.entra_password.ManagedIdentityPassword`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from bot.adapters.tickets.facets import facet_filters, facets, narrowing
from bot.adapters.tickets.text import stems
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS crmcard_tickets (
    id bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    crm_id text NOT NULL,
    external_id text NOT NULL,
    status text NOT NULL,
    channel text,
    agent_email text NOT NULL,
    requester_email text,
    requester_phone text,
    closed_at timestamptz NOT NULL,
    summary text NOT NULL,
    data text NOT NULL,
    document tsvector NOT NULL,
    UNIQUE (tenant_id, crm_id, external_id)
);
CREATE INDEX IF NOT EXISTS crmcard_tickets_document ON crmcard_tickets USING gin (document);
CREATE INDEX IF NOT EXISTS crmcard_tickets_closed ON crmcard_tickets (tenant_id, closed_at);
CREATE INDEX IF NOT EXISTS crmcard_tickets_purge ON crmcard_tickets (closed_at);
CREATE INDEX IF NOT EXISTS crmcard_tickets_agent
    ON crmcard_tickets (tenant_id, agent_email, closed_at);
CREATE INDEX IF NOT EXISTS crmcard_tickets_channel
    ON crmcard_tickets (tenant_id, channel, closed_at);
CREATE INDEX IF NOT EXISTS crmcard_tickets_requester_email
    ON crmcard_tickets (tenant_id, requester_email) WHERE requester_email IS NOT NULL;
CREATE INDEX IF NOT EXISTS crmcard_tickets_requester_phone
    ON crmcard_tickets (tenant_id, requester_phone) WHERE requester_phone IS NOT NULL;
CREATE TABLE IF NOT EXISTS crmcard_agents (
    tenant_id text NOT NULL,
    email text NOT NULL,
    data text NOT NULL,
    PRIMARY KEY (tenant_id, email)
);
CREATE TABLE IF NOT EXISTS crmcard_agent_links (
    tenant_id text NOT NULL,
    crm_id text NOT NULL,
    external_id text NOT NULL,
    email text NOT NULL,
    PRIMARY KEY (tenant_id, crm_id, external_id)
);
CREATE TABLE IF NOT EXISTS crmcard_ticket_sync (
    tenant_id text NOT NULL,
    crm_id text NOT NULL,
    data text NOT NULL,
    PRIMARY KEY (tenant_id, crm_id)
);
"""

_UPSERT = """
INSERT INTO crmcard_tickets (tenant_id, crm_id, external_id, status, channel, agent_email,
    requester_email, requester_phone, closed_at, summary, data, document)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
    setweight(to_tsvector($12::regconfig, $13), 'A')
    || setweight(to_tsvector($12::regconfig, $14), 'B') || $15::tsvector)
ON CONFLICT (tenant_id, crm_id, external_id) DO UPDATE SET
    status = excluded.status, channel = excluded.channel,
    agent_email = excluded.agent_email, requester_email = excluded.requester_email,
    requester_phone = excluded.requester_phone, closed_at = excluded.closed_at,
    summary = excluded.summary, data = excluded.data, document = excluded.document
"""

_QUERY = " || ".join(f"plainto_tsquery('{language.value}', $2)" for language in Language)
"""The user's words in every language configuration, OR-ed ($2 is the text)."""
COMMON = 0.01
"""A query all of whose words are in at least this share of tickets walks B-tree indexes."""
STATS_SECONDS = 300.0
"""How long the word frequencies read from ``pg_stats`` are used before reading again."""
_WORD_STATS = """
SELECT most_common_elems::text::text[] AS words, most_common_elem_freqs AS shares
FROM pg_stats
WHERE schemaname = current_schema() AND tablename = 'crmcard_tickets' AND attname = 'document'
"""


def share_of(text: str, shares: dict[str, float]) -> float:
    """About how many of all tickets match ``text`` (0-1): in each language every stem
    must be there (the rarest decides), any language may match (the commonest decides).
    A stem ``ANALYZE`` did not list as common counts as rare (0)."""
    found = [
        min((shares.get(stem, 0.0) for stem in words), default=0.0)
        for words in (stems(text, language) for language in Language)
        if words
    ]
    return max(found, default=0.0)


class _Where:
    """Numbered parameters for a WHERE clause under construction."""

    def __init__(self, *initial: Any) -> None:
        self.params: list[Any] = list(initial)
        self.clauses: list[str] = []

    def mark(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def any_of(self, column: str, values: Sequence[str]) -> None:
        # one value is an equality, so an index led by (tenant, column) yields closing order
        if len(values) == 1:
            self.clauses.append(f"{column} = {self.mark(values[0])}")
        elif values:
            self.clauses.append(f"{column} = ANY({self.mark(list(values))}::text[])")


def _where(tenant_id: str, query: TicketQuery, text: str | None) -> _Where:
    where = _Where(tenant_id, text) if text is not None else _Where(tenant_id)
    where.clauses.append("t.tenant_id = $1")
    where.any_of("t.status", [s.value for s in query.statuses])
    where.any_of("t.channel", [c.value for c in query.channels])
    where.any_of("t.agent_email", [a.lower() for a in query.agents])
    if query.crm_id:
        where.clauses.append(f"t.crm_id = {where.mark(query.crm_id)}")
    if query.closed_from:
        where.clauses.append(f"t.closed_at >= {where.mark(query.closed_from)}")
    if query.closed_to:
        where.clauses.append(f"t.closed_at < {where.mark(query.closed_to)}")
    contact = []
    if query.requester_emails:
        emails = [e.lower() for e in query.requester_emails]
        contact.append(f"t.requester_email = ANY({where.mark(emails)}::text[])")
    if query.requester_phones:
        phones = list(query.requester_phones)
        contact.append(f"t.requester_phone = ANY({where.mark(phones)}::text[])")
    if contact:
        where.clauses.append("(" + " OR ".join(contact) + ")")
    return where


class PostgresTicketArchive:
    """:class:`~bot.services.ticketing.archive.TicketArchive` on a PostgreSQL database."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        password: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self._dsn = dsn
        self._password = password
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._shares: dict[str, float] = {}
        self._shares_read: float | None = None
        self.clock: Callable[[], float] = time.monotonic

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the ticket archive is not open")
        return self._pool

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min_size,
            max_size=self._max_size,
            password=self._password,
            server_settings={"plan_cache_mode": "force_custom_plan"},
        )
        # one schema creator at a time when several instances start together
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(7263540)")
            await connection.execute(_SCHEMA)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- agents -------------------------------------------------------------------------

    async def agent(self, tenant_id: str, email: str) -> Agent | None:
        data = await self.pool.fetchval(
            "SELECT data FROM crmcard_agents WHERE tenant_id = $1 AND email = $2",
            tenant_id,
            email.lower(),
        )
        return Agent.model_validate_json(data) if data else None

    async def agent_by_external_id(
        self, tenant_id: str, crm_id: str, external_id: str
    ) -> Agent | None:
        data = await self.pool.fetchval(
            "SELECT a.data FROM crmcard_agent_links l JOIN crmcard_agents a "
            "ON a.tenant_id = l.tenant_id AND a.email = l.email "
            "WHERE l.tenant_id = $1 AND l.crm_id = $2 AND l.external_id = $3",
            tenant_id,
            crm_id,
            external_id,
        )
        return Agent.model_validate_json(data) if data else None

    async def put_agent(self, agent: Agent) -> None:
        await self.pool.execute(
            "INSERT INTO crmcard_agents (tenant_id, email, data) VALUES ($1, $2, $3) "
            "ON CONFLICT (tenant_id, email) DO UPDATE SET data = excluded.data",
            agent.tenant_id,
            agent.email.lower(),
            agent.model_dump_json(),
        )

    async def link_agent(self, tenant_id: str, crm_id: str, external_id: str, email: str) -> None:
        await self.pool.execute(
            "INSERT INTO crmcard_agent_links (tenant_id, crm_id, external_id, email) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, crm_id, external_id) "
            "DO UPDATE SET email = excluded.email",
            tenant_id,
            crm_id,
            external_id,
            email.lower(),
        )

    async def unlink_agent(self, tenant_id: str, crm_id: str, external_id: str) -> None:
        await self.pool.execute(
            "DELETE FROM crmcard_agent_links "
            "WHERE tenant_id = $1 AND crm_id = $2 AND external_id = $3",
            tenant_id,
            crm_id,
            external_id,
        )

    async def delete_agent(self, tenant_id: str, email: str) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            for table in ("crmcard_agent_links", "crmcard_agents"):
                await connection.execute(
                    f"DELETE FROM {table} WHERE tenant_id = $1 AND email = $2",
                    tenant_id,
                    email.lower(),
                )

    async def agents(self, tenant_id: str) -> list[Agent]:
        rows = await self.pool.fetch(
            "SELECT data FROM crmcard_agents WHERE tenant_id = $1 ORDER BY email", tenant_id
        )
        return [Agent.model_validate_json(row["data"]) for row in rows]

    # -- tickets ------------------------------------------------------------------------

    async def put_tickets(self, tickets: Sequence[Ticket]) -> None:
        if not tickets:
            return
        rows = [
            (
                t.tenant_id,
                t.crm_id,
                t.external_id,
                t.status.value,
                t.channel.value if t.channel else None,
                t.agent_email.lower(),
                t.requester_email.lower() if t.requester_email else None,
                t.requester_phone,
                t.closed_at,
                TicketSummary.of(t).model_dump_json(),
                t.model_dump_json(),
                t.language.value,
                t.subject,
                t.conversation[:MAX_INDEXED_CHARS],
                " ".join(facets(t)),
            )
            for t in tickets
        ]
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.executemany(_UPSERT, rows)

    async def ticket(self, tenant_id: str, crm_id: str, external_id: str) -> Ticket | None:
        data = await self.pool.fetchval(
            "SELECT data FROM crmcard_tickets "
            "WHERE tenant_id = $1 AND crm_id = $2 AND external_id = $3",
            tenant_id,
            crm_id,
            external_id,
        )
        return Ticket.model_validate_json(data) if data else None

    async def _word_shares(self) -> dict[str, float]:
        """Stem -> share of tickets holding it, as the last ``ANALYZE`` counted."""
        now = self.clock()
        if self._shares_read is None or now - self._shares_read > STATS_SECONDS:
            row = await self.pool.fetchrow(_WORD_STATS)
            words, shares = (row["words"], row["shares"]) if row else (None, None)
            self._shares = dict(zip(words or [], shares or [], strict=False))
            self._shares_read = now
        return self._shares

    async def search(self, tenant_id: str, query: TicketQuery) -> TicketPage:
        text = query.text.strip() if query.text and query.text.strip() else None
        where = _where(tenant_id, query, text)
        if text is None:
            limit, offset = where.mark(query.page_size + 1), where.mark(query.offset)
            rows = await self.pool.fetch(
                f"SELECT t.summary FROM crmcard_tickets t WHERE {' AND '.join(where.clauses)} "
                f"ORDER BY t.closed_at DESC, t.id DESC LIMIT {limit} OFFSET {offset}",
                *where.params,
            )
            return page_of(query, [row["summary"] for row in rows])
        shares = await self._word_shares()
        common = share_of(text, shares) >= COMMON
        groups = narrowing(facet_filters(query), shares)
        if groups and not common:  # the filters intersect in the GIN index too (facets)
            narrowed = " & ".join("(" + " | ".join(g) + ")" for g in groups)
            where.clauses.append(f"t.document @@ (({_QUERY}) && {where.mark(narrowed)}::tsquery)")
        else:
            where.clauses.append(f"t.document @@ ({_QUERY})")
        newest = (
            f"FROM crmcard_tickets t WHERE {' AND '.join(where.clauses)} "
            "ORDER BY t.closed_at DESC, t.id DESC"
        )
        if query.by_relevance:
            # the first `ranked` rows by rank, the rest (a page deeper) by date
            read, ranked = where.mark(query.newest), where.mark(query.ranked)
            limit, offset = where.mark(query.page_size + 1), where.mark(query.offset)
            sql = (
                "SELECT summary FROM (SELECT *, row_number() OVER "
                "(ORDER BY closed_at DESC, id DESC) AS nth FROM (SELECT t.id, t.summary, "
                f"t.document, t.closed_at {newest} LIMIT {read}) newest) numbered "
                f"ORDER BY nth > {ranked}, CASE WHEN nth <= {ranked} THEN "
                f"ts_rank(document, {_QUERY}) END DESC, closed_at DESC, id DESC "
                f"LIMIT {limit} OFFSET {offset}"
            )
        else:
            limit, offset = where.mark(query.page_size + 1), where.mark(query.offset)
            sql = f"SELECT t.summary {newest} LIMIT {limit} OFFSET {offset}"
        if not common:
            rows = await self.pool.fetch(sql, *where.params)
            return page_of(query, [row["summary"] for row in rows])
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SET LOCAL enable_bitmapscan = off")
            rows = await connection.fetch(sql, *where.params)
        return page_of(query, [row["summary"] for row in rows])

    async def count(self, tenant_id: str) -> int:
        found = await self.pool.fetchval(
            "SELECT count(*) FROM crmcard_tickets WHERE tenant_id = $1", tenant_id
        )
        return int(found)

    async def delete_tickets(self, tenant_id: str, crm_id: str, external_ids: Sequence[str]) -> int:
        if not external_ids:
            return 0
        deleted = await self.pool.fetchval(
            "WITH gone AS (DELETE FROM crmcard_tickets WHERE tenant_id = $1 AND crm_id = $2 "
            "AND external_id = ANY($3::text[]) RETURNING 1) SELECT count(*) FROM gone",
            tenant_id,
            crm_id,
            list(external_ids),
        )
        return int(deleted)

    _REQUESTER = (
        "tenant_id = $1 AND (requester_email = ANY($2::text[]) "
        "OR requester_phone = ANY($3::text[]))"
    )

    async def requester_tickets(
        self, tenant_id: str, *, emails: Sequence[str], phones: Sequence[str]
    ) -> list[Ticket]:
        rows = await self.pool.fetch(
            f"SELECT data FROM crmcard_tickets WHERE {self._REQUESTER} ORDER BY closed_at DESC",
            tenant_id,
            mailboxes(emails),
            list(phones),
        )
        return [Ticket.model_validate_json(row["data"]) for row in rows]

    async def erase_requester(
        self, tenant_id: str, *, emails: Sequence[str], phones: Sequence[str]
    ) -> int:
        deleted = await self.pool.fetchval(
            f"WITH gone AS (DELETE FROM crmcard_tickets WHERE {self._REQUESTER} RETURNING 1) "
            "SELECT count(*) FROM gone",
            tenant_id,
            mailboxes(emails),
            list(phones),
        )
        return int(deleted)

    async def purge(self, closed_before: datetime, *, batch: int = 2_000) -> int:
        """See the port; in :func:`~bot.services.ticketing.archive.rested_batches`."""

        async def delete_batch() -> int:
            deleted = await self.pool.fetchval(
                "WITH doomed AS (SELECT id FROM crmcard_tickets WHERE closed_at < $1 LIMIT $2), "
                "gone AS (DELETE FROM crmcard_tickets t USING doomed WHERE t.id = doomed.id "
                "RETURNING 1) SELECT count(*) FROM gone",
                closed_before,
                batch,
            )
            return int(deleted)

        return await rested_batches(delete_batch, batch)

    # -- sync state ---------------------------------------------------------------------

    async def sync_state(self, tenant_id: str, crm_id: str) -> SyncState | None:
        data = await self.pool.fetchval(
            "SELECT data FROM crmcard_ticket_sync WHERE tenant_id = $1 AND crm_id = $2",
            tenant_id,
            crm_id,
        )
        return SyncState.model_validate_json(data) if data else None

    async def put_sync_state(self, state: SyncState) -> None:
        await self.pool.execute(
            "INSERT INTO crmcard_ticket_sync (tenant_id, crm_id, data) VALUES ($1, $2, $3) "
            "ON CONFLICT (tenant_id, crm_id) DO UPDATE SET data = excluded.data",
            state.tenant_id,
            state.crm_id,
            state.model_dump_json(),
        )

    async def sync_states(self, tenant_id: str) -> list[SyncState]:
        rows = await self.pool.fetch(
            "SELECT data FROM crmcard_ticket_sync WHERE tenant_id = $1 ORDER BY crm_id",
            tenant_id,
        )
        return [SyncState.model_validate_json(row["data"]) for row in rows]
