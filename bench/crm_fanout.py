"""The CRM fan-out as production runs it: crmcard's overhead over the slowest CRM, per card.

    .venv/bin/python -m bench.crm_fanout [--crms 6] [--rounds 3] [--interactions 1000]
        [--concurrency 100] [--slowest 0.5]
    .venv/bin/python -m bench.crm_fanout --quick

Three kinds of process, none sharing an event loop with another:

* **crmcard**, started as ``crmcard serve`` starts it (``python -m bot serve``: uvloop,
  INFO logging as JSON lines, the access log, both written to a file; SQLite store),
  with the operator's explicit loopback allowance for CRM URLs
  (``CRMCARD_CRM_ALLOW_LOCAL_URLS``); the tenants' CRMs are connected through the
  operator's CLI (``python -m bot crm add``) before it starts. No bot identity (as
  ``bench.production``'s webhook section): the webhook is authenticated by its API key,
  the cards go to the local connector without a token.
* **the CRMs**: minimal Kustomer fakes in one child process on ``127.0.0.1``, answering
  the customer search (``POST /v1/customers/search``, the documented JSON:API page, one
  customer: the caller, its number as typed in the international format) after a set
  latency; a scenario's N CRMs are spread evenly up to ``--slowest`` (6 CRMs at 0.5 s:
  83, 167 ... 500 ms) and belong to a tenant of their own. Past ``--max-requests`` they
  answer 503: never an unbounded load.
  They stand for other machines, so they cost as little CPU as they can: HTTP/1.1 on
  bare ``asyncio`` protocols, each caller's answer written once and sent again.
* **the load**: one process that is both the contact-center platform and the Bot
  Connector (``tests/connector.py``'s routes, on the same bare protocol). Each of
  ``--concurrency`` workers is one installed agent; it sends an ``assigned`` webhook
  event for a new interaction (``POST /api/interactions``), waits for that
  interaction's complete card to reach the connector, and starts the next one (closed
  loop, no think time). The callers are ``--callers`` people (1000: a contact center's
  repeat callers, each card holding a few interactions per round), the n-th
  interaction's caller the (n mod callers)-th; ``--callers 1`` is one caller for all.

What is timed, per card: from sending the event to the connector receiving the card that
holds every CRM's answer, minus the slowest CRM's latency. crmcard paints a new
interaction's card with the CRMs that answered within its first-paint budget (0.3 s;
the slower ones "still answering") while the webhook is answered, then updates that
message once the slower CRMs have answered: with CRMs slower than 0.3 s the timed card
is that update (``PUT``), sent as soon as the last CRM's answer is in. Neither of
crmcard's deliberate waits is in it: the first paint ends before the slowest CRM
answers, and the per-conversation send pacing (1/7 s) never holds the update back while
``--slowest`` is at least 0.3 + 1/7 s (each agent's sends are further apart).

The **floor** (``0`` CRMs, run unless ``--no-floor``) is the same path for a tenant
without CRMs: event to the (only) card, nothing subtracted. Its workers pause after each
card, ``--slowest`` on average, so crmcard sees about the event rate of the CRM
scenarios without their wait (and each conversation's sends stay further apart than the
pacing interval). Past the pacing interval the pauses are drawn from an exponential
distribution, as independent agents' next interactions come: with one fixed pause, any
stall lined the workers up and they kept arriving in bursts of ~90 events within 250 ms,
whose last card waited for the CPU of all the others (the floor's p99 was that wait, at
half a core busy).

Every round runs every scenario in turn (floor first); each figure is the median over
the rounds with the spread (lowest-highest round). ``server CPU ms/card`` is crmcard's
user + system time (``/proc``) over the measured cards, the figure least disturbed by
other work on the machine; the fakes' and the load's CPU per card are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

if TYPE_CHECKING:
    from bench._names import Names

KUSTOMER_KEY = "kustomer-api-key-not-published"
FIRST_PAINT = 0.3  # bot.services.context.Context.crm_first_paint
SEND_INTERVAL = 1 / 7  # bot.adapters.teams.delivery.SEND_INTERVAL
CARD_WAIT = 30.0  # a slower card is an error, not a figure
CRM_PROBLEMS = (b"did not answer in time", b"failed unexpectedly")


def latencies_for(count: int, slowest: float) -> list[float]:
    """``count`` CRMs evenly spread up to ``slowest``: 6 -> slowest/6, 2*slowest/6 ..."""
    return [round(slowest * (i + 1) / count, 4) for i in range(count)]


def tenant_of(crms: int) -> str:
    return f"fanout-tenant-{crms}"


def api_key_of(crms: int) -> str:
    return f"fanout-platform-key-{crms}-not-published"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the CRMs (child process) ----------------------------------------------------------


class BareHttp(asyncio.Protocol):
    """The server side of HTTP/1.1 keep-alive connections, as little as crmcard's
    aiohttp clients need: a request head, a ``Content-Length`` body (crmcard never
    chunks), one request at a time. ``handle(method, target, body, answer)`` answers
    with ``answer(status, json_body)``, at once or later (a CRM's latency)."""

    def __init__(self, handle: Callable[[bytes, bytes, bytes, Answer], None]) -> None:
        self.handle = handle
        self.buffer = b""
        self.transport: Any = None  # uvloop's TCP transports are no asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            lowered = head.lower()
            if b"\r\ntransfer-encoding:" in lowered:
                raise ValueError("a chunked request: this bare server reads Content-Length only")
            length = 0
            if (at := lowered.find(b"\r\ncontent-length:")) >= 0:
                stop = lowered.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, target, _ = head[: head.find(b"\r\n")].split(b" ", 2)
            self.handle(method, target, body, self._answer)

    def _answer(self, status: int, body: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response(status, body))


Answer = Callable[[int, bytes], None]


def response(status: int, body: bytes) -> bytes:
    reason = {200: b"OK", 201: b"Created", 404: b"Not Found", 503: b"Service Unavailable"}
    head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n" % (
        status,
        reason.get(status, b"Status"),
    )
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def assigned_event(interaction_id: str, user: dict[str, Any], phone: str) -> dict[str, Any]:
    """The platform's ``assigned`` webhook event of a new voice interaction for ``user``."""
    return {
        "interactionId": interaction_id,
        "event": "assigned",
        "occurredAt": "2026-12-01T08:00:00Z",
        "channel": "voice",
        "agent": {"aadObjectId": user["from"]["aadObjectId"], "name": "Agent"},
        "customer": {"phone": phone},
        "queue": "Support",
    }


def phone_of(n: int, callers: int) -> str:
    """The n-th interaction's caller, in E.164 (the fictional +1 202 555 range)."""
    return f"+1202555{n % callers:04d}"


def search_page(e164: str, names: Names) -> bytes:
    """Kustomer's customer search page holding the caller (as ``tests/crm/fakes/kustomer.py``,
    after https://developer.kustomer.com/kustomer-api-docs/reference/customersearch):
    one customer, the number as typed ("+1 202-555-0123"), a name as common as in a real
    customer base (``bench._names``), the same for the number in every CRM."""
    digits = e164[1:]
    names.rng.seed(digits)
    name = f"{names.given()} {names.surname()}"
    typed = f"+{digits[0]} {digits[1:4]}-{digits[4:7]}-{digits[7:]}"
    customer_id = f"{int(digits):024x}"
    customer = {
        "type": "customer",
        "id": customer_id,
        "attributes": {
            "name": name,
            "displayName": name,
            "emails": [{"type": "home", "email": f"caller.{digits}@example.com"}],
            "phones": [{"type": "mobile", "phone": typed}],
        },
        "links": {"self": f"/v1/customers/{customer_id}"},
    }
    links = {"self": "/v1/customers/search?page=1", "first": None, "prev": None, "next": None}
    page = {"meta": {"page": 1, "pageSize": 25, "totalPages": 1}, "data": [customer]}
    return json.dumps(page | {"links": links}).encode()


_CONTAINS = re.compile(rb'"contains"\s*:\s*"([^"]*)"')
_NOBODY = json.dumps(
    {"meta": {"page": 1, "pageSize": 25, "totalPages": 0}, "data": [], "links": {"next": None}}
).encode()
_NOT_FOUND = json.dumps({"errors": [{"status": 404, "code": "not_found"}]}).encode()
_SPENT = json.dumps({"errors": [{"status": 503, "title": "budget spent"}]}).encode()


async def serve_fakes(latencies: list[float], max_requests: int) -> None:
    """One minimal Kustomer per latency: ``POST /v1/customers/search`` answers the page
    holding the caller whose number the search names (its first ``contains`` term is the
    number in E.164: crmcard asks for every written form of it in one search, so a card
    costs one request per CRM) after the latency; each caller's page is built once."""
    from bench._names import Names

    loop = asyncio.get_running_loop()
    served = 0
    pages: dict[bytes, bytes] = {}
    names = Names(seed=0)

    def fake(latency: float) -> BareHttp:
        def handle(method: bytes, target: bytes, body: bytes, answer: Answer) -> None:
            nonlocal served
            served += 1
            if method != b"POST" or not target.startswith(b"/v1/customers/search"):
                answer(404, _NOT_FOUND)
            elif served > max_requests:
                answer(503, _SPENT)
            else:
                found = _CONTAINS.search(body)
                number = found.group(1) if found else b""
                page = pages.get(number)
                if not number.startswith(b"+"):  # no caller's number: nobody found
                    page = _NOBODY
                elif page is None:
                    page = pages[number] = search_page(number.decode(), names)
                loop.call_later(latency, answer, 200, page)

        return BareHttp(handle)

    servers = []
    ports = []
    for latency in latencies:
        server = await loop.create_server(
            functools.partial(fake, latency), "127.0.0.1", 0, backlog=1024
        )
        ports.append(server.sockets[0].getsockname()[1])
        servers.append(server)
    print(json.dumps({"ports": ports, "pid": os.getpid()}), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def child(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.crm_fanout", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def first_line(process: subprocess.Popen[str], what: str) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit(f"{what} did not start")
    answer: dict[str, Any] = json.loads(line)
    return answer


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the load: platform and Bot Connector (child process) ------------------------------


@dataclass
class Waiting:
    interaction_id: bytes
    card: asyncio.Future[tuple[float, bool]]
    """When the complete card arrived, and whether every CRM's answer is on it."""
    first_paint: float | None = None
    """When the first card ("still answering") arrived, if there was one."""


@dataclass
class Connector:
    """The Bot Connector's routes crmcard calls (as ``tests/connector.py``: post, reply,
    update an activity; read a member), resolving each agent's in-flight interaction
    when its complete card arrives."""

    waiting: dict[str, Waiting] = field(default_factory=dict)
    ids: int = 0

    def protocol(self) -> BareHttp:
        return BareHttp(self._handle)

    def _handle(self, method: bytes, target: bytes, body: bytes, answer: Answer) -> None:
        arrived = time.perf_counter()
        parts = target.split(b"?", 1)[0].split(b"/")  # /v3/conversations/{id}/...
        if len(parts) < 5 or parts[1:3] != [b"v3", b"conversations"]:
            answer(404, _NOT_FOUND)
            return
        conversation = unquote(parts[3].decode())
        if method == b"GET" and parts[4] == b"members" and len(parts) == 6:
            member = unquote(parts[5].decode())
            answer(200, json.dumps({"id": member, "name": f"Member {member}"}).encode())
            return
        if parts[4] != b"activities" or method not in (b"POST", b"PUT"):
            answer(404, _NOT_FOUND)
            return
        waiting = self.waiting.get(conversation)
        if waiting is not None and waiting.interaction_id in body and not waiting.card.done():
            if b"still answering" in body:
                waiting.first_paint = arrived
            else:
                answered = not any(problem in body for problem in CRM_PROBLEMS)
                waiting.card.set_result((arrived, answered))
        self.ids += 1
        if method == b"PUT" and len(parts) == 6:
            activity_id = unquote(parts[5].decode())
        else:
            activity_id = f"activity-{self.ids}"
        answer(200, b'{"id": "%s"}' % activity_id.encode())


def agent(crms: int, i: int) -> dict[str, Any]:
    aad = f"00000000-0000-0000-{crms:04d}-{i:012d}"
    return {
        "from": {"id": f"29:fanout-{crms}-{i}", "name": f"Agent {i}", "aadObjectId": aad},
        "conversation": {
            "id": f"a:fanout-{crms}-chat-{i}",
            "conversationType": "personal",
            "tenantId": tenant_of(crms),
        },
        "channelData": {"tenant": {"id": tenant_of(crms)}},
    }


async def install(
    session: aiohttp.ClientSession, server: str, connector: str, crms: int, count: int
) -> None:
    from tests import activities

    async def one(i: int) -> None:
        body = activities.activity(connector, "installationUpdate", action="add") | agent(crms, i)
        async with session.post(server + "/api/messages", json=body) as response:
            if response.status >= 300:
                raise SystemExit(f"install: {response.status} {await response.text()}")

    for start in range(0, count, 20):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + 20))))


async def scenario(
    session: aiohttp.ClientSession,
    connector: Connector,
    config: dict[str, Any],
    crms: int,
    label: str,
) -> dict[str, Any]:
    """``warmup`` + ``interactions`` cards, ``concurrency`` in flight; per-card figures."""
    concurrency, slowest = config["concurrency"], config["slowest"]
    warmup, count = config["warmup"], config["interactions"]
    wait = slowest if crms else 0.0  # the floor's workers wait what the CRMs would take
    think = slowest if not crms else 0.0
    url = config["server"] + "/api/interactions"
    headers = {"X-Api-Key": api_key_of(crms)}
    numbers = iter(range(warmup + count))
    to_card: list[float] = []
    answered: list[float] = []
    errors: list[str] = []
    paced = 0  # complete cards that came within the pacing interval of their first paint
    marks: dict[str, float] = {}
    pids = {"server": config["server_pid"], "fakes": config["fakes_pid"], "load": os.getpid()}

    async def worker(i: int) -> None:
        nonlocal paced
        user = agent(crms, i)
        conversation = user["conversation"]["id"]
        pauses = random.Random(i)
        await asyncio.sleep(i * max(slowest, 0.1) / concurrency)  # arrivals spread out
        for n in numbers:
            if n == warmup:
                marks["wall"] = time.perf_counter()
                marks.update({f"cpu_{k}": process_cpu(pid) for k, pid in pids.items()})
            interaction_id = f"{label}-{crms}-{n}"
            card: asyncio.Future[tuple[float, bool]] = asyncio.get_running_loop().create_future()
            waiting = connector.waiting[conversation] = Waiting(interaction_id.encode(), card)
            event = assigned_event(interaction_id, user, phone_of(n, config["callers"]))
            sent = time.perf_counter()
            async with session.post(url, json=event, headers=headers) as response:
                body = await response.read()
                status = response.status
            answer = time.perf_counter()
            try:
                arrived, complete = await asyncio.wait_for(card, CARD_WAIT)
            except TimeoutError:
                arrived, complete = None, False
            if n >= warmup:
                if status != 202:
                    errors.append(f"{status} {body[:200]!r}")
                elif arrived is None:
                    errors.append(f"no complete card in {CARD_WAIT:.0f} s")
                else:
                    if not complete:
                        errors.append("a CRM did not answer in time or failed")
                    if waiting.first_paint and arrived - waiting.first_paint < SEND_INTERVAL:
                        paced += 1
                    to_card.append(arrived - sent)
                    answered.append(answer - sent)
            if think:  # the pacing interval, then exponential (mean: think)
                spread_ = max(think - SEND_INTERVAL, 0.001)
                await asyncio.sleep(SEND_INTERVAL + pauses.expovariate(1 / spread_))

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall = time.perf_counter() - marks["wall"]
    cpu = {k: process_cpu(pid) - marks[f"cpu_{k}"] for k, pid in pids.items()}
    cards = max(1, len(to_card))
    over = [(t - wait) * 1000 for t in to_card] or [float("nan")]
    return {
        "crms": crms,
        "cards": len(to_card),
        "errors": len(errors),
        "paced": paced,
        "error_kinds": sorted(set(errors)),
        "over_p50_ms": statistics.median(over),
        "over_p99_ms": percentile(over, 99),
        "webhook_p50_ms": statistics.median(answered or [float("nan")]) * 1000,
        "cards_per_s": len(to_card) / wall,
        "server_busy": cpu["server"] / wall,
        "server_cpu_ms": cpu["server"] / cards * 1000,
        "fakes_cpu_ms": cpu["fakes"] / cards * 1000,
        "load_cpu_ms": cpu["load"] / cards * 1000,
        "load_average": os.getloadavg()[0],
    }


async def run_load(config: dict[str, Any]) -> None:
    connector = Connector()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(connector.protocol, "127.0.0.1", 0, backlog=1024)
    connector_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    limits = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=limits) as session:
        for crms in config["scenarios"]:
            await install(session, config["server"], connector_url, crms, config["concurrency"])
        print(json.dumps({"ready": True}), flush=True)
        warm = {**config, "warmup": 0, "interactions": config["concurrency"] * 2}
        for crms in config["scenarios"]:
            await scenario(session, connector, warm, crms, "warm")
        for round_ in range(1, config["rounds"] + 1):
            for crms in config["scenarios"]:
                result = await scenario(session, connector, config, crms, f"r{round_}")
                print(json.dumps({"round": round_, **result}), flush=True)
    server.close()


# -- the run (this process) ------------------------------------------------------------


def crm_add(env: dict[str, str], crms: int, index: int, port: int) -> None:
    """Connect one CRM to a tenant as an operator does: ``crmcard crm add``."""
    command = [sys.executable, "-m", "bot", "crm", "add", "--tenant", tenant_of(crms)]
    command += ["--settings-id", f"crm{index}", "--kind", "kustomer"]
    command += ["--name", f"CRM {index + 1}", "--base-url", f"http://127.0.0.1:{port}"]
    command += ["--auth", '{"type": "api_key"}', "--map", "name=Name"]
    command += ["--json", json.dumps({"maxConcurrency": 100, "requestTimeout": 5})]
    command += ["--secret-env", "FANOUT_KUSTOMER_KEY"]
    done = subprocess.run(
        command, cwd=REPO, env=env | {"FANOUT_KUSTOMER_KEY": KUSTOMER_KEY}, capture_output=True
    )
    if done.returncode:
        raise SystemExit(f"crm add failed: {done.stderr.decode()[-2000:]}")


def spread(values: list[float], digits: int = 1) -> str:
    ordered = sorted(values)
    return (
        f"{statistics.median(ordered):.{digits}f} "
        f"({ordered[0]:.{digits}f}-{ordered[-1]:.{digits}f})"
    )


def report(args: argparse.Namespace, results: list[dict[str, Any]], loads: list[float]) -> None:
    print(
        f"\nCRM fan-out, {args.concurrency} concurrent interactions, {args.interactions} cards "
        f"per scenario and round, {args.callers} callers, slowest CRM "
        f"{args.slowest * 1000:.0f} ms, median of {args.rounds} interleaved rounds "
        "(lowest-highest round); load average "
        f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs"
    )
    columns = (
        ("over p50 ms", "over_p50_ms", 1),
        ("over p99 ms", "over_p99_ms", 1),
        ("webhook p50 ms", "webhook_p50_ms", 0),
        ("cards/s", "cards_per_s", 0),
        ("server busy", "server_busy", 2),
        ("server CPU ms/card", "server_cpu_ms", 2),
        ("fakes CPU", "fakes_cpu_ms", 2),
        ("load CPU", "load_cpu_ms", 2),
    )
    print("     CRMs  cards  errors  paced  " + "  ".join(f"{name:>20}" for name, _, _ in columns))
    for crms in sorted({r["crms"] for r in results}):
        rows = [r for r in results if r["crms"] == crms]
        cells = "  ".join(f"{spread([r[key] for r in rows], d):>20}" for _, key, d in columns)
        errors = sum(r["errors"] for r in rows)
        name = f"{crms}" if crms else "0 (floor)"
        paced = sum(r["paced"] for r in rows)
        print(f"{name:>9}  {sum(r['cards'] for r in rows):>5}  {errors:>6}  {paced:>5}  {cells}")
        for kind in sorted({kind for r in rows for kind in r["error_kinds"]}):
            print(f"      error: {kind}")
    print(
        "\nover = event sent to the complete card at the connector, minus the slowest CRM's "
        "latency (floor: nothing subtracted); target: 6 CRMs p99 < 10 ms. paced = complete "
        "cards that came less than 1/7 s after their first paint (the per-conversation "
        "pacing may have held them back: the first paint itself was late). server busy = "
        "crmcard's CPU seconds per second (1.00 = one core, all crmcard can use): near 1, "
        "or with the machine's load average above its cores, cards queue for the CPU and "
        "the overhead is that wait"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crms", default="6", help="CRM counts to run besides the floor (0)")
    parser.add_argument("--interactions", type=int, default=1000, help="cards per scenario")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=100, help="cards before the measured ones")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slowest", type=float, default=0.5, help="slowest CRM, seconds")
    parser.add_argument("--callers", type=int, default=1000, help="distinct callers (<= 10000)")
    parser.add_argument("--quick", action="store_true", help="1 round of 300 cards")
    parser.add_argument("--max-requests", type=int, default=200_000, help="for the fakes")
    parser.add_argument("--keep", action="store_true", help="keep crmcard's data and logs")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor (to profile)")
    parser.add_argument("--py-spy", metavar="FILE", help="sample crmcard into FILE (.svg or raw)")
    parser.add_argument("--serve-fakes", help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fakes or args.load:
        from bot.web.runtime import use_fast_event_loop

        use_fast_event_loop()
    if args.serve_fakes:
        latencies = [float(x) for x in args.serve_fakes.split(",")]
        asyncio.run(serve_fakes(latencies, args.max_requests))
        return 0
    if args.load:
        asyncio.run(run_load(json.loads(args.load)))
        return 0
    if not 1 <= args.callers <= 10_000:
        parser.error("--callers: 1 to 10000")
    if args.quick:
        args.rounds, args.interactions = 1, 300
    if args.slowest < FIRST_PAINT + SEND_INTERVAL:
        print(
            f"note: with --slowest under {FIRST_PAINT + SEND_INTERVAL:.2f} s the card's update "
            "may wait for the per-conversation send pacing"
        )
    return orchestrate(args)


def orchestrate(args: argparse.Namespace) -> int:
    from bench.production import crmcard_env, start_crmcard, wait_healthy

    floor = [] if args.no_floor else [0]
    scenarios = sorted({*floor, *(int(x) for x in args.crms.split(","))})
    latencies = {n: latencies_for(n, args.slowest) for n in scenarios if n}
    every = [latency for n in scenarios if n for latency in latencies[n]]
    workdir = Path(tempfile.mkdtemp(prefix="crmcard-fanout-"))
    fakes = child(["--serve-fakes", ",".join(map(str, every)), "--max-requests", "200000"])
    servers: list[Any] = []
    load: subprocess.Popen[str] | None = None
    try:
        hello = first_line(fakes, "the fake CRMs")
        ports = iter(hello["ports"])
        env = crmcard_env(
            workdir,
            None,
            CRMCARD_API_KEYS=json.dumps({tenant_of(n): api_key_of(n) for n in scenarios}),
            CRMCARD_DEMO="false",
            CRMCARD_DEMO_CRM="false",
            CRMCARD_LOG_FORMAT="json",
            CRMCARD_CRM_ALLOW_LOCAL_URLS="true",  # the operator's allowance, for the fakes
        )
        for n in scenarios:
            for index in range(n):
                crm_add(env, n, index, next(ports))
        server = start_crmcard("crmcard", workdir, env)
        servers.append(server)
        wait_healthy(server, "/healthz")
        config = {
            "server": server.url,
            "server_pid": server.process.pid,
            "fakes_pid": hello["pid"],
            "scenarios": scenarios,
            "concurrency": args.concurrency,
            "interactions": args.interactions,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "slowest": args.slowest,
            "callers": args.callers,
        }
        load = child(["--load", json.dumps(config)], env={**os.environ, "PYTHONPATH": str(REPO)})
        first_line(load, "the load")
        if args.py_spy:
            from bench.production import start_py_spy

            servers.append(start_py_spy(server.process.pid, args.py_spy))
        print(f"crmcard up, {args.concurrency} agents per tenant installed; rounds:", flush=True)
        results: list[dict[str, Any]] = []
        assert load.stdout is not None
        for line in load.stdout:
            result = json.loads(line)
            results.append(result)
            print(
                f"  round {result['round']} CRMs {result['crms']}: over p50 "
                f"{result['over_p50_ms']:.1f} p99 {result['over_p99_ms']:.1f} ms, "
                f"{result['cards_per_s']:.0f} cards/s, {result['server_cpu_ms']:.2f} ms "
                f"server CPU/card, {result['errors']} errors, {result['paced']} paced, "
                f"load {result['load_average']:.1f}",
                flush=True,
            )
        if load.wait() != 0 or not results:
            raise SystemExit("the load process failed")
        report(args, results, [r["load_average"] for r in results])
    finally:
        if load is not None:
            stop(load)
        for running in reversed(servers):
            if isinstance(running, subprocess.Popen):
                from bench.production import stop_py_spy

                stop_py_spy(running)
            else:
                running.stop()
        stop(fakes)
        if args.keep:
            print(f"crmcard's data and logs kept in {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
