"""Card build time with 1, 3 and 6 connected CRMs, and crmcard's overhead over the slowest.

    .venv/bin/python -m bench.crm_fanout [--interactions 600] [--concurrency 100]
        [--slowest 0.5] [--rounds 3] [--crms 1,3,6]
    .venv/bin/python -m bench.crm_fanout --quick

The CRMs are minimal Freshdesk fakes: one aiohttp server per CRM answering the search
endpoint (``GET /api/v2/search/contacts``, the documented ``{"results", "total"}`` shape)
after a set latency; the N CRMs of a row are spread evenly up to ``--slowest`` (6 CRMs at
0.5 s: 83, 167 ... 500 ms). They run in a child process on ``127.0.0.1`` only, so their
work does not share the bench's event loop, and answer 503 past ``--max-requests``: the
bench can never turn into an unbounded load.

The bench process is crmcard: the tenant's CRM configurations in a SQLite store, the
:class:`~bot.adapters.crm.directory.StoreDirectory` building the real Freshdesk adapter
(``ResilientHttp``: retries, breaker, per-CRM limit raised to 100) on its one shared
aiohttp session, a data mapping on every CRM, and ``--concurrency`` (100) interactions
in flight at any time (closed loop, no think time). One interaction = a card built from
scratch: the tenant's clients from the directory, the parallel people search
(``find_people``: the product's fan-out with its deadline), the view (Contact section with
mapped fields) and the Adaptive Card render. Its time minus the slowest CRM's latency is
the overhead (target: < 10 ms at p99).

The ``floor`` columns time one bare aiohttp ``GET`` to the slowest fake at the same
concurrency: the loopback + fake + event loop cost no client can avoid. ``CPU ms/card``
is the bench process's CPU per card, the figure least disturbed by other work on the
machine; at 100 in flight the process needs ``cards/s x CPU ms/card`` of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.services.audit import Actor, Door  # noqa: E402
from bot.web.runtime import settle_heap  # noqa: E402

DEFAULT_GC_THRESHOLDS = gc.get_threshold()


def latencies_for(count: int, slowest: float) -> list[float]:
    """``count`` CRMs evenly spread up to ``slowest``: 6 -> slowest/6, 2*slowest/6 ..."""
    return [round(slowest * (i + 1) / count, 4) for i in range(count)]


PHONE = "+15550100"
API_KEY = "fd-api-key"
TENANT = "bench-tenant"


# -- the fakes (child process) ---------------------------------------------------------


async def serve_fakes(latencies: list[float], max_requests: int) -> None:
    """One minimal Freshdesk per latency: ``GET /api/v2/search/contacts`` answers the
    documented ``{"results": [...], "total": n}`` shape (one contact) after the latency.
    Kept minimal so the fakes' own CPU does not blur crmcard's figures."""
    served = 0
    contact = {
        "id": 1,
        "name": "Edward Ferrars",
        "email": "edward@example.com",
        "phone": PHONE,
        "mobile": None,
        "company_id": None,
        "active": True,
        "job_title": "Heir apparent",
    }
    body = json.dumps({"results": [contact], "total": 1}).encode()

    def app_for(latency: float) -> web.Application:
        async def search(request: web.Request) -> web.Response:
            nonlocal served
            served += 1
            if served > max_requests:
                return web.json_response({"message": "bench request budget spent"}, status=503)
            await asyncio.sleep(latency)
            return web.Response(body=body, content_type="application/json")

        app = web.Application()
        app.router.add_get("/api/v2/search/contacts", search)
        return app

    runners = []
    ports = []
    for latency in latencies:
        runner = web.AppRunner(app_for(latency), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        ports.append(runner.addresses[0][1])
        runners.append(runner)
    print(json.dumps({"ports": ports}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def start_fakes(
    latencies: list[float], max_requests: int
) -> tuple[subprocess.Popen[str], list[int]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.crm_fanout",
            "--serve",
            ",".join(str(x) for x in latencies),
            "--max-requests",
            str(max_requests),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit("the fake CRMs did not start")
    return process, list(json.loads(line)["ports"])


def stop_fakes(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


# -- crmcard (bench process) -----------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run_scenario(
    latencies: list[float],
    ports: list[int],
    interactions: int,
    concurrency: int,
    warmup: int,
    freeze: bool = True,
) -> dict[str, Any]:
    from pydantic import SecretStr

    from bot.adapters.crm.directory import StoreDirectory
    from bot.adapters.storage.local import LocalStore
    from bot.adaptive_cards.customer_card import render_customer_card
    from bot.domain.cards import CardIdentity, CustomerCard
    from bot.domain.identifiers import Channel, phone
    from bot.domain.interactions import Agent, Interaction
    from bot.services.card_view import build_view
    from bot.services.crm import SearchCriteria
    from bot.services.crm_configs import CrmConfigs, parse_config
    from bot.services.crm_fan_out import find_people
    from bot.services.crm_url_policy import UrlPolicy
    from bot.services.late_crm_answers import shown_from
    from bot.services.secret_box import SecretBox

    with tempfile.TemporaryDirectory() as workdir:
        store = LocalStore(Path(workdir) / "bench.sqlite3")
        configs = CrmConfigs(
            store,
            SecretBox.from_setting(SecretBox.new_key()),
            url_policy=UrlPolicy(allow_local=True),
        )
        for i, port in enumerate(ports):
            config = parse_config(
                TENANT,
                {
                    "settingsId": f"crm{i}",
                    "kind": "freshdesk",
                    "displayName": f"CRM {i}",
                    "baseUrl": f"http://127.0.0.1:{port}",
                    "auth": {"type": "api_key"},
                    "maxConcurrency": 100,
                    "requestTimeout": 5,
                    "fieldMappings": [{"crmField": "name", "cardField": "Name"}],
                },
            )
            await configs.create(
                config.model_copy(update={"secret": SecretStr(API_KEY)}), Actor("bench", Door.cli)
            )
        directory = StoreDirectory(configs, list_ttl=60)
        identity = CardIdentity(channel=Channel.voice, identifier=phone(PHONE))
        card = CustomerCard(
            id="card-1", tenant_id=TENANT, identities=[identity], created_at=datetime.now(UTC)
        )
        criteria = SearchCriteria(phones=[PHONE])
        slowest = max(latencies)
        errors = 0
        fan_outs: list[float] = []

        async def one(n: int) -> float:
            nonlocal errors
            started = time.perf_counter()
            clients = await directory.clients(TENANT)
            found = await find_people(clients, criteria, deadline=2.5)
            if n >= warmup:
                fan_outs.append(time.perf_counter() - started)
            interaction = Interaction(
                id=f"i-{n}",
                tenant_id=TENANT,
                card_id=card.id,
                channel=Channel.voice,
                agent=Agent(aad_object_id="agent"),
                identities=[identity],
                shown=shown_from(found),
            )
            render_customer_card(build_view(card, interaction, crm_connected=True))
            took = time.perf_counter() - started
            if n >= warmup and (found.problems or len(found.records) != len(latencies)):
                errors += 1
            return took

        async def floor_one(session: aiohttp.ClientSession, url: str) -> float:
            started = time.perf_counter()
            async with session.get(url, params={"query": f"\"phone:'{PHONE}'\""}) as response:
                await response.read()
            return time.perf_counter() - started

        async def drive(job: Any, count: int) -> tuple[list[float], float, float]:
            """``warmup`` + ``count`` jobs, ``concurrency`` at a time; the workers start
            spread over one slowest-latency period, so interactions arrive at a steady
            rate instead of in lock-step waves. Times of the measured jobs, wall, CPU."""
            times: list[float] = []
            queue = iter(range(warmup + count))
            marks: dict[str, float] = {}

            async def worker(i: int) -> None:
                await asyncio.sleep(i * slowest / concurrency)
                for n in queue:
                    if n == warmup:
                        marks.update(wall=time.perf_counter(), cpu=time.process_time())
                    took = await job(n)
                    if n >= warmup:
                        times.append(took)

            await asyncio.gather(*(worker(i) for i in range(concurrency)))
            return (
                times,
                time.perf_counter() - marks["wall"],
                time.process_time() - marks["cpu"],
            )

        if freeze:  # as ``crmcard serve`` does once the app is built
            settle_heap()
        try:
            times, wall, cpu = await drive(one, interactions)
            slow_port = ports[latencies.index(slowest)]
            url = f"http://127.0.0.1:{slow_port}/api/v2/search/contacts"
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:
                floors, _, _ = await drive(lambda n: floor_one(session, url), interactions)
        finally:
            await directory.close()
            await store.close()
            gc.unfreeze()
            gc.set_threshold(*DEFAULT_GC_THRESHOLDS)
    overheads = [(t - slowest) * 1000 for t in times]
    floor_over = [(t - slowest) * 1000 for t in floors]
    return {
        "crms": len(latencies),
        "slowest_ms": slowest * 1000,
        "n": len(times),
        "errors": errors,
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": percentile(times, 99) * 1000,
        "over_p50_ms": statistics.median(overheads),
        "over_p99_ms": percentile(overheads, 99),
        "fanout_over_p99_ms": percentile([(t - slowest) * 1000 for t in fan_outs], 99),
        "floor_over_p50_ms": statistics.median(floor_over),
        "floor_over_p99_ms": percentile(floor_over, 99),
        "cards_per_s": len(times) / wall,
        "cpu_ms_per_card": cpu / len(times) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--crms", default="1,3,6", help="which scenarios (CRM counts)")
    parser.add_argument(
        "--slowest", type=float, default=0.5, help="latency of the slowest CRM, seconds"
    )
    parser.add_argument("--quick", action="store_true", help="200 interactions, 100 warm-up")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per fake process")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per row (median shown)")
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="skip the gc.freeze() crmcard serve does"
    )
    parser.add_argument(
        "--no-uvloop", action="store_true", help="standard asyncio loop instead of crmcard's"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.serve and not args.no_uvloop:
        from bot.web.runtime import use_fast_event_loop

        use_fast_event_loop()  # as `crmcard serve` runs; the CRM fakes keep stock asyncio
    if args.serve:
        latencies = [float(x) for x in args.serve.split(",")]
        asyncio.run(serve_fakes(latencies, args.max_requests))
        return 0
    if args.quick:
        args.interactions, args.warmup = 200, 100
    rows = []
    for count in (int(x) for x in args.crms.split(",")):
        latencies = latencies_for(count, args.slowest)
        needed = (args.interactions * 2 + args.warmup) * count * args.rounds
        process, ports = start_fakes(latencies, max(args.max_requests, needed))
        try:
            rounds = [
                asyncio.run(
                    run_scenario(
                        latencies,
                        ports,
                        args.interactions,
                        args.concurrency,
                        args.warmup,
                        freeze=not args.no_gc_freeze,
                    )
                )
                for _ in range(args.rounds)
            ]
        finally:
            stop_fakes(process)
        ordered = sorted(rounds, key=lambda r: r["over_p99_ms"])
        median = dict(ordered[len(ordered) // 2])  # the median round by overhead p99
        median["over_p99_spread"] = (ordered[0]["over_p99_ms"], ordered[-1]["over_p99_ms"])
        rows.append(median)
    print(
        f"card build time, {args.concurrency} concurrent interactions, "
        f"{args.interactions} measured per row, median of {args.rounds} round(s) by overhead "
        "p99 (spread: lowest-highest round), "
        f"gc.freeze {'off' if args.no_gc_freeze else 'on'}, "
        f"{'asyncio' if args.no_uvloop else 'uvloop'} loop, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    header = (
        "CRMs  slowest  cards  err   p50 ms   p99 ms  over p50  over p99  (spread)  "
        "fan-out p99  floor p50  floor p99  cards/s  CPU ms/card"
    )
    print(header)
    for r in rows:
        spread = r["over_p99_spread"]
        print(
            f"{r['crms']:>4}  {r['slowest_ms']:>7.0f}  {r['n']:>5}  {r['errors']:>3}  "
            f"{r['p50_ms']:>7.1f}  {r['p99_ms']:>7.1f}  {r['over_p50_ms']:>8.1f}  "
            f"{r['over_p99_ms']:>8.1f}  {spread[0]:>4.1f}-{spread[1]:<4.1f}  "
            f"{r['fanout_over_p99_ms']:>11.1f}  "
            f"{r['floor_over_p50_ms']:>9.1f}  "
            f"{r['floor_over_p99_ms']:>9.1f}  {r['cards_per_s']:>7.0f}  "
            f"{r['cpu_ms_per_card']:>11.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
