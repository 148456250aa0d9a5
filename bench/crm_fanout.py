"""The CRM fan-out as production runs it: crmcard's overhead over the slowest CRM, per card.

    .venv/bin/python -m bench.crm_fanout [--crms 6] [--rounds 3] [--interactions 1000]
        [--concurrency 100] [--slowest 0.5] [--store blob|local] [--no-count] [--hold 0]
    .venv/bin/python -m bench.crm_fanout --quick

Needs Azurite (``npm install``, as ``bench.production``) for the default ``--store blob``.
Four kinds of process, none sharing an event loop with another:

* **crmcard**, started as ``crmcard serve`` starts it (``python -m bot serve``: uvloop,
  INFO logging as JSON lines, the access log, both written to a file), on production's
  store, Azure Blob Storage: **Azurite** (``tests.azurite``, in memory; its own process,
  whose CPU per card is reported), with ``bench.production``'s Blob settings
  (``blob_env``); ``--store local`` runs it on the embedded SQLite store instead. With
  the operator's explicit loopback allowance for CRM URLs
  (``CRMCARD_CRM_ALLOW_LOCAL_URLS``); the tenants' CRMs are connected through the
  operator's CLI (``python -m bot crm add``) before it starts. **JWT on**: crmcard has
  an app id and checks every activity's Bot Connector token against a local OpenID
  issuer (``tests/auth/openid_issuer.py``, as ``bench.production``'s link section); the
  agents' installs (``installationUpdate`` on ``/api/messages``) carry its tokens. The
  webhook is authenticated by the platform's API key, as in production.
  The bot is production's SingleTenant registration (app id, client secret, tenant;
  ``bench.production.local_bot_identity``): its MSAL signs in at a local Entra over
  TLS instead of ``login.microsoftonline.com`` (unreachable here), so every card sent
  carries the bot's token, as in production (a send that could not get one fails, and
  its card never arrives: an error here). Not production: Azurite is a local Node
  process sharing this machine's cores with crmcard (its CPU per card is printed),
  where Blob Storage is other machines.
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
  loop, no think time; with ``--hold S`` each call goes on after its complete card, for
  an exponential time of mean S seconds, before that agent's next interaction: 100 calls
  open at once arriving at about 100 / (S + the slowest CRM) a second, a contact
  center's pace rather than the closed loop's). The callers are ``--callers`` people
  (1000: a contact center's repeat callers, each card holding a few interactions per
  round), the n-th interaction's caller the (n mod callers)-th; ``--callers 1`` is one
  caller for all.

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
other work on the machine; the fakes' and the load's CPU per card are printed too, and
on Blob ``Azurite CPU ms/card``, Azurite's user + system time over the same cards (as
``bench.production`` measures it).

On Blob, unless ``--no-count``, a **counting pass** follows: a second crmcard on a
container of its own (its callers new again) under the same load, every Blob request
through ``bench.production``'s counting proxy (in this process, on a thread). After the
warm-up and after each round the load waits until the proxy has had no request for
:data:`QUIET` seconds (the last cards' filing done), so each round's requests per card
(warm-up cards included) are that round's, by method and answer (404: a read of a
document that is not there; 409 / 412: a create or a conditional write that lost) and
by document kind. That crmcard is not timed: the proxy's latency and CPU are in neither
the p99 nor the CPU figures above.

Measured 2026-12-02 16:15-17:12 UTC (``--no-floor --rounds 3``; four Blob runs, the
first three with the SDK's anonymous app id, whose sends carried no token, alternating
with two ``--store local`` runs, the last as the SingleTenant bot; load average 2.3-8.6
from other work; the tables in bench/README.md): on Blob p99 5.1-10.4 s (target:
10 ms), 16-29 cards/s, 14.1-16.3 ms of crmcard's CPU and 21.9-24.6 ms of Azurite's per
card (medians over the rounds), 52-57 Blob requests a card in round 1 (new callers),
20.15 for repeat callers; on the embedded store p99 0.14-0.88 s at 4.7-5.7 ms a card.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
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
    from bench.production import CountingProxy
    from tests.auth.openid_issuer import LocalIssuer
    from tests.azurite import Azurite

KUSTOMER_KEY = "kustomer-api-key-not-published"
FIRST_PAINT = 0.3  # bot.services.context.Context.crm_first_paint
SEND_INTERVAL = 1 / 7  # bot.adapters.teams.delivery.SEND_INTERVAL
CARD_WAIT = 30.0  # a slower card is an error, not a figure
CRM_PROBLEMS = (b"did not answer in time", b"failed unexpectedly")
STORES = {"blob": "Blob store on Azurite", "local": "embedded SQLite store"}
QUIET = 0.5
"""Seconds without a Blob request that end a counted round (its cards' filing done)."""


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


def child(
    args: list[str], env: dict[str, str] | None = None, *, stdin: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.crm_fanout", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE if stdin else None,
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
    session: aiohttp.ClientSession, config: dict[str, Any], connector: str, crms: int
) -> None:
    """Each agent installs the bot: an ``installationUpdate`` with the issuer's token."""
    from tests import activities

    url = config["server"] + "/api/messages"
    headers = {"Authorization": f"Bearer {config['token']}"}

    async def one(i: int) -> None:
        body = activities.activity(connector, "installationUpdate", action="add") | agent(crms, i)
        async with session.post(url, json=body, headers=headers) as response:
            if response.status >= 300:
                raise SystemExit(f"install: {response.status} {await response.text()}")

    count = config["concurrency"]
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
    hold = config["hold"] if crms else 0.0
    url = config["server"] + "/api/interactions"
    headers = {"X-Api-Key": api_key_of(crms)}
    numbers = iter(range(warmup + count))
    to_card: list[float] = []
    answered: list[float] = []
    errors: list[str] = []
    paced = 0  # complete cards that came within the pacing interval of their first paint
    marks: dict[str, float] = {}
    pids = {"server": config["server_pid"], "fakes": config["fakes_pid"], "load": os.getpid()}
    if config["azurite_pid"]:
        pids["azurite"] = config["azurite_pid"]

    async def worker(i: int) -> None:
        nonlocal paced
        user = agent(crms, i)
        conversation = user["conversation"]["id"]
        pauses = random.Random(i)
        await asyncio.sleep(i * max(slowest + hold, 0.1) / concurrency)  # arrivals spread out
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
            elif hold:  # the call goes on after its card is complete (exponential, mean: hold)
                await asyncio.sleep(pauses.expovariate(1 / hold))

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall = time.perf_counter() - marks["wall"]
    cpu = {k: process_cpu(pid) - marks[f"cpu_{k}"] for k, pid in pids.items()}
    cards = max(1, len(to_card))
    over = [(t - wait) * 1000 for t in to_card] or [float("nan")]
    return {
        "crms": crms,
        "events": warmup + count,
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
        "azurite_cpu_ms": cpu.get("azurite", float("nan")) / cards * 1000,
        "load_average": os.getloadavg()[0],
    }


async def checkpoint(config: dict[str, Any], line: dict[str, Any]) -> None:
    """Tell the run where the load is; a counted load then waits for the run's go-ahead
    (it reads the counting proxy between rounds, once the last cards' filing is done),
    its connector still answering meanwhile."""
    print(json.dumps(line), flush=True)
    if config["counted"]:
        await asyncio.to_thread(sys.stdin.readline)


async def run_load(config: dict[str, Any]) -> None:
    connector = Connector()
    loop = asyncio.get_running_loop()
    port = config["connector_port"]  # the service URL the install tokens were minted for
    server = await loop.create_server(connector.protocol, "127.0.0.1", port, backlog=1024)
    connector_url = f"http://127.0.0.1:{port}"
    limits = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=limits) as session:
        for crms in config["scenarios"]:
            await install(session, config, connector_url, crms)
        print(json.dumps({"ready": True}), flush=True)
        warm = {**config, "warmup": 0, "interactions": config["concurrency"] * 2}
        for crms in config["scenarios"]:
            await scenario(session, connector, warm, crms, "warm")
        await checkpoint(config, {"warmed": True})
        for round_ in range(1, config["rounds"] + 1):
            for crms in config["scenarios"]:
                result = await scenario(session, connector, config, crms, f"r{round_}")
                await checkpoint(config, {"round": round_, **result})
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
        f"\nCRM fan-out, {STORES[args.store]}, JWT on; "
        f"{args.concurrency} concurrent interactions"
        + (f" (each call going on {args.hold:g} s on average after its card)" if args.hold else "")
        + f", {args.interactions} cards "
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
    if args.store == "blob":
        columns += (("Azurite CPU ms/card", "azurite_cpu_ms", 2),)
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


def request_mix(answers: Mapping[str, int], cards: int) -> str:
    """Requests per card by method, the answers that were not 2xx among them:
    ``{"GET 200": 30, "GET 404": 10, "PUT 201": 20}`` over 10 cards is
    ``GET 4.00 (404: 1.00), PUT 2.00``."""
    methods: dict[str, collections.Counter[int]] = {}
    for answer, count in answers.items():
        method, status = answer.split(" ")
        methods.setdefault(method, collections.Counter())[int(status)] += count
    cells = []
    for method, statuses in sorted(methods.items(), key=lambda m: -m[1].total()):
        failed = [f"{status}: {n / cards:.2f}" for status, n in sorted(statuses.items())]
        failed = [cell for cell in failed if not cell.startswith("2")]
        cells.append(
            f"{method} {statuses.total() / cards:.2f}"
            + (f" ({', '.join(failed)})" if failed else "")
        )
    return ", ".join(cells)


def report_counts(counted: list[dict[str, Any]]) -> None:
    print(
        "\nBlob requests per card, round by round (the counting pass: a second crmcard, the "
        "same load on a container of its own, every Blob request through a counting proxy; "
        "not timed). Round 1's callers are mostly new (their cards made, their names "
        "filed), the later rounds' the same callers again; Azurite's answer times as the "
        "proxy saw them, from the request sent on to the answer read:"
    )
    for result in counted:
        blob, events = result["blob"], result["events"]
        kinds = sorted(blob["kinds"].items(), key=lambda kind: -kind[1])[:6]
        ms = [s * 1000 for s in blob["seconds"]] or [0.0]
        print(
            f"  round {result['round']} CRMs {result['crms']}: "
            f"{blob['requests'] / events:.2f} per card ({events} cards): "
            f"{request_mix(blob['answers'], events)}; most: "
            + ", ".join(f"{kind} {n / events:.2f}" for kind, n in kinds)
            + f"; Azurite answered in p50 {percentile(ms, 50):.1f}, "
            f"p99 {percentile(ms, 99):.1f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crms", default="6", help="CRM counts to run besides the floor (0)")
    parser.add_argument("--interactions", type=int, default=1000, help="cards per scenario")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=100, help="cards before the measured ones")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slowest", type=float, default=0.5, help="slowest CRM, seconds")
    parser.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="mean seconds a call goes on after its card is complete (0: closed loop)",
    )
    parser.add_argument("--callers", type=int, default=1000, help="distinct callers (<= 10000)")
    parser.add_argument(
        "--store", choices=sorted(STORES), default="blob", help="crmcard's store (production: blob)"
    )
    parser.add_argument(
        "--no-count", action="store_true", help="skip the Blob request counting pass"
    )
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
    # Stopped with SIGTERM as with Ctrl-C: crmcard, Azurite and the other processes stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.slowest < FIRST_PAINT + SEND_INTERVAL:
        print(
            f"note: with --slowest under {FIRST_PAINT + SEND_INTERVAL:.2f} s the card's update "
            "may wait for the per-conversation send pacing"
        )
    return orchestrate(args)


def crmcard_settings(
    workdir: Path,
    issuer: LocalIssuer,
    identity: dict[str, str],
    scenarios: list[int],
    blob: str | None,
    container: str = "fanout",
) -> dict[str, str]:
    """crmcard's environment: the SingleTenant bot, JWT on against ``issuer``, its sends'
    token from the local Entra ``identity`` (``BotIdentity.env()``), the scenarios'
    platform keys, no demo; on Blob Storage at connection string ``blob`` (container
    ``container``), or on the embedded store."""
    from bench.production import blob_env, crmcard_env

    extra = identity | {
        "CRMCARD_API_KEYS": json.dumps({tenant_of(n): api_key_of(n) for n in scenarios}),
        "CRMCARD_DEMO": "false",
        "CRMCARD_DEMO_CRM": "false",
        "CRMCARD_LOG_FORMAT": "json",
        "CRMCARD_CRM_ALLOW_LOCAL_URLS": "true",  # the operator's allowance, for the fakes
    }
    if blob is None:
        return crmcard_env(workdir, issuer, **extra)
    return blob_env(workdir, issuer, blob, CRMCARD_BLOB_CONTAINER=container, **extra)


class BlobCounts:
    """The counting proxy's tallies since the last :meth:`take`, read once it is quiet."""

    def __init__(self, proxy: CountingProxy) -> None:
        self.proxy = proxy
        self.seen: dict[str, Any] = self.tallies()

    def tallies(self) -> dict[str, Any]:
        proxy = self.proxy
        return {
            "requests": proxy.requests,
            "kinds": +proxy.kinds,
            "answers": +proxy.answers,
            "timed": len(proxy.seconds),
        }

    def take(self) -> dict[str, Any]:
        """What came since the last take, once :data:`QUIET` seconds passed without a request
        (the round's last cards filed; 30 s at most)."""
        last, quiet_since = self.proxy.requests, time.monotonic()
        deadline = quiet_since + 30
        while time.monotonic() - quiet_since < QUIET and time.monotonic() < deadline:
            time.sleep(0.05)
            if self.proxy.requests != last:
                last, quiet_since = self.proxy.requests, time.monotonic()
        now, seen = self.tallies(), self.seen
        self.seen = now
        return {
            "requests": now["requests"] - seen["requests"],
            "kinds": dict(now["kinds"] - seen["kinds"]),
            "answers": dict(now["answers"] - seen["answers"]),
            "seconds": self.proxy.seconds[seen["timed"] : now["timed"]],
        }


def serve(
    args: argparse.Namespace,
    name: str,
    workdir: Path,
    env: dict[str, str],
    plan: dict[str, Any],
    counts: BlobCounts | None = None,
) -> list[dict[str, Any]]:
    """One crmcard, its tenants' CRMs connected, under the load: the rounds' results. With
    ``counts``, each round's Blob requests are read between rounds (``result["blob"]``)."""
    from bench.production import (
        APP_ID,
        free_port,
        start_crmcard,
        start_py_spy,
        stop_py_spy,
        wait_healthy,
    )

    for n in plan["scenarios"]:
        for index, port in enumerate(plan["ports"].get(n, [])):
            crm_add(env, n, index, port)
    server = start_crmcard(name, workdir, env)
    load: subprocess.Popen[str] | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        wait_healthy(server, "/healthz")
        connector_port = free_port()
        issuer: LocalIssuer = plan["issuer"]
        config = {
            "server": server.url,
            "server_pid": server.process.pid,
            "fakes_pid": plan["fakes_pid"],
            "azurite_pid": plan["azurite_pid"],
            "connector_port": connector_port,
            "token": issuer.mint(
                audience=APP_ID,
                service_url=f"http://127.0.0.1:{connector_port}",
                expires_in=24 * 3600,
            ),
            "counted": counts is not None,
            "scenarios": plan["scenarios"],
            "concurrency": args.concurrency,
            "interactions": args.interactions,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "slowest": args.slowest,
            "hold": args.hold,
            "callers": args.callers,
        }
        load = child(
            ["--load", json.dumps(config)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=counts is not None,
        )
        first_line(load, "the load")
        if args.py_spy and counts is None:
            spy = start_py_spy(server.process.pid, args.py_spy)
        print(
            f"{name} up, {args.concurrency} agents per tenant installed (JWT checked); rounds:",
            flush=True,
        )
        results: list[dict[str, Any]] = []
        assert load.stdout is not None
        for line in load.stdout:
            result = json.loads(line)
            if counts is not None:
                blob = counts.take()  # the warm-up's, then each round's
                assert load.stdin is not None
                load.stdin.write("go\n")
                load.stdin.flush()
                if "round" not in result:
                    continue
                result["blob"] = blob
                print(
                    f"  round {result['round']} CRMs {result['crms']}: "
                    f"{blob['requests'] / result['events']:.2f} Blob requests/card, "
                    f"{result['errors']} errors",
                    flush=True,
                )
            elif "round" in result:
                print(
                    f"  round {result['round']} CRMs {result['crms']}: over p50 "
                    f"{result['over_p50_ms']:.1f} p99 {result['over_p99_ms']:.1f} ms, "
                    f"{result['cards_per_s']:.0f} cards/s, {result['server_cpu_ms']:.2f} ms "
                    f"server CPU/card, "
                    + (
                        f"Azurite {result['azurite_cpu_ms']:.2f} ms, "
                        if plan["azurite_pid"]
                        else ""
                    )
                    + f"{result['errors']} errors, {result['paced']} paced, "
                    f"load {result['load_average']:.1f}",
                    flush=True,
                )
            if "round" in result:
                results.append(result)
        if load.wait() != 0 or not results:
            raise SystemExit("the load process failed")
        return results
    finally:
        if load is not None:
            stop(load)
        if spy is not None:
            stop_py_spy(spy)
        server.stop()


def orchestrate(args: argparse.Namespace) -> int:
    from bench.production import local_bot_identity
    from tests.auth.openid_issuer import LocalIssuer
    from tests.azurite import start_azurite

    floor = [] if args.no_floor else [0]
    scenarios = sorted({*floor, *(int(x) for x in args.crms.split(","))})
    latencies = {n: latencies_for(n, args.slowest) for n in scenarios if n}
    every = [latency for n in scenarios if n for latency in latencies[n]]
    workdir = Path(tempfile.mkdtemp(prefix="crmcard-fanout-"))
    with contextlib.ExitStack() as stack:
        if args.keep:
            stack.callback(print, f"crmcard's data and logs kept in {workdir}")
        else:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        issuer = LocalIssuer().start()
        stack.callback(issuer.stop)
        identity = stack.enter_context(local_bot_identity(workdir)).env()
        fakes = child(["--serve-fakes", ",".join(map(str, every)), "--max-requests", "200000"])
        stack.callback(stop, fakes)
        hello = first_line(fakes, "the fake CRMs")
        ports = iter(hello["ports"])
        plan = {
            "scenarios": scenarios,
            "ports": {n: [next(ports) for _ in latencies[n]] for n in latencies},
            "fakes_pid": hello["pid"],
            "azurite_pid": None,
            "issuer": issuer,
            "identity": identity,
        }
        azurite = None
        if args.store == "blob":
            azurite = start_azurite("blob", workdir=workdir / "azurite")
            stack.callback(azurite.stop)
            plan["azurite_pid"] = azurite.process.pid
        place = workdir / "crmcard"
        blob = azurite.connection_string if azurite is not None else None
        env = crmcard_settings(place, issuer, identity, scenarios, blob)
        results = serve(args, "crmcard", place, env, plan)
        report(args, results, [r["load_average"] for r in results])
        if azurite is not None and not args.no_count:
            report_counts(count_pass(args, azurite, workdir / "counted", plan))
    return 0


def count_pass(
    args: argparse.Namespace, azurite: Azurite, place: Path, plan: dict[str, Any]
) -> list[dict[str, Any]]:
    """The same load on a second crmcard (a container of its own: the callers new again)
    whose Blob requests go through a counting proxy: each round's requests."""
    from bench.production import CountingProxy, in_thread

    target = f"http://{azurite.host}:{azurite.port}"
    proxy = CountingProxy(target)
    with in_thread(proxy.app()) as proxy_url:
        proxied = azurite.connection_string.replace(target, proxy_url)
        env = crmcard_settings(
            place, plan["issuer"], plan["identity"], plan["scenarios"], proxied, "fanout-counted"
        )
        return serve(args, "crmcard-counted", place, env, plan, BlobCounts(proxy))


if __name__ == "__main__":
    raise SystemExit(main())
