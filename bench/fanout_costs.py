"""Where a fan-out card's CPU goes, in one process: CPU, store statements and calls per card.

    .venv/bin/python -m bench.fanout_costs [--cards 600] [--crms 6] [--concurrency 20]
    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no \\
        .venv/bin/python -m bench.fanout_costs --cards 200 --first-paint 1 --late 2

``bench.crm_fanout`` times the card as production runs it (three processes, 100 agents
in flight); its CPU figure drifts with the other work on the machine. This runs the same
card in one process, so that a change's effect on it can be counted: crmcard's app (as
``crmcard serve`` builds and runs it: SQLite store, INFO logging as JSON lines and the
access log, written to ``/dev/null``, the heap settled and the collector's thresholds
set) on loopback, the CRMs (the same
minimal Kustomer fakes, on bare ``asyncio`` protocols) and the Bot Connector and the
load (an aiohttp client) beside it. Half the CRMs (rounded down) answer at once, the
others ``--late`` seconds later, after the first paint (``--first-paint``, crmcard's
budget set to it): every card is a first paint and an update, as at 6 CRMs of 83-500
ms. Each of ``--concurrency`` agents sends an ``assigned`` event for a new interaction
of one of ``--callers`` callers and waits for its complete card.

It prints CPU ms per card (this process: crmcard, the fakes and the load together; the
fakes' and the load's share stays the same between two trees) and store statements per
card (each SQLite statement crmcard's store runs, counted in process), over the cards
after ``--warmup``, and its store calls per card by call and kind of document (on Blob
Storage each is an HTTP request): ``--callers`` above ``--warmup`` + ``--cards`` makes
every card a new caller's, a few callers make them repeat callers'. Under cachegrind,
the instruction counts of two runs with different ``--cards`` give the instructions of
one card (their difference over the difference).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench import crm_fanout  # noqa: E402
from bench.crm_fanout import Answer, BareHttp, Connector, Waiting  # noqa: E402


def fake_crm(latency: float, pages: dict[bytes, bytes], names: Any) -> BareHttp:
    loop = asyncio.get_running_loop()

    def handle(method: bytes, target: bytes, body: bytes, answer: Answer) -> None:
        found = crm_fanout._CONTAINS.search(body)
        number = found.group(1) if found else b""
        page = pages.get(number)
        if page is None:
            page = pages[number] = crm_fanout.search_page(number.decode(), names)
        if latency:
            loop.call_later(latency, answer, 200, page)
        else:
            answer(200, page)

    return BareHttp(handle)


class StatementCount:
    """Counts the SQLite statements the local store runs (its one ``_rows`` function)."""

    def __init__(self) -> None:
        from bot.adapters.storage import local

        self.count = 0
        original = local._rows

        def counted(*args: Any) -> Any:
            self.count += 1
            return original(*args)

        local._rows = counted


class StoreCalls:
    """Counts crmcard's calls of the Store port (``read``, ``create``, ``replace``,
    ``delete``), by call and document kind (the key's part after its tenant): on Blob
    Storage each is one HTTP request, refused ones (a create of a key taken, a lost
    compare-and-swap) included."""

    def __init__(self) -> None:
        from bot.adapters.storage.local import LocalStore

        self.counts: Counter[str] = Counter()
        for call in ("read", "create", "replace", "delete"):
            setattr(LocalStore, call, self._counted(call, getattr(LocalStore, call)))

    def _counted(self, call: str, original: Any) -> Any:
        counts = self.counts

        async def counted(store: Any, key: str, *args: Any) -> Any:
            kind = key.split("/")[2] if key.startswith("tenants/") else key.split("/")[0]
            counts[f"{call} {kind}"] += 1
            return await original(store, key, *args)

        return counted


async def run(args: argparse.Namespace) -> None:
    from bench._names import Names
    from tests import activities

    loop = asyncio.get_running_loop()
    workdir = Path(tempfile.mkdtemp(prefix="crmcard-fanout-costs-"))
    pages: dict[bytes, bytes] = {}
    names = Names(seed=0)
    late = args.crms - args.crms // 2
    latencies = [0.0] * (args.crms // 2) + [args.late] * late
    ports = []
    for latency in latencies:
        server = await loop.create_server(
            functools.partial(fake_crm, latency, pages, names), "127.0.0.1", 0, backlog=1024
        )
        ports.append(server.sockets[0].getsockname()[1])
    connector = Connector()
    connector_server = await loop.create_server(connector.protocol, "127.0.0.1", 0)
    connector_url = f"http://127.0.0.1:{connector_server.sockets[0].getsockname()[1]}"

    tenant = crm_fanout.tenant_of(args.crms)
    env = {
        "CRMCARD_DATA_DIR": str(workdir / "data"),
        "CRMCARD_API_KEYS": json.dumps({tenant: crm_fanout.api_key_of(args.crms)}),
        "CRMCARD_WRITEBACK_WORKER": "false",
        "CRMCARD_DEMO": "false",
        "CRMCARD_DEMO_CRM": "false",
        "CRMCARD_CRM_ALLOW_LOCAL_URLS": "true",
    }
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("CRMCARD_")} | env
    cli_env["PYTHONPATH"] = str(REPO)
    for index, port in enumerate(ports):
        await asyncio.to_thread(crm_fanout.crm_add, cli_env, args.crms, index, port)
    os.environ.update(env)

    from bot.observability import logs
    from bot.settings import Settings
    from bot.web.access_log import RedactingAccessLogger
    from bot.web.app import create_app
    from bot.web.interactions import CONTEXT
    from bot.web.runtime import settle_heap

    logs.configure(json_lines=True)
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (the process's to close)
    app = create_app(Settings())
    settle_heap()
    runner = web.AppRunner(app, access_log_class=RedactingAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    app[CONTEXT].crm_first_paint = args.first_paint
    app[CONTEXT].crm_deadline = args.deadline
    server_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    statements = StatementCount()
    calls = StoreCalls()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for i in range(args.concurrency):
            body = activities.activity(
                connector_url, "installationUpdate", action="add"
            ) | crm_fanout.agent(args.crms, i)
            async with session.post(server_url + "/api/messages", json=body) as response:
                assert response.status < 300, await response.text()
        numbers = iter(range(args.warmup + args.cards))
        marks: dict[str, float] = {}
        headers = {"X-Api-Key": crm_fanout.api_key_of(args.crms)}
        errors: list[str] = []
        calls_before: Counter[str] = Counter()

        async def worker(i: int) -> None:
            user = crm_fanout.agent(args.crms, i)
            for n in numbers:
                if n == args.warmup:
                    marks["cpu"], marks["wall"] = time.process_time(), time.perf_counter()
                    marks["sys"] = resource.getrusage(resource.RUSAGE_SELF).ru_stime
                    marks["statements"] = statements.count
                    calls_before.update(calls.counts)
                interaction_id = f"c-{n}"
                card: asyncio.Future[tuple[float, bool]] = loop.create_future()
                connector.waiting[user["conversation"]["id"]] = Waiting(
                    interaction_id.encode(), card
                )
                event = crm_fanout.assigned_event(
                    interaction_id, user, crm_fanout.phone_of(n, args.callers)
                )
                url = server_url + "/api/interactions"
                async with session.post(url, json=event, headers=headers) as response:
                    await response.read()
                    if response.status != 202:
                        errors.append(str(response.status))
                _, complete = await asyncio.wait_for(card, 60)
                if not complete:
                    errors.append("incomplete card")

        await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
        cpu = time.process_time() - marks["cpu"]
        system = resource.getrusage(resource.RUSAGE_SELF).ru_stime - marks["sys"]
        wall = time.perf_counter() - marks["wall"]
        done = statements.count - marks["statements"]
        await asyncio.sleep(0.5)  # the last cards' late records are filed after their card
        made = calls.counts - calls_before
    await runner.cleanup()
    print(
        json.dumps(
            {
                "cards": args.cards,
                "cpu_ms_per_card": round(cpu / args.cards * 1000, 3),
                "system_ms_per_card": round(system / args.cards * 1000, 3),
                "statements_per_card": round(done / args.cards, 2),
                "store_calls_per_card": round(made.total() / args.cards, 2),
                "store_calls_by_kind": {
                    kind: round(n / args.cards, 2) for kind, n in sorted(made.items())
                },
                "cards_per_s": round(args.cards / wall, 1),
                "errors": len(errors),
                "error_kinds": sorted(set(errors)),
            }
        )
    )
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--crms", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--callers", type=int, default=1000)
    parser.add_argument("--first-paint", type=float, default=0.05)
    parser.add_argument("--late", type=float, default=0.2, help="the late CRMs' latency, s")
    parser.add_argument("--deadline", type=float, default=2.5, help="crmcard's CRM deadline, s")
    args = parser.parse_args()
    from bot.web.runtime import use_fast_event_loop

    use_fast_event_loop()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
