"""HTTP calls and latency of one caller lookup per vendor, against the vendor's fake,
next to the vendor's documented rate limit: the lookups a minute one tenant can make.

    .venv/bin/python -m bench.crm_lookups [--lookups 40] [--rounds 5] [--people 200]
    .venv/bin/python -m bench.crm_lookups --quick

Each vendor's adapter is connected to its contract fake exactly as the contract suite
does (``tests/crm/vendors.py``: real adapter, ``ResilientHttp``, the fake on
``127.0.0.1``; Dynamics signs in through the fake Entra over TLS). Every fake holds
``--people`` persons whose numbers are written in the US/GB/DE/FR forms of the phone
lookup suite, plus the callers. One lookup = ``search(SearchCriteria(phones=[E.164],
region=...))`` for one caller, verified as in production. Rounds interleave the vendors
(a different order each round); each round times ``--lookups`` sequential lookups per
vendor. The table shows the HTTP requests one lookup sends (the fake's count, token
requests excluded), the median over rounds of each round's p50 with the spread (lowest
and highest round p50), the documented limit and ``limit / requests per lookup``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from bot.services.crm import SearchCriteria  # noqa: E402
from tests.crm.conftest import VirtualTime, make_tls  # noqa: E402
from tests.crm.fakes.entra import FakeEntra  # noqa: E402
from tests.crm.test_phone_lookup import NUMBERS  # noqa: E402
from tests.crm.vendors import VENDORS, Connected, Env, connect  # noqa: E402

LIMITS: dict[str, tuple[float | None, str]] = {
    "salesforce": (100_000 / 24 / 60, "100,000 API requests / 24 h (Enterprise base)"),
    "dynamics": (6_000 / 5, "6,000 requests / 5 min per user (service protection)"),
    "servicenow": (None, "none by default (admin-defined rate limit rules)"),
    "zendesk": (700, "700 / min (Enterprise; Team 200, Professional 400)"),
    "freshdesk": (400, "400 / min (Pro; Growth 200, Enterprise 700)"),
    "kustomer": (1_000, "1,000 / min per org"),
    "oracle": (None, "not published"),
    "rest": (None, "the connected API's own"),
}
"""Documented request limits per vendor (requests a minute, or None) and their source:
Salesforce API request limits (salesforce_app_limits_platform_api), Dataverse service
protection API limits (learn.microsoft.com/power-apps/developer/data-platform/api-limits),
ServiceNow inbound REST rate limiting, Zendesk rate limits
(developer.zendesk.com/api-reference/introduction/rate-limits), Freshdesk rate limit
(developers.freshdesk.com/api/#ratelimit), Kustomer rate limiting
(developer.kustomer.com/kustomer-api-docs/reference/rate-limiting)."""


async def _server(app: web.Application, ssl: Any = None) -> TestServer:
    server = TestServer(app, host="127.0.0.1", scheme="https" if ssl else "http")
    await server.start_server(ssl=ssl)
    return server


async def _seed(connected: Connected, people: int) -> list[tuple[str, str]]:
    """Persons in every written form; returns the (caller E.164, region) to look up."""
    rng = random.Random(7)
    callers: list[tuple[str, str]] = []
    for region, (caller, forms, others) in NUMBERS.items():
        for i, form in enumerate(forms):
            connected.add_person(f"Caller {region}{i}", form)
        for i, other in enumerate(others):
            connected.add_person(f"Other {region}{i}", other)
        callers.append((caller, region))
    for i in range(people):
        connected.add_person(f"Person{i}", f"+1 415-{rng.randrange(200, 999)}-{i:04d}")
    return callers


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="crm-lookups-"))
    tls = make_tls(folder)
    entra = FakeEntra()
    entra_server = await _server(entra.app(), ssl=tls.server)
    entra.base_url = str(entra_server.make_url("")).rstrip("/")
    servers: list[TestServer] = [entra_server]

    async def factory(app: web.Application, ssl: Any = None) -> TestServer:
        server = await _server(app, ssl)
        servers.append(server)
        return server

    connector = aiohttp.TCPConnector(ssl=tls.client)
    async with aiohttp.ClientSession(connector=connector) as session:
        env = Env(factory, session, VirtualTime(), entra, tls)
        connected = {vendor: await connect(vendor, env) for vendor in VENDORS}
        callers = {vendor: await _seed(c, args.people) for vendor, c in connected.items()}
        for vendor, c in connected.items():  # warm-up: tokens, connections
            await c.crm.search(SearchCriteria(phones=[callers[vendor][0][0]]))
        p50s: dict[str, list[float]] = {v: [] for v in VENDORS}
        calls: dict[str, list[float]] = {v: [] for v in VENDORS}
        found: dict[str, int] = {v: 0 for v in VENDORS}
        order = list(VENDORS)
        for round_ in range(args.rounds):
            random.Random(round_).shuffle(order)
            for vendor in order:
                c = connected[vendor]
                times: list[float] = []
                before = c.requests
                for i in range(args.lookups):
                    caller, region = callers[vendor][i % len(callers[vendor])]
                    start = time.perf_counter()
                    records = await c.crm.search(SearchCriteria(phones=[caller], region=region))
                    times.append((time.perf_counter() - start) * 1000)
                    found[vendor] += bool(records)
                p50s[vendor].append(statistics.median(times))
                calls[vendor].append((c.requests - before) / args.lookups)
    for server in servers:
        await server.close()
    print(
        f"{args.rounds} rounds x {args.lookups} lookups per vendor, {args.people} persons "
        "besides the callers in each fake\n"
    )
    print("| vendor | HTTP calls / lookup | p50 ms (spread) | documented limit | lookups / min |")
    print("| --- | --- | --- | --- | --- |")
    for vendor in VENDORS:
        per_lookup = statistics.median(calls[vendor])
        p50 = p50s[vendor]
        limit, source = LIMITS[vendor]
        rate = f"{limit / per_lookup:,.0f}" if limit else "-"
        print(
            f"| {vendor} | {per_lookup:g} | {statistics.median(p50):.1f} "
            f"({min(p50):.1f}-{max(p50):.1f}) | {source} | {rate} |"
        )
    missed = {
        v: args.rounds * args.lookups - n
        for v, n in found.items()
        if n < args.rounds * args.lookups
    }
    if missed:
        print(f"\nlookups that found nobody: {missed}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="2 rounds x 8 lookups")
    args = parser.parse_args()
    if args.quick:
        args.lookups, args.rounds, args.people = 8, 2, 20
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
