"""Throughput of crmcard's card-action invoke next to a bare botbuilder and a bare aiohttp.

Run from the repository root::

    .venv/bin/python -m bench.invoke_throughput            # full run (~1-2 minutes)
    .venv/bin/python -m bench.invoke_throughput --quick    # smoke run (~15 s)

Each server runs in its own subprocess on a free 127.0.0.1 port (see ``bench/_servers.py``);
this process is the load generator: an aiohttp client keeping ``--concurrency`` requests
in flight, first ``--warmup`` unrecorded requests, then ``--requests`` recorded ones (or
until ``--max-seconds`` pass, whichever comes first).

crmcard is driven as Teams drives it: each load worker is an agent who installed the bot
(``installationUpdate``), got a call through ``POST /api/interactions`` (assigned, then
connected; the card goes to a local fake Bot Connector), and then clicks link / unlink on
the contact of their own card, alternately, each click carrying the card's current
revision: every request is an applied write to the SQLite store. At the end each worker's
card is re-read (``refreshCard``) and its revision must have advanced by exactly the
number of clicks answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # ``python bench/invoke_throughput.py``
    sys.path.insert(0, str(REPO))

from tests import activities  # noqa: E402
from tests.cards import actions as _actions  # noqa: E402  (activities as Teams sends them)
from tests.connector import FakeConnector  # noqa: E402

JSON = {"Content-Type": "application/json"}
API_KEY = {"X-Api-Key": "demo-key"}
RECORD = "contact:C-2001"  # the demo contact behind +1 555 0100
TARGET_RATIO = 10.0

Check = Callable[[int, bytes], bool]


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    kind: str
    process: subprocess.Popen[bytes]
    info: dict[str, Any]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.info['port']}"


def start_server(kind: str, workdir: Path) -> Server:
    """Start ``bench._servers KIND`` and wait for the line that says it is listening."""
    data_dir = workdir / f"{kind}-data"
    log = workdir / f"{kind}.log"
    command = [sys.executable, "-m", "bench._servers", kind, "--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    for name in ("MicrosoftAppId", "MICROSOFTAPPID", "MicrosoftAppPassword"):
        env.pop(name, None)
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr
        )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        with contextlib.suppress(ValueError):
            info = json.loads(line)
            if isinstance(info, dict) and "port" in info:
                return Server(kind, process, info, log)
    process.kill()
    raise RuntimeError(f"{kind} server did not start:\n{log.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.process.stdout:
        server.process.stdout.close()


def start_py_spy(server: Server, output: str) -> subprocess.Popen[bytes]:
    """Sample the server with py-spy (``pip install py-spy``) while it is under load."""
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [
        str(py_spy) if py_spy.exists() else "py-spy",
        "record",
        "--pid",
        str(server.info["pid"]),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        output,
    ]
    if output.endswith(".svg"):
        command[command.index("raw")] = "flamegraph"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach before the load starts
    return process


def stop_py_spy(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    _, errors = process.communicate(timeout=60)
    if process.returncode not in (0, -signal.SIGINT):
        print(errors.decode(errors="replace"), file=sys.stderr)


# --------------------------------------------------------------------------- load


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    server_cpu: float | None = None  # seconds of CPU the server process used while measured
    note: str = ""
    rounds: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_per_request_ms(self) -> float:
        if self.server_cpu is None or not self.count:
            return float("nan")
        return self.server_cpu / self.count * 1000

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index] * 1000


class Worker:
    """One simulated user: makes the body of its next request and learns from the answer."""

    def body(self) -> bytes:
        raise NotImplementedError

    def answered(self, status: int, body: bytes) -> bool:
        raise NotImplementedError


@dataclass
class Budget:
    requests: int
    deadline: float
    issued: int = 0

    def take(self) -> bool:
        if self.issued >= self.requests or time.perf_counter() >= self.deadline:
            return False
        self.issued += 1
        return True


async def drive(
    session: ClientSession, url: str, workers: list[Worker], budget: Budget, result: Result | None
) -> None:
    async def loop(worker: Worker) -> None:
        while budget.take():
            data = worker.body()
            started = time.perf_counter()
            try:
                async with session.post(url, data=data, headers=JSON) as response:
                    body = await response.read()
                    status = response.status
            except Exception:
                status, body = 0, b""
            took = time.perf_counter() - started
            ok = worker.answered(status, body)
            if result is not None:
                if ok:
                    result.latencies.append(took)
                else:
                    result.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(worker) for worker in workers))
    if result is not None:
        result.elapsed = time.perf_counter() - started


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (all its threads); None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    name: str,
    server: Server,
    workers: list[Worker],
    session: ClientSession,
    args: argparse.Namespace,
) -> Result:
    url = server.url + "/api/messages"
    await drive(session, url, workers, Budget(args.warmup, time.perf_counter() + 60), None)
    result = Result(name)
    budget = Budget(args.requests, time.perf_counter() + args.max_seconds)
    cpu_before = process_cpu(server.info["pid"])
    await drive(session, url, workers, budget, result)
    cpu_after = process_cpu(server.info["pid"])
    if cpu_before is not None and cpu_after is not None:
        result.server_cpu = cpu_after - cpu_before
    return result


def _session(concurrency: int) -> ClientSession:
    return ClientSession(
        connector=TCPConnector(limit=concurrency, force_close=False),
        timeout=ClientTimeout(total=60),
    )


# --------------------------------------------------------------------------- crmcard


def _user(i: int) -> dict[str, Any]:
    return {
        "from": {
            "id": f"29:bench-agent-{i}",
            "name": f"Bench Agent {i}",
            "aadObjectId": f"00000000-0000-0000-0000-{i:012d}",
        },
        "conversation": {
            "id": f"a:bench-chat-{i}",
            "conversationType": "personal",
            "tenantId": activities.TENANT,
        },
    }


class LinkClicker(Worker):
    """An agent clicking link, unlink, link ... on the contact of their own card."""

    def __init__(self, service_url: str, user: dict[str, Any], data: dict[str, Any]) -> None:
        self.service_url = service_url
        self.user = user
        self.data = dict(data)
        self.initial_rev = int(data["rev"])
        self.linked = False
        self.clicks = 0

    def body(self) -> bytes:
        verb = "unlink" if self.linked else "link"
        return json.dumps(
            activities.card_action(self.service_url, verb, self.data) | self.user
        ).encode()

    def answered(self, status: int, body: bytes) -> bool:
        ok = (
            status == 200
            and b'"statusCode":200' in body.replace(b" ", b"")
            and b"changed by someone else" not in body
            and b"can no longer change" not in body
        )
        if ok:  # an applied link or unlink advances the interaction's revision by one
            self.linked = not self.linked
            self.data["rev"] += 1
            self.clicks += 1
        return ok


async def crmcard_workers(
    session: ClientSession, url: str, service_url: str, fake: FakeConnector, count: int
) -> list[LinkClicker]:
    async def post(path: str, payload: dict[str, Any], headers: dict[str, str]) -> None:
        async with session.post(url + path, json=payload, headers=headers) as response:
            if response.status not in (200, 201, 202):
                raise RuntimeError(f"{path}: {response.status} {await response.text()}")

    async def one(i: int) -> dict[str, Any]:
        user = _user(i)
        installed = activities.activity(service_url, "installationUpdate", action="add") | user
        await post("/api/messages", installed, JSON)
        agent = user["from"]["aadObjectId"]
        for second, event in enumerate(("assigned", "connected")):
            await post(
                "/api/interactions",
                activities.interaction_event(
                    f"bench-{i}", event, agent=agent, occurred_at=f"2026-11-23T08:00:0{second}Z"
                ),
                API_KEY,
            )
        return user

    users = await asyncio.gather(*(one(i) for i in range(count)))
    clickers = []
    for user in users:
        conversation = user["conversation"]["id"]
        cards = [s.card for s in fake.cards() if s.conversation_id == conversation]
        [link] = [a for a in _actions(cards[-1], "link") if RECORD in a["data"].get("record", "")]
        clickers.append(LinkClicker(service_url, user, link["data"]))
    return clickers


async def verify_writes(session: ClientSession, url: str, clickers: list[LinkClicker]) -> str:
    """Every answered click must show up as one more revision in the stored interaction."""
    writes = 0
    for clicker in clickers:
        body = activities.card_action(clicker.service_url, "refreshCard", clicker.data)
        async with session.post(url, json=body | clicker.user) as response:
            answer = await response.json()
        revs = {a["data"]["rev"] for a in _actions(answer["value"], "link")}
        revs |= {a["data"]["rev"] for a in _actions(answer["value"], "unlink")}
        if revs != {clicker.initial_rev + clicker.clicks}:
            raise AssertionError(
                f"{clicker.user['conversation']['id']}: card rev {revs}, expected "
                f"{clicker.initial_rev} + {clicker.clicks} clicks"
            )
        writes += clicker.clicks
    return f"{writes} link/unlink writes verified in the store"


async def bench_crmcard(args: argparse.Namespace, workdir: Path) -> Result:
    fake = FakeConnector()
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server = start_server("crmcard", workdir)
    profiler: subprocess.Popen[bytes] | None = None
    try:
        async with _session(args.concurrency) as session:
            clickers = await crmcard_workers(
                session, server.url, f"http://127.0.0.1:{port}", fake, args.concurrency
            )
            url = server.url + "/api/messages"
            if args.py_spy:
                profiler = start_py_spy(server, args.py_spy)
            result = await measure("crmcard link/unlink", server, list(clickers), session, args)
            if profiler is not None:
                stop_py_spy(profiler)
                profiler = None
            result.note = await verify_writes(session, url, clickers)
    finally:
        if profiler is not None:
            stop_py_spy(profiler)
        stop_server(server)
        await runner.cleanup()
    return result


# --------------------------------------------------------------------------- bare servers


class TrivialInvoker(Worker):
    def __init__(self, i: int) -> None:
        self.user = _user(i)
        self.data = {"interactionId": "bench", "rev": 0, "record": RECORD}

    def body(self) -> bytes:
        service_url = "http://127.0.0.1:9"  # never called for an invoke
        return json.dumps(
            activities.card_action(service_url, "link", self.data) | self.user
        ).encode()

    def answered(self, status: int, body: bytes) -> bool:
        return status == 200 and b'"Done"' in body


async def bench_bare(kind: str, name: str, args: argparse.Namespace, workdir: Path) -> Result:
    server = start_server(kind, workdir)
    try:
        if server.info.get("crmcard_imported"):
            raise AssertionError("the bare botbuilder server imported crmcard")
        async with _session(args.concurrency) as session:
            workers: list[Worker] = [TrivialInvoker(i) for i in range(args.concurrency)]
            result = await measure(name, server, workers, session, args)
        if kind == "botbuilder":
            result.note = (
                f"msrest ClientRetryPolicy.safe_codes is a {server.info['msrest_safe_codes']}"
            )
    finally:
        stop_server(server)
    return result


# --------------------------------------------------------------------------- report


def report(results: dict[str, Result], args: argparse.Namespace) -> None:
    print()
    print(
        f"adaptiveCard/action invoke over loopback HTTP; concurrency {args.concurrency}, "
        f"warm-up {args.warmup}, then up to {args.requests} requests or {args.max_seconds:g} s"
    )
    if args.rounds > 1:
        print(f"best of {args.rounds} interleaved rounds per server")
    header = (
        f"{'server':<26}{'requests':>9}{'errors':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'server CPU ms/req':>19}"
    )
    print(header)
    print("-" * len(header))
    for result in results.values():
        print(
            f"{result.name:<26}{result.count:>9}{result.errors:>8}{result.rps:>10.1f}"
            f"{result.percentile(50):>9.2f}{result.percentile(99):>9.2f}"
            f"{result.cpu_per_request_ms:>19.2f}"
        )
    print()
    for result in results.values():
        if result.note:
            print(f"  {result.name}: {result.note}")
        if len(result.rounds) > 1:
            rates = ", ".join(f"{rate:.1f}" for rate in result.rounds)
            print(f"  {result.name}: req/s by round {rates}")
    crm = results.get("crmcard")
    if crm is None:
        return
    print()
    for key, label in (("botbuilder", "bare botbuilder"), ("aiohttp", "bare aiohttp")):
        other = results.get(key)
        if other is not None and other.rps:
            print(
                f"crmcard link vs {label:<16} {crm.rps / other.rps:6.2f}x throughput; "
                f"server CPU per request {crm.cpu_per_request_ms:.2f} vs "
                f"{other.cpu_per_request_ms:.2f} ms "
                f"({other.cpu_per_request_ms / crm.cpu_per_request_ms:.2f}x)"
            )
    bare = results.get("botbuilder")
    if bare is not None and bare.rps:
        ratio = crm.rps / bare.rps
        verdict = "MET" if ratio >= TARGET_RATIO else "NOT met"
        print(f"target: crmcard >= {TARGET_RATIO:g}x bare botbuilder ... {verdict} ({ratio:.2f}x)")


SERVERS: dict[str, Callable[[argparse.Namespace, Path], Awaitable[Result]]] = {
    "crmcard": bench_crmcard,
    "botbuilder": lambda args, workdir: bench_bare(
        "botbuilder", "bare botbuilder invoke", args, workdir
    ),
    "aiohttp": lambda args, workdir: bench_bare("aiohttp", "bare aiohttp JSON", args, workdir),
}


async def run(args: argparse.Namespace) -> dict[str, Result]:
    """Run every server ``--rounds`` times, interleaved; keep each one's best round."""
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="crmcard-bench-") as tmp:
        for round_ in range(args.rounds):
            workdir = Path(tmp) / f"round-{round_ + 1}"
            workdir.mkdir()
            for key in args.only or list(SERVERS):
                print(f"... round {round_ + 1}: {key}", file=sys.stderr, flush=True)
                result = await SERVERS[key](args, workdir)
                best = results.get(key)
                rounds = [*(best.rounds if best else []), result.rps]
                if best is None or result.rps > best.rps:
                    best = result
                best.rounds = rounds
                results[key] = best
    return results


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="stop recording after this long even if --requests are not done",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every server this many times, interleaved, and keep each one's best round "
        "(steadier figures on a busy machine)",
    )
    parser.add_argument("--only", nargs="+", choices=("crmcard", "botbuilder", "aiohttp"))
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="sample the crmcard server with py-spy during the measured load: collapsed "
        "stacks to FILE, or a flame graph if FILE ends in .svg",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.requests, args.max_seconds = 30, 300, 3.0
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    report(asyncio.run(run(args)), args)


if __name__ == "__main__":
    main()
