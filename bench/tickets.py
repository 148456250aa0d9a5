"""Ticket archive benchmarks: import rate, search latency at scale, search during the purge.

    .venv/bin/python -m bench.tickets import [--tickets 20000] [--rounds 3]
    .venv/bin/python -m bench.tickets search [--size 1000000] [--queries 400] [--rounds 3]
                                             [--engine sqlite|postgres] [--data DIR]

``import``: the Zendesk incremental-export contract fake (``tests/tickets/fakes``) runs in
its own process with ``--tickets`` solved tickets of three comments each, made over the
day before; the real sync (``TicketSync`` + ``ZendeskExport``: ticket export pages of
1,000, the comments from the ticket event export, 1,000 events a page) imports them into
SQLite and into PostgreSQL, interleaved, ``--rounds`` times each into a fresh archive.
Reports tickets/s per round, the median and the spread, and the requests per 1,000
tickets. The fake applies no rate limit (a real account allows 10 incremental-export
requests a minute).

``search``: builds an archive of ``--size`` tickets per engine through ``put_tickets``
(the import's write path: stemming, FTS5 / tsvector, indexes) in closing order, as an
import brings them, over 135 days: the oldest third closed more than 90 days ago. Built
archives are kept in ``--data`` (default ``/tmp/crmcard-tickets``: the SQLite file and
the data directory of the bench's PostgreSQL server, named by size and :data:`FORMAT`)
and reused by the next run, whose searches are relative to the moment they were built.
Then it times ``--queries`` searches with a text term and two filters (channel + closed
in the last 30 days, by relevance; status + agent, by date), one at a time, with a
specific word and with a word in ~40% of all tickets, ``--rounds`` rounds that each run
every engine and batch in turn (interleaved), and reports the median p50 and p99 over
rounds with the lowest and highest round's p99, the load average, and SQLite's CPU time
per search (it runs in the bench's process: steadier than wall time on a loaded machine).
Then, on a copy of each archive (the cache stays whole), it purges the old third while
searches run back to back, and reports their p50, p99, max and count over 50 ms during
the purge and how long the purge took. The PostgreSQL server is a private one started by the bench
(``tests/postgres.py``), fsync off like the tests' server.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.production import load_average
from bot.adapters.crm.zendesk import ZendeskCrm, ZendeskSettings
from bot.adapters.crm.zendesk_tickets import ZendeskExport
from bot.adapters.tickets.postgres import PostgresTicketArchive
from bot.adapters.tickets.sqlite import LAYOUT as SQLITE_LAYOUT
from bot.adapters.tickets.sqlite import SqliteTicketArchive
from bot.domain.tickets import (
    Language,
    Message,
    Ticket,
    TicketChannel,
    TicketStatus,
)
from bot.services.ticketing.archive import SortOrder, TicketArchive, TicketQuery
from bot.services.ticketing.sync import TicketSync
from tests.postgres import Postgres, start_postgres

CHANNELS = list(TicketChannel)
AGENTS = [f"agent{n}@example.com" for n in range(200)]
WORDS = [f"w{n}" for n in range(20_000)]
REAL = [
    "invoice",
    "refund",
    "printer",
    "router",
    "password",
    "login",
    "delivery",
    "shipment",
    "broken",
    "charge",
    "account",
    "upgrade",
    "cancel",
    "subscription",
    "warranty",
    "replacement",
    "order",
    "payment",
    "card",
    "address",
    "email",
]


def _word(rng: random.Random) -> str:
    # Zipf-like: a few words are frequent, most are rare
    if rng.random() < 0.15:
        return rng.choice(REAL)
    return WORDS[min(int(rng.paretovariate(1.1)) - 1, len(WORDS) - 1)]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(_word(rng) for _ in range(words))


def synthetic(n: int, rng: random.Random, closed: datetime) -> Ticket:
    agent = rng.choice(AGENTS)
    return Ticket(
        tenant_id="bench",
        crm_id="zendesk",
        crm_name="Zendesk",
        external_id=str(n),
        number=str(n),
        subject=_text(rng, 6),
        status=TicketStatus.solved if rng.random() < 0.7 else TicketStatus.closed,
        channel=rng.choice(CHANNELS),
        source_channel="email",
        agent_email=agent,
        agent_name="Bench Agent",
        requester_name="Bench Customer",
        requester_email=f"c{rng.randrange(100_000)}@example.com",
        created_at=closed - timedelta(hours=3),
        closed_at=closed,
        language=Language.english,
        url=f"https://bench.zendesk.com/agent/tickets/{n}",
        messages=tuple(
            Message(author="Bench", at=closed, body=_text(rng, 25), from_agent=i % 2 == 1)
            for i in range(3)
        ),
    )


def summary(values: list[float]) -> str:
    median = statistics.median(values)
    return f"median {median:,.0f} (min {min(values):,.0f}, max {max(values):,.0f})"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the Zendesk fake in its own process ---------------------------------------------------


def _serve_fake(tickets: int, port_out: Any) -> None:
    from aiohttp import web

    from tests.tickets.fakes.zendesk_exports import ZendeskExports

    now = time.time()
    moment = [now - 86_400.0]  # the tickets are a day old: the event export has them
    fake = ZendeskExports(clock=lambda: moment[0], rate_limit=None)
    agents = [fake.add_user(f"Agent Number{n}", f"a{n}@example.com") for n in range(50)]
    customer = fake.add_user("Some Customer", "cust@example.com", role="end-user")
    rng = random.Random(3)
    for n in range(tickets):
        moment[0] = now - 86_400.0 + n
        agent = agents[n % len(agents)]
        fake.add_ticket(
            _text(rng, 6),
            assignee=agent,
            requester=customer,
            comments=[(customer, _text(rng, 25)), (agent, _text(rng, 25)), (customer, "thanks")],
            solved_at=datetime.fromtimestamp(now, UTC) - timedelta(days=1),
        )
    moment[0] = now
    fake.requests = _NoLog()  # type: ignore[assignment]

    async def main() -> None:
        runner = web.AppRunner(fake.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


class _NoLog(list[Any]):
    """The fake's request log, kept empty: the bench sends thousands."""

    def append(self, item: Any) -> None:
        return None


async def _import_once(archive: TicketArchive, base_url: str) -> tuple[float, int, int]:
    await archive.open()
    sent = [0]

    async def count(*_: Any) -> None:
        sent[0] += 1

    tracing = aiohttp.TraceConfig()
    tracing.on_request_start.append(count)
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=32), trace_configs=[tracing]
        ) as session:
            crm = ZendeskCrm(
                session,
                ZendeskSettings(base_url, email="sync@example.com", api_token="zd-token"),
                settings_id="zendesk",
                attempt_timeout=60,
                total_timeout=120,
            )
            source = ZendeskExport(crm, requests_per_minute=None)
            sync = TicketSync(archive, source, "bench")
            started = time.perf_counter()
            report = await sync.run(full=True)
            elapsed = time.perf_counter() - started
        if report.error:
            raise RuntimeError(report.error)
        return report.tickets_imported / elapsed, report.tickets_imported, sent[0]
    finally:
        await archive.close()


def run_import(tickets: int, rounds: int) -> None:
    receive, send = multiprocessing.Pipe(duplex=False)
    fake = multiprocessing.Process(target=_serve_fake, args=(tickets, send), daemon=True)
    fake.start()
    port = receive.recv()
    base_url = f"http://127.0.0.1:{port}"
    server = start_postgres()
    rates: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(rounds):
                for engine in ("sqlite", "postgres"):
                    archive: TicketArchive
                    if engine == "sqlite":
                        archive = SqliteTicketArchive(Path(tmp) / f"r{round_}.sqlite3")
                    else:
                        dsn = asyncio.run(_pg_database(server, f"bench_r{round_}", fresh=True))
                        archive = PostgresTicketArchive(dsn)
                    rate, count, sent = asyncio.run(_import_once(archive, base_url))
                    rates[engine].append(rate)
                    print(
                        f"round {round_ + 1} {engine:8}: {count:,} tickets, {rate:,.0f}/s, "
                        f"{sent:,} requests ({1000 * sent / max(1, count):,.1f} per 1,000 tickets)"
                    )
    finally:
        server.stop()
        fake.terminate()
    print(f"\nimport from the Zendesk fake, {tickets:,} tickets x 3 comments, {rounds} rounds")
    for engine, values in rates.items():
        target = 1_000 if engine == "sqlite" else 500
        print(f"  {engine:8} tickets/s: {summary(values)}   target >= {target}")


# -- search at scale -------------------------------------------------------------------------

FORMAT = 2
"""The built archives' format (data and both engines' layouts): bump it when either
changes, and the next run builds afresh. SQLite's own layout number is in its name too."""
SPAN = timedelta(days=135)
"""The built tickets closed over this span before the build, in order: the oldest third
more than 90 days ago."""


def _batches(size: int, now: datetime, batch: int = 2_000) -> Iterator[list[Ticket]]:
    """The archive's tickets in closing order, as an import brings them (the incremental
    exports go by the time a ticket was solved or last changed)."""
    rng = random.Random(11)
    step = SPAN / size
    for start in range(0, size, batch):
        yield [
            synthetic(n, rng, now - SPAN + step * (n + rng.random()))
            for n in range(start, min(size, start + batch))
        ]


async def build(archive: TicketArchive, size: int, now: datetime) -> float:
    started = time.perf_counter()
    done = 0
    for batch in _batches(size, now):
        await archive.put_tickets(batch)
        done += len(batch)
        if done % 100_000 == 0:
            rate = done / (time.perf_counter() - started)
            print(f"    built {done:,} ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def queries(count: int, now: datetime, common: bool = False) -> list[TicketQuery]:
    """Searches with a text term and two filters: channel + closed in the last 30 days, or
    status + agent (by date). The term is a specific word (in 0.05-1% of tickets, like a
    product or an error code) or, ``common``, one of the everyday support words that are
    in about 40% of all tickets."""
    rng = random.Random(5)
    asked = []
    for n in range(count):
        term = rng.choice(REAL[:10]) if common else rng.choice(WORDS[200:2000])
        if n % 2:
            asked.append(
                TicketQuery(
                    text=term,
                    channels=(rng.choice(CHANNELS),),
                    closed_from=now - timedelta(days=30),
                    page_size=20,
                )
            )
        else:
            asked.append(
                TicketQuery(
                    text=term,
                    statuses=(TicketStatus.solved,),
                    agents=(rng.choice(AGENTS),),
                    sort=SortOrder.date,
                    page_size=20,
                )
            )
    return asked


async def time_searches(
    archive: TicketArchive, asked: list[TicketQuery], cpu: list[float] | None = None
) -> list[float]:
    """Each search's wall time (ms); its CPU time in this process into ``cpu`` (for
    SQLite all of the search's work, for PostgreSQL only the client's)."""
    took = []
    for query in asked:
        started, used = time.perf_counter(), time.process_time()
        await archive.search("bench", query)
        took.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - used) * 1000)
    return took


async def search_during(
    archive: TicketArchive, asked: list[TicketQuery], work: Callable[[], Awaitable[int]]
) -> tuple[list[float], float, int]:
    took: list[float] = []
    done = asyncio.Event()

    async def searching() -> None:
        while not done.is_set():
            took.extend(await time_searches(archive, asked[:20]))

    searcher = asyncio.create_task(searching())
    started = time.perf_counter()
    purged = await work()
    elapsed = time.perf_counter() - started
    done.set()
    await searcher
    return took, elapsed, purged


class Cache:
    """Built archives kept between runs in ``root``: the SQLite file, and the data
    directory of a private PostgreSQL server holding the ``bench_search`` database. Each
    is complete once its marker (the moment its tickets were built relative to) exists;
    the purge runs on a copy, so they stay valid."""

    def __init__(self, root: Path, size: int) -> None:
        self.root = root
        self.key = f"{size}-v{FORMAT}"
        self.sqlite = root / f"tickets-{self.key}-l{SQLITE_LAYOUT}.sqlite3"
        self.postgres = root / f"postgres-{self.key}"

    def _built(self, engine: str) -> Path:
        return self.sqlite if engine == "sqlite" else self.postgres

    def _marker(self, engine: str) -> Path:
        built = self._built(engine)
        return built.with_name(built.name + ".built")

    def built_at(self, engine: str) -> datetime | None:
        marker = self._marker(engine)
        if not (marker.exists() and self._built(engine).exists()):
            return None
        return datetime.fromisoformat(marker.read_text())

    def mark_built(self, engine: str, now: datetime) -> None:
        self._marker(engine).write_text(now.isoformat())


async def _pg_database(server: Postgres, name: str, *, fresh: bool, copy_of: str = "") -> str:
    """The DSN of database ``name``: created when missing, or ``fresh`` (as a copy of
    ``copy_of``)."""
    connection = await asyncpg.connect(server.dsn)
    try:
        if fresh:
            await connection.execute(f"DROP DATABASE IF EXISTS {name}")
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            template = f" TEMPLATE {copy_of}" if copy_of else ""
            await connection.execute(f"CREATE DATABASE {name}{template}")
    finally:
        await connection.close()
    return server.dsn.rsplit("/", 1)[0] + f"/{name}"


async def _drop_database(server: Postgres, name: str) -> None:
    connection = await asyncpg.connect(server.dsn)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        await connection.close()


async def _open(
    engine: str, cache: Cache, server: Postgres | None, size: int
) -> tuple[TicketArchive, datetime]:
    """The engine's archive of ``size`` tickets from the cache, built first when missing."""
    archive: TicketArchive
    if engine == "sqlite":
        if cache.built_at(engine) is None:
            cache.sqlite.unlink(missing_ok=True)
        archive = SqliteTicketArchive(cache.sqlite)
    else:
        assert server is not None
        fresh = cache.built_at(engine) is None
        archive = PostgresTicketArchive(await _pg_database(server, "bench_search", fresh=fresh))
    await archive.open()
    now = cache.built_at(engine)
    if now is None:
        now = datetime.now(UTC)
        built = await build(archive, size, now)
        print(f"  {engine}: built {size:,} tickets in {built:,.0f} s ({size / built:,.0f}/s)")
        if isinstance(archive, PostgresTicketArchive):
            # what autovacuum does soon after a bulk load; the planner needs the statistics
            await archive.pool.execute("VACUUM ANALYZE crmcard_tickets")
        cache.mark_built(engine, now)
    else:
        print(f"  {engine}: {size:,} tickets built before ({now:%Y-%m-%d %H:%M} UTC), cached")
    return archive, now


async def _purge_copy(
    engine: str, cache: Cache, server: Postgres | None, tmp: Path
) -> TicketArchive:
    """A copy of the cached archive, for the purge to delete from."""
    archive: TicketArchive
    if engine == "sqlite":
        copy = tmp / "purge.sqlite3"
        shutil.copyfile(cache.sqlite, copy)
        archive = SqliteTicketArchive(copy)
    else:
        assert server is not None
        dsn = await _pg_database(server, "bench_purge", fresh=True, copy_of="bench_search")
        archive = PostgresTicketArchive(dsn)
    await archive.open()
    return archive


async def _search_bench(
    engines: list[str], cache: Cache, server: Postgres | None, size: int, count: int, rounds: int
) -> None:
    archives: dict[str, TicketArchive] = {}
    moments: dict[str, datetime] = {}
    try:
        for engine in engines:
            archives[engine], moments[engine] = await _open(engine, cache, server, size)
        batches = {
            engine: {
                "specific term": queries(count, moments[engine]),
                "common term": queries(count, moments[engine], True),
            }
            for engine in engines
        }
        for engine, archive in archives.items():  # warm caches
            for batch in batches[engine].values():
                await time_searches(archive, batch[:40])
        print(f"  load average before the rounds: {load_average()}")
        p99s: dict[tuple[str, str], list[float]] = {}
        p50s: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        for round_ in range(rounds):  # every round runs every engine and batch, in turn
            for label in ("specific term", "common term"):
                for engine, archive in archives.items():
                    used = cpu.setdefault((engine, label), [])
                    took = await time_searches(archive, batches[engine][label], used)
                    p99s.setdefault((engine, label), []).append(percentile(took, 0.99))
                    p50s.setdefault((engine, label), []).append(percentile(took, 0.5))
                    print(
                        f"    round {round_ + 1} {engine} {label}: p50 "
                        f"{p50s[engine, label][-1]:.1f} ms, p99 {p99s[engine, label][-1]:.1f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
        print(f"  load average after the rounds: {load_average()}")
        for (engine, label), values in p99s.items():
            print(
                f"  {engine} {label} + 2 filters, {count} queries x {rounds} rounds: p50 median "
                f"{statistics.median(p50s[engine, label]):.1f} ms; p99 median "
                f"{statistics.median(values):.1f} ms (min {min(values):.1f}, max "
                f"{max(values):.1f})   target p99 <= 50 ms"
            )
            if engine == "sqlite":
                used = cpu[engine, label]
                print(
                    f"    CPU per search (in this process: all of SQLite's work), all rounds: "
                    f"p50 {percentile(used, 0.5):.1f} ms, p99 {percentile(used, 0.99):.1f} ms"
                )
    finally:
        for archive in archives.values():
            await archive.close()
    with tempfile.TemporaryDirectory(dir=cache.root) as tmp:
        for engine in engines:
            archive = await _purge_copy(engine, cache, server, Path(tmp))
            try:
                took, elapsed, purged = await search_during(
                    archive,
                    batches[engine]["specific term"],
                    functools.partial(archive.purge, moments[engine] - timedelta(days=90)),
                )
            finally:
                await archive.close()
                if server is not None and engine == "postgres":
                    await _drop_database(server, "bench_purge")
            print(
                f"  {engine}: purged {purged:,} tickets in {elapsed:,.1f} s (on a copy); "
                f"{len(took)} searches meanwhile: p50 {percentile(took, 0.5):.1f} ms, "
                f"p99 {percentile(took, 0.99):.1f} ms, max {max(took):.1f} ms, "
                f"{sum(t > 50 for t in took)} over 50 ms"
            )


def run_search(size: int, count: int, engines: list[str], rounds: int, data: Path) -> None:
    cache = Cache(data, size)
    data.mkdir(parents=True, exist_ok=True)
    server = None
    if "postgres" in engines:
        settings = {"shared_buffers": "'512MB'", "work_mem": "'16MB'"}
        server = start_postgres(settings=settings, root=cache.postgres)
    try:
        asyncio.run(_search_bench(engines, cache, server, size, count, rounds))
    finally:
        if server is not None:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.tickets", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    imports = verbs.add_parser("import")
    imports.add_argument("--tickets", type=int, default=20_000)
    imports.add_argument("--rounds", type=int, default=3)
    search = verbs.add_parser("search")
    search.add_argument("--size", type=int, default=1_000_000)
    search.add_argument("--queries", type=int, default=400)
    search.add_argument("--engine", action="append", choices=["sqlite", "postgres"])
    search.add_argument("--rounds", type=int, default=3)
    search.add_argument("--data", type=Path, default=Path("/tmp/crmcard-tickets"))
    args = parser.parse_args(argv)
    if args.verb == "import":
        run_import(args.tickets, args.rounds)
    else:
        engines = args.engine or ["sqlite", "postgres"]
        run_search(args.size, args.queries, engines, args.rounds, args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
