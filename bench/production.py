"""crmcard's speed as production runs it, side by side with the SDK it is built on.

Run from the repository root (needs ``wrk``, a Debian package, and Azurite from npm)::

    .venv/bin/python -m bench.production                  # everything, ~6 minutes
    .venv/bin/python -m bench.production --only link      # link, blob, webhook, cold
    .venv/bin/python -m bench.production --rounds 5 --seconds 10

Every server is its own process, started as ``crmcard serve`` starts it (``python -m bot
serve``: uvloop, INFO logging, the access log, written to a file); the load comes from
``wrk`` in a process of its own, on loopback. Each round runs every server once, in
turn, so the compared servers share the machine's state; the link rounds take turns in
opposite orders (first to last, then last to first), so a machine that speeds up or
slows down during a series favours no server. The tables print the median over rounds
with the spread (lowest-highest), never the best round.

* ``link``: the ``adaptiveCard/action`` link/unlink invoke, every request with a Bot
  Connector JWT validated against a local OpenID issuer (``tests/auth/openid_issuer.py``)
  by crmcard (SQLite store), stock botbuilder 4.17.1, the same with only msrest's
  ``safe_codes`` fix, and a bare aiohttp JSON handler (no JWT: the ceiling of the HTTP
  stack). Each wrk connection is one agent clicking link, unlink, link... on their own
  card with its current revision, so every crmcard answer is an applied write; a stale
  or refused click counts as an error, and the interactions' revisions are checked
  afterwards.
* ``blob``: the same clicks with the Blob store on Azurite (one wrk per instance,
  ``--blob-agents`` agents each): one uncapped instance (its CPU per click, Azurite's
  and wrk's, the machine's busy share and the clicks/s its cores allow at those costs),
  then 1, 2 and 4 instances sharing one container, each held to the same CPU budget
  (its own cgroup, :mod:`bench.cpu_budget`), as production instances each have compute
  of their own: their clicks/s and its ratio to one instance's, and what bounded them;
  then the Blob requests per click, counted by a proxy in front of Azurite during a
  separate, unmeasured series of clicks.
* ``webhook``: ``POST /api/interactions``, assigned then connected for new interactions
  of installed agents; each event posts or updates the card through the local
  connector (``tests/connector.py``, in this process). crmcard runs as a registered
  SingleTenant bot, as production does: the agents' installs carry Bot Connector JWTs,
  and every send carries the bot's own token, which crmcard's MSAL got from a local
  Entra over TLS (:class:`BotIdentity`); a send without it fails the benchmark.
* ``cold``: seconds from starting ``python -m bot serve`` (JWT on) to its first ``/healthz`` 200,
  on the local store and on Blob Storage (Azurite), round by round,
  the tree's bytecode cached as a deployed app's is after its first start (App Service
  runs the deployed tree, and Python writes its ``__pycache__`` there; a shell that sets
  ``PYTHONDONTWRITEBYTECODE``, as some CI images do, does not reach crmcard's servers).

CPU per request is the server process's user + system time (``/proc/PID/stat``) over the
wrk run divided by the requests wrk completed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import compileall
import contextlib
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import cpu_budget  # noqa: E402
from tests import activities  # noqa: E402
from tests.auth.openid_issuer import LocalIssuer  # noqa: E402
from tests.azurite import start_azurite  # noqa: E402
from tests.cards import actions  # noqa: E402
from tests.connector import FakeConnector, Sent  # noqa: E402
from tests.crm.conftest import make_tls  # noqa: E402
from tests.crm.fakes.entra import FakeEntra  # noqa: E402

APP_ID = "6f1f4e52-6a3c-4d0c-9c55-0a1b2c3d4e5f"
APP_SECRET = "bench-bot-client-secret-not-published"
BOT_CONNECTOR_SCOPE = "https://api.botframework.com/.default"
TENANT = activities.TENANT  # also the bot's own tenant: the consent gate lets it in
API_KEY = "bench-platform-key-not-published"
RECORD = "contact:C-2001"  # the demo CRM's contact behind +1 555 0100
SERVICE_URL = "http://127.0.0.1:9"  # invokes answer on the HTTP response: never called


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_cpu(pid: int) -> float:
    return sum(process_times(pid))


def process_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_pace() -> str:
    """CPU milliseconds this process takes for a fixed pure-Python loop: the machine's
    speed at that moment (it drifts by 2-3x here), so absolute figures such as the cold
    start can be read against it; ratios from one run need no such help."""
    started = time.process_time()
    total = 0
    for number in range(3_000_000):
        total += number
    return f"{(time.process_time() - started) * 1000:.0f} ms"


T = TypeVar("T")


def turn_order(servers: list[T], round_: int) -> list[T]:
    """The servers of a round in turn: first to last, then last to first, so the machine's
    drift during a series (2-3x here within minutes) weighs on every server alike, not
    most on the one that always comes last."""
    return servers if round_ % 2 == 0 else servers[::-1]


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    started: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_healthy(server: Server, path: str, timeout: float = 60) -> float:
    """Seconds from the process start to the first 200 on ``path``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n".encode())
                if sock.recv(64).split(b" ")[1:2] == [b"200"]:
                    return time.monotonic() - server.started
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{server.name} did not answer {path} in {timeout} s")


def crmcard_env(workdir: Path, issuer: LocalIssuer | None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("CRMCARD_", "MICROSOFT")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env |= {
        "PYTHONPATH": str(REPO),
        "CRMCARD_DATA_DIR": str(workdir / "data"),
        "CRMCARD_API_KEYS": json.dumps({TENANT: API_KEY}),
        "CRMCARD_WRITEBACK_WORKER": "false",
        "CRMCARD_DEMO_CRM": "true",  # the CRM the clicks' records come from
    }
    if issuer is not None:
        env |= {
            "MicrosoftAppId": APP_ID,
            "MicrosoftAppPassword": "not-a-real-secret",
            "MicrosoftAppType": "SingleTenant",
            "MicrosoftAppTenantId": TENANT,
            "CRMCARD_OPENID_METADATA_URL": issuer.metadata_url,
            "CRMCARD_TOKEN_ISSUER": issuer.issuer,
        }
    return env | extra


@dataclass(frozen=True)
class BotIdentity:
    """The bot identity production runs with, SingleTenant (app id, client secret, tenant),
    signing in at a local Entra over TLS (:class:`FakeEntra`, served by this process)
    instead of ``login.microsoftonline.com``: real MSAL in crmcard, a real token on every
    send. crmcard trusts the Entra's throw-away CA through ``REQUESTS_CA_BUNDLE``, set in
    crmcard's environment only."""

    entra: FakeEntra
    ca_file: str

    def env(self) -> dict[str, str]:
        """What to add to ``crmcard_env(workdir, issuer)``: the secret, the authority, its CA."""
        return {
            "MicrosoftAppPassword": APP_SECRET,
            "CRMCARD_BOT_LOGIN_URL": self.entra.base_url,
            "CRMCARD_BOT_LOGIN_ALLOW_LOCAL": "true",  # the operator's allowance: loopback
            "REQUESTS_CA_BUNDLE": self.ca_file,
        }

    def signed(self, sent: list[Sent]) -> int:
        """How many of ``sent`` carry a token this Entra issued the bot for the connector."""
        count = 0
        for activity in sent:
            scheme, _, token = (activity.authorization or "").partition(" ")
            issued = self.entra.issued_token(token) if scheme == "Bearer" else None
            if issued is not None and (issued.subject, issued.scope) == (
                APP_ID,
                BOT_CONNECTOR_SCOPE,
            ):
                count += 1
        return count


@contextlib.contextmanager
def local_bot_identity(workdir: Path) -> Iterator[BotIdentity]:
    """A local Entra that knows the bot's registration, for as long as the block runs."""
    folder = workdir / "entra-tls"
    folder.mkdir(parents=True, exist_ok=True)
    tls = make_tls(folder)
    entra = FakeEntra(tenant=TENANT, clients={APP_ID: APP_SECRET})
    with in_thread(entra.app(), tls.server) as url:
        entra.base_url = url
        yield BotIdentity(entra, tls.ca_file)


def start_crmcard(name: str, workdir: Path, env: dict[str, str]) -> Server:
    """``python -m bot serve`` (what the ``crmcard serve`` script runs)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    env = env | {"CRMCARD_HOST": "127.0.0.1", "CRMCARD_PORT": str(port)}
    log = (workdir / f"{name}.log").open("ab")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=workdir, env=env, stdout=log, stderr=log
    )
    return Server(name, process, port, started)


def start_bare(kind: str, workdir: Path, issuer: LocalIssuer | None) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench._servers", kind, "--port", str(port)]
    if issuer is not None:
        command += ["--app-id", APP_ID, "--tenant", TENANT]
        command += ["--openid", issuer.metadata_url, "--issuer", issuer.issuer]
    log = (workdir / f"{kind}.log").open("ab")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    return Server(kind, process, port, started)


@contextlib.contextmanager
def in_thread(app: web.Application, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``app`` on its own loop and thread (over TLS with ``tls``); yields its base URL."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        loop.run_until_complete(site.start())
        scheme = "https" if tls else "http"
        holder["url"] = f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
        holder["loop"] = loop
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield holder["url"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(10)


def start_py_spy(pid: int, output: str) -> subprocess.Popen[bytes]:
    """Sample a server with py-spy (``pip install py-spy``) while it is under load."""
    py_spy = Path(sys.executable).with_name("py-spy")
    kind = "flamegraph" if output.endswith(".svg") else "raw"
    command = [str(py_spy) if py_spy.exists() else "py-spy", "record", "--pid", str(pid)]
    command += ["--rate", "250", "--format", kind, "--output", output]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached before the load starts
    return process


def stop_py_spy(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    process.communicate(timeout=60)


# --------------------------------------------------------------------------- wrk


@dataclass
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_s: float
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)
    """What the errors were: non-2xx answers, wrk's socket errors by kind, stale clicks."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s / self.requests * 1000 if self.requests else float("nan")


_LUA_CLICKS = r"""
local bodies = {BODIES}
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("n", counter)
  table.insert(threads, thread)
end
function init(args)
  template = bodies[n]
  rev = tonumber(template.rev)
  linked = template.linked
  stale = 0
  clicks = 0
end
function request()
  local verb = linked and "unlink" or "link"
  local body = template.body:gsub("__VERB__", verb):gsub("__REV__", tostring(rev))
  return wrk.format("POST", "/api/messages", HEADERS, body)
end
function response(status, headers, body)
  if status == 200 and not body:find("changed by someone else", 1, true)
     and not body:find("no longer change", 1, true) and body:find('"statusCode":200', 1, true) then
    linked = not linked
    rev = rev + 1
    clicks = clicks + 1
  else
    stale = stale + 1
  end
end
function done(summary, latency, requests)
  local bad, good = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("stale")
    good = good + t:get("clicks")
  end
  io.write(string.format("CLICKS %d BAD %d\n", good, bad))
end
"""

_LUA_STATIC = r"""
wrk.method = "POST"
wrk.path = "/api/messages"
wrk.headers = HEADERS
wrk.body = BODY
"""

_LUA_EVENTS = r"""
local agents = AGENTS
local template = TEMPLATE
local headers = HEADERS
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("n", counter)
end
function init(args)
  seq = 1
  step = 0
end
-- wrk calls request() once more on its first thread to check the script, and never
-- sends that request: the next event is chosen when an answer comes, not here (else
-- that thread's first interaction is connected without having been assigned: a 409).
function request()
  local event, at = "assigned", "2026-11-23T08:00:00Z"
  if step == 1 then event, at = "connected", "2026-11-23T08:00:01Z" end
  local id = string.format("wh-%s-%d-%d", RUN, n, seq)
  local phone = string.format("+1 555 %04d", (n * 7919 + seq) % 50 + 100)
  local body = template:gsub("__ID__", id):gsub("__EVENT__", event)
  body = body:gsub("__AGENT__", agents[n]):gsub("__PHONE__", phone):gsub("__AT__", at)
  return wrk.format("POST", "/api/interactions", headers, body)
end
function response(status, headers, body)
  if step == 1 then seq = seq + 1 end
  step = 1 - step
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for ASCII


def _lua_table(headers: dict[str, str]) -> str:
    return (
        "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()) + "}"
    )


_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(ms|s|m)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str, script: str, connections: int, seconds: float, pids: list[int], workdir: Path
) -> tuple[str, float]:
    """Run wrk (one thread per connection); its output and the CPU ``pids`` used."""
    path = workdir / f"wrk-{time.monotonic_ns()}.lua"
    path.write_text(script)
    command = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(path),
        url,
    ]
    before = sum(process_cpu(pid) for pid in pids)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode or done.stderr.strip() or ".lua:" in done.stdout:  # a Lua error
        raise RuntimeError(f"wrk failed: {done.stderr}{done.stdout}")
    output = done.stdout
    return output, sum(process_cpu(pid) for pid in pids) - before


def parse_wrk(output: str, cpu: float) -> Run:
    latencies = {int(p): float(v) * _UNIT[u] for p, v, u in _LATENCY.findall(output)}
    total = _TOTAL.search(output)
    assert total, output
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[total[3]]
    kinds: collections.Counter[str] = collections.Counter()
    if match := _NON_2XX.search(output):
        kinds["non-2xx"] += int(match[1])
    if match := _SOCKET.search(output):
        for kind, n in zip(("connect", "read", "write", "timeout"), match.groups(), strict=True):
            kinds[kind] += int(n)
    if match := re.search(r"CLICKS (\d+) BAD (\d+)", output):
        kinds["stale or refused"] += int(match[2])
    kinds = +kinds  # without the zeros
    return Run(
        int(total[1]),
        float(total[2]) * scale,
        latencies[50],
        latencies[99],
        cpu,
        sum(kinds.values()),
        dict(kinds),
    )


def errors_cell(runs: list[Run]) -> str:
    """The errors of all runs, and what they were: ``3 (timeout 2, non-2xx 1)``."""
    kinds: collections.Counter[str] = collections.Counter()
    for run in runs:
        kinds.update(run.error_kinds)
    total = sum(kinds.values())
    return f"{total} ({', '.join(f'{k} {n}' for k, n in kinds.most_common())})" if total else "0"


# --------------------------------------------------------------------------- agents


def agent(i: int, prefix: str = "bench") -> dict[str, Any]:
    return {
        "from": {
            "id": f"29:{prefix}-agent-{i}",
            "name": f"Bench Agent {i}",
            "aadObjectId": f"00000000-0000-0000-0000-{i:012d}",
        },
        "conversation": {
            "id": f"a:{prefix}-chat-{i}",
            "conversationType": "personal",
            "tenantId": TENANT,
        },
    }


async def post(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], headers: dict[str, str]
) -> Any:
    async with session.post(url, json=payload, headers=headers) as response:
        if response.status not in (200, 201, 202):
            raise RuntimeError(f"{url}: {response.status} {await response.text()}")
        return await response.json() if response.content_type == "application/json" else None


async def prepare_clickers(
    url: str, count: int, token: str | None, prefix: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One call per agent; each agent's link action data (with the card's revision)."""
    auth = {"Authorization": f"Bearer {token}"} if token else {}

    async def one(session: aiohttp.ClientSession, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
        user = agent(i, prefix)
        interaction = f"{prefix}-{i}"
        # Installed, as every agent clicking a card is (the welcome card cannot be sent:
        # no Entra here to sign it; the conversation is stored all the same).
        installed = activities.activity(SERVICE_URL, "installationUpdate", action="add") | user
        await post(session, url + "/api/messages", installed, auth)
        for second, event in enumerate(("assigned", "connected")):
            await post(
                session,
                url + "/api/interactions",
                activities.interaction_event(
                    interaction,
                    event,
                    agent=user["from"]["aadObjectId"],
                    occurred_at=f"2026-11-23T08:00:0{second}Z",
                ),
                {"X-Api-Key": API_KEY},
            )
        refresh = activities.card_action(
            SERVICE_URL, "refreshCard", {"interactionId": interaction, "rev": 0}
        )
        answer = await post(session, url + "/api/messages", refresh | user, auth)
        [link] = [a for a in actions(answer["value"], "link") if RECORD in a["data"]["record"]]
        return user, link["data"]

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(one(session, i) for i in range(count))))


def _action_data(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "linked"}


def clicks_script(clickers: list[tuple[dict[str, Any], dict[str, Any]]], token: str) -> str:
    bodies = []
    for user, data in clickers:
        body = (
            activities.card_action(
                SERVICE_URL, "__VERB__", {**_action_data(data), "rev": "__REV__"}
            )
            | user
        )
        text = json.dumps(body, separators=(",", ":")).replace('"__REV__"', "__REV__")
        linked = "true" if data.get("linked") else "false"
        bodies.append(f"{{rev = {data['rev']}, linked = {linked}, body = {_lua_string(text)}}}")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return _LUA_CLICKS.replace("{BODIES}", "{" + ", ".join(bodies) + "}").replace(
        "HEADERS", _lua_table(headers)
    )


def static_script(token: str | None) -> str:
    body = activities.card_action(
        SERVICE_URL, "link", {"interactionId": "bench", "rev": 0, "record": RECORD}
    ) | agent(0)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return _LUA_STATIC.replace("HEADERS", _lua_table(headers)).replace(
        "BODY", _lua_string(json.dumps(body))
    )


async def verify_revisions(
    url: str, clickers: list[tuple[dict[str, Any], dict[str, Any]]], token: str, clicks: int
) -> None:
    """Every answered click is one more revision of its interaction.

    wrk stops with up to one request per connection sent but its answer not read: those
    clicks were applied, so the revisions may run ahead by at most that many. Each
    agent's revision and link state are read back for the next run's script."""
    advanced = 0
    async with aiohttp.ClientSession() as session:
        for user, data in clickers:
            refresh = activities.card_action(SERVICE_URL, "refreshCard", _action_data(data))
            answer = await post(
                session, url + "/api/messages", refresh | user, {"Authorization": f"Bearer {token}"}
            )
            card = answer["value"]
            [rev] = {a["data"]["rev"] for verb in ("link", "unlink") for a in actions(card, verb)}
            advanced += rev - data["rev"]
            data["rev"] = rev
            data["linked"] = any(RECORD in a["data"]["record"] for a in actions(card, "unlink"))
    if not clicks <= advanced <= clicks + len(clickers):
        raise AssertionError(f"revisions advanced by {advanced}, but {clicks} clicks answered")


# --------------------------------------------------------------------------- report


@dataclass
class Series:
    name: str
    runs: list[Run] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    def median(self, value: Callable[[Run], float]) -> str:
        values = [value(run) for run in self.runs]
        return spread(values)


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    digits = 2 if med < 100 else 0
    return f"{med:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(title: str, series: list[Series]) -> None:
    print(f"\n{title}")
    print("| server | req/s | p50 ms | p99 ms | server CPU ms/req | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for s in series:
        print(
            f"| {s.name} | {s.median(lambda r: r.rps)} | {s.median(lambda r: r.p50_ms)} "
            f"| {s.median(lambda r: r.p99_ms)} | {s.median(lambda r: r.cpu_ms)} "
            f"| {errors_cell(s.runs)} |"
        )


def ratio(a: Series, b: Series, value: Callable[[Run], float]) -> str:
    """Median over rounds of the per-round ratio a/b, with its spread."""
    return spread([value(x) / value(y) for x, y in zip(a.runs, b.runs, strict=False)])


# --------------------------------------------------------------------------- benches


def bench_link(args: argparse.Namespace, workdir: Path, issuer: LocalIssuer) -> None:
    token = issuer.mint(audience=APP_ID, service_url=SERVICE_URL, expires_in=24 * 3600)
    crmcard = start_crmcard(
        "crmcard", workdir / "crmcard", crmcard_env(workdir / "crmcard", issuer)
    )
    bare = {
        "stock botbuilder": start_bare("botbuilder", workdir, issuer),
        "botbuilder + msrest fix": start_bare("botbuilder-fixed", workdir, issuer),
        "bare aiohttp JSON": start_bare("aiohttp", workdir, None),
    }
    servers = [crmcard, *bare.values()]
    try:
        for server in servers:
            wait_healthy(server, "/healthz")
        clickers = asyncio.run(prepare_clickers(crmcard.url, args.connections, token, "link"))
        scripts = {
            s.name: static_script(token if s.name != "aiohttp" else None) for s in bare.values()
        }
        names = {crmcard.name: "crmcard link/unlink", **{s.name: n for n, s in bare.items()}}
        series = {s.name: Series(names[s.name]) for s in servers}
        for server in servers:  # warm-up: keys fetched, caches filled
            if server is crmcard:
                scripts[crmcard.name] = clicks_script(clickers, token)
            out, _ = wrk(
                server.url, scripts[server.name], args.connections, 2, [server.process.pid], workdir
            )
            if server is crmcard:
                asyncio.run(verify_revisions(crmcard.url, clickers, token, clicks_of(out)))
        for round_ in range(args.rounds):
            print(
                f"link round {round_ + 1}/{args.rounds}, load average {load_average()}, "
                f"pace {machine_pace()}",
                flush=True,
            )
            for server in turn_order(servers, round_):
                spy = None
                if server is crmcard:
                    scripts[crmcard.name] = clicks_script(clickers, token)
                    if args.py_spy and round_ == 0 and "link" in args.py_spy_of:
                        spy = start_py_spy(server.process.pid, args.py_spy)
                out, cpu = wrk(
                    server.url,
                    scripts[server.name],
                    args.connections,
                    args.seconds,
                    [server.process.pid],
                    workdir,
                )
                if spy is not None:
                    stop_py_spy(spy)
                run = parse_wrk(out, cpu)
                series[server.name].runs.append(run)
                if server is crmcard:
                    asyncio.run(verify_revisions(crmcard.url, clickers, token, clicks_of(out)))
        ordered = [series[s.name] for s in servers]
        table("Link invoke, JWT validated on every request (bare aiohttp: no JWT)", ordered)
        ours, stock, fixed, floor = ordered
        print(
            f"\ncrmcard vs stock botbuilder: {ratio(ours, stock, lambda r: r.rps)}x req/s, "
            f"{ratio(stock, ours, lambda r: r.cpu_ms)}x less CPU per request (target >= 10x)"
        )
        print(
            f"crmcard vs botbuilder + msrest fix: {ratio(ours, fixed, lambda r: r.rps)}x req/s, "
            f"{ratio(fixed, ours, lambda r: r.cpu_ms)}x less CPU per request (target >= 2x)"
        )
        print(
            f"crmcard CPU per click / bare aiohttp's: {ratio(ours, floor, lambda r: r.cpu_ms)}x "
            "(target <= 6x)"
        )
    finally:
        for server in servers:
            server.stop()


class CountingProxy:
    """Forwards HTTP to ``target`` and counts the requests: the Blob calls of the clicks.

    ``kinds`` counts them by what they are for (:meth:`kind`), ``answers`` by method and
    Azurite's status (``GET 404``: a read of a document that is not there); ``seconds``
    holds each answer's time, from the request sent on to Azurite to its body read."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.requests = 0
        self.kinds: collections.Counter[str] = collections.Counter()
        self.answers: collections.Counter[str] = collections.Counter()
        self.seconds: list[float] = []
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def kind(request: web.Request) -> str:
        """What a Blob request is for: a listing, an audit-stream write, or a document."""
        if request.query.get("comp") == "list":
            return "listing"
        if "audit-log" in request.path:
            return "audit batch"
        parts = request.path.split("/")  # /account/container/tenants/<tenant>/<kind>/...
        return f"{request.method} {parts[5] if len(parts) > 5 else request.path}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.kinds[self.kind(request)] += 1
        if self._session is None:
            # No connection limit: a request that waits here for one of 100 connections
            # past the client's read timeout is sent again while the first still holds its
            # place (aiohttp finishes a handler whose client left), so under load the queue
            # could only grow (bench.crm_fanout: 100 cards in flight, ~20-57 Blob requests
            # each).
            self._session = aiohttp.ClientSession(
                auto_decompress=False, connector=aiohttp.TCPConnector(limit=0)
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        body = await request.read()
        sent = time.perf_counter()
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
        ) as answer:
            self.answers[f"{request.method} {answer.status}"] += 1
            body = await answer.read()
            self.seconds.append(time.perf_counter() - sent)
            kept = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
            return web.Response(status=answer.status, headers=kept, body=body)


async def click_series(
    url: str, clickers: list[tuple[dict[str, Any], dict[str, Any]]], token: str, clicks: int
) -> None:
    """``clicks`` link/unlink clicks per agent, one after another (not measured)."""
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        for user, data in clickers:
            for _ in range(clicks):
                verb = "unlink" if data.get("linked") else "link"
                body = activities.card_action(SERVICE_URL, verb, _action_data(data)) | user
                answer = await post(session, url + "/api/messages", body, auth)
                assert "someone else" not in json.dumps(answer), answer
                data["rev"] += 1
                data["linked"] = not data.get("linked")


def blob_env(
    workdir: Path, issuer: LocalIssuer, connection_string: str, **extra: str
) -> dict[str, str]:
    """:func:`crmcard_env` on the Blob store (container ``bench`` unless ``extra`` says)."""
    blob = {
        "CRMCARD_STORE": "blob",
        "CRMCARD_BLOB_CONNECTION_STRING": connection_string,
        "CRMCARD_BLOB_CONTAINER": "bench",
        "CRMCARD_SECRET_KEY": "q7S2bC0x4v1kQh8eQmN5yW3sZr6tU9pA2dF4gH7jK0M=",
    }
    return crmcard_env(workdir, issuer, **(blob | extra))


def machine_busy(since: tuple[float, float] | None = None) -> Any:
    """``/proc/stat``'s busy and total CPU ticks; given an earlier reading, the busy share."""
    ticks = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total, busy = sum(ticks), sum(ticks) - ticks[3] - ticks[4]  # idle, iowait
    if since is None:
        return busy, total
    return (busy - since[0]) / max(1.0, total - since[1])


def idle_cpu(servers: list[Any], seconds: float) -> dict[str, float]:
    """CPU ms per second each process uses with nothing to do (its timers, its loop)."""
    before = {s.process.pid: process_cpu(s.process.pid) for s in servers}
    time.sleep(seconds)
    return {
        getattr(s, "name", "azurite"): (process_cpu(s.process.pid) - before[s.process.pid])
        / seconds
        * 1000
        for s in servers
    }


@dataclass
class BlobRun:
    """One timed run of a fleet: per instance its clicks, latency and CPU; Azurite's, wrk's."""

    clicks: list[int]
    p50_ms: list[float]
    p99_ms: list[float]
    wrk_runs: list[Run]
    cpu_s: list[float]
    kernel: float
    """The share of the instances' CPU that was system time (loopback TCP, mostly)."""
    azurite_s: float
    wrk_s: float
    seconds: float
    wall_s: float
    """From the first wrk's start to the last one's end: the time the CPU was counted over."""
    busy: float
    throttling: list[cpu_budget.Throttling] = field(default_factory=list)
    budget: float = 0.0
    """Each instance's CPU budget, in cores (0: uncapped)."""

    @property
    def total(self) -> int:
        return sum(self.clicks)

    @property
    def rate(self) -> float:
        return self.total / self.seconds

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.wrk_runs)

    def per_click_ms(self, cpu_s: float) -> float:
        return cpu_s / self.total * 1000

    @property
    def instance_ms(self) -> list[float]:
        """Each instance's CPU over its own clicks."""
        return [cpu / n * 1000 for cpu, n in zip(self.cpu_s, self.clicks, strict=True)]

    @property
    def budget_used(self) -> list[float]:
        """Each instance's CPU over its budget for the run's time."""
        return [cpu / (self.budget * self.wall_s) for cpu in self.cpu_s]

    @property
    def ceiling(self) -> float:
        """Clicks/s the machine's cores could give at this run's CPU per click (all parts)."""
        per_click = (sum(self.cpu_s) + self.azurite_s + self.wrk_s) / self.total
        return (os.cpu_count() or 1) / per_click


BUDGET_HEADROOM = 0.8
"""The share of the cores the largest capped fleet, Azurite and wrk may need together."""


def budget_for(run: BlobRun, instances: int, cores: int) -> float:
    """Cores per instance such that ``instances`` capped instances, Azurite and wrk fit.

    At the CPU per click of an uncapped run (instance ``i``, Azurite and wrk ``s``), an
    instance held at ``b`` cores clicks ``b / i`` times a second and makes the shared
    parts use ``b * s / i``: ``instances * b * (1 + s / i)`` must stay within
    :data:`BUDGET_HEADROOM` of the cores. Rounded down to a hundredth of a core.
    """
    shared = (run.azurite_s + run.wrk_s) / sum(run.cpu_s)
    return math.floor(BUDGET_HEADROOM * cores / instances / (1 + shared) * 100) / 100


def measure_fleet(
    fleet: list[Server],
    clickers_of: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]],
    token: str,
    azurite_pid: int,
    args: argparse.Namespace,
    workdir: Path,
    groups: list[cpu_budget.CpuBudget],
    shared: cpu_budget.CpuBudget | None,
    spy: str | None = None,
) -> BlobRun:
    """One wrk per instance, all at once; every instance's revisions checked afterwards.

    ``groups``: the instances' CPU budgets (one per instance, or none: uncapped);
    ``shared``: the group wrk runs in, beside Azurite."""
    scripts = [clicks_script(clickers_of[server.name], token) for server in fleet]
    pids = [server.process.pid for server in fleet]
    measured = [*pids, azurite_pid]
    sampler = start_py_spy(pids[0], spy) if spy else None
    throttled = [group.throttling() for group in groups]
    before = [process_times(pid) for pid in measured]
    machine = machine_busy()
    started = time.monotonic()
    outputs, wrk_cpu = run_many(
        [(server.url, script) for server, script in zip(fleet, scripts, strict=True)],
        args.blob_agents,
        args.seconds,
        workdir,
        shared.add if shared is not None else None,
    )
    wall = time.monotonic() - started
    busy = machine_busy(machine)
    after = [process_times(pid) for pid in measured]
    throttling = [group.throttling() - t for group, t in zip(groups, throttled, strict=True)]
    if sampler is not None:
        stop_py_spy(sampler)
    cpus = [sum(a) - sum(b) for a, b in zip(after, before, strict=True)]
    kernel = sum(a[1] - b[1] for a, b in zip(after[:-1], before[:-1], strict=True))
    done = [clicks_of(out) for out in outputs]
    for server, clicks in zip(fleet, done, strict=True):
        asyncio.run(verify_revisions(server.url, clickers_of[server.name], token, clicks))
    runs = [parse_wrk(out, 0) for out in outputs]
    return BlobRun(
        clicks=done,
        p50_ms=[run.p50_ms for run in runs],
        p99_ms=[run.p99_ms for run in runs],
        wrk_runs=runs,
        cpu_s=cpus[:-1],
        kernel=kernel / max(sum(cpus[:-1]), 1e-9),
        azurite_s=cpus[-1],
        wrk_s=wrk_cpu,
        seconds=args.seconds,
        wall_s=wall,
        busy=busy,
        throttling=throttling,
        budget=groups[0].cores if groups else 0.0,
    )


def report_uncapped(runs: list[BlobRun], idle: dict[str, float], agents: int) -> None:
    print("\nBlob store on Azurite, JWT on, every click an applied write: one instance, uncapped")
    print(
        f"{agents} agents (one wrk connection each); CPU ms per click: user + system time of "
        f"the process over the clicks it served; machine busy: all of the {os.cpu_count()} "
        "cores, other work included"
    )
    print(
        "| instances | clicks/s | p50 ms | p99 ms | CPU ms per click | of which system % "
        "| Azurite CPU ms per click | Azurite % of a core | wrk CPU ms per click "
        "| machine busy % | clicks/s the cores allow | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| 1 | {spread([r.rate for r in runs])} | {spread([r.p50_ms[0] for r in runs])} "
        f"| {spread([r.p99_ms[0] for r in runs])} "
        f"| {spread([r.instance_ms[0] for r in runs])} "
        f"| {spread([r.kernel * 100 for r in runs])} "
        f"| {spread([r.per_click_ms(r.azurite_s) for r in runs])} "
        f"| {spread([r.azurite_s / r.seconds * 100 for r in runs])} "
        f"| {spread([r.per_click_ms(r.wrk_s) for r in runs])} "
        f"| {spread([r.busy * 100 for r in runs])} | {spread([r.ceiling for r in runs])} "
        f"| {errors_cell([w for r in runs for w in r.wrk_runs])} |"
    )
    servers = {k: v for k, v in idle.items() if k != "azurite"}
    print(
        f"Idle CPU (3 s, nothing clicked): {spread(list(servers.values()))} ms/s per instance, "
        f"Azurite {idle['azurite']:.2f} ms/s. 'clicks/s the cores allow' is the cores over "
        "the CPU one click takes in all (the instance, Azurite, wrk): no number of uncapped "
        "instances on this machine can give more, hence the capped series."
    )


def report_capped(results: dict[int, list[BlobRun]], budget: float, period_us: int) -> None:
    print(
        f"\nThe same clicks on 1, 2 and 4 instances, each held to {budget:.2f} of a core "
        f"(its own cgroup: a CPU quota of {budget * period_us / 1000:g} ms per "
        f"{period_us / 1000:g} ms), as App Service instances have compute of their own; they "
        "share one Azurite container. p50: the instances' median; p99: the worst instance's; "
        "budget used: each instance's CPU over its budget for the run; throttled: the share "
        "of quota periods in which an instance ran out of budget, and for how long (cpu.stat's "
        "throttled_time, summed over the cores' run queues)"
    )
    print(
        "| instances | clicks/s (all) | vs 1 instance | clicks/s per instance | p50 ms "
        "| p99 ms | CPU ms per click, "
        "each instance | budget used %, each instance | throttled periods % "
        "| throttled ms per s "
        "| Azurite CPU ms per click | Azurite % of a core | wrk CPU ms per click "
        "| machine busy % | errors |"
    )
    print("| --- " + "| ---: " * 14 + "|")
    one = [run.rate for run in results[1]]
    for count, runs in results.items():
        print(
            f"| {count} | {spread([r.rate for r in runs])} "
            f"| {spread([r.rate / b for r, b in zip(runs, one, strict=True)])}x "
            f"| {spread([n / r.seconds for r in runs for n in r.clicks])} "
            f"| {spread([statistics.median(r.p50_ms) for r in runs])} "
            f"| {spread([max(r.p99_ms) for r in runs])} "
            f"| {spread([ms for r in runs for ms in r.instance_ms])} "
            f"| {spread([used * 100 for r in runs for used in r.budget_used])} "
            f"| {spread([t.share * 100 for r in runs for t in r.throttling])} "
            f"| {spread([t.throttled_s / r.wall_s * 1000 for r in runs for t in r.throttling])} "
            f"| {spread([r.per_click_ms(r.azurite_s) for r in runs])} "
            f"| {spread([r.azurite_s / r.seconds * 100 for r in runs])} "
            f"| {spread([r.per_click_ms(r.wrk_s) for r in runs])} "
            f"| {spread([r.busy * 100 for r in runs])} "
            f"| {errors_cell([w for r in runs for w in r.wrk_runs])} |"
        )
    for count, target in ((2, 1.7), (4, 3.0)):
        ratios = [r.rate / b for r, b in zip(results[count], one, strict=True)]
        verdict = "met" if statistics.median(ratios) >= target else "NOT met"
        print(f"{count} instances: {spread(ratios)}x one instance (target >= {target}x): {verdict}")
    for count, runs in results.items():
        used = [u for r in runs for u in r.budget_used]
        busy = max(r.busy for r in runs)
        print(
            f"Headroom at {count}: the instances used {min(used) * 100:.0f}-"
            f"{max(used) * 100:.0f}% of their budget, the machine was at most "
            f"{busy * 100:.0f}% busy (other work included)"
            + (
                ": the budget bounded them."
                if min(used) >= 0.9
                else ": an instance did NOT use its budget: it waited on something else "
                "(the cores, if the machine was busy; Azurite; too few connections)."
            )
        )


def count_blob_requests(
    azurite_port: int, connection: str, workdir: Path, issuer: LocalIssuer, token: str
) -> tuple[float, dict[str, float]]:
    """Blob requests per click, in all and by kind, through a counting proxy (one instance)."""
    proxy = CountingProxy(f"http://127.0.0.1:{azurite_port}")
    with in_thread(proxy.app()) as proxy_url:
        proxied = connection.replace(f"http://127.0.0.1:{azurite_port}", proxy_url)
        counted = start_crmcard(
            "blob-counted", workdir / "blob-counted", blob_env(workdir, issuer, proxied)
        )
        try:
            wait_healthy(counted, "/healthz")
            clickers = asyncio.run(prepare_clickers(counted.url, 4, token, "count"))
            asyncio.run(click_series(counted.url, clickers, token, 3))  # warm
            before, kinds_before = proxy.requests, proxy.kinds.copy()
            asyncio.run(click_series(counted.url, clickers, token, 25))
            clicks = 25 * len(clickers)
            return (proxy.requests - before) / clicks, {
                kind: (count - kinds_before[kind]) / clicks
                for kind, count in proxy.kinds.items()
                if count > kinds_before[kind]
            }
        finally:
            counted.stop()


def bench_blob(args: argparse.Namespace, workdir: Path, issuer: LocalIssuer) -> None:
    token = issuer.mint(audience=APP_ID, service_url=SERVICE_URL, expires_in=24 * 3600)
    counts = (1, 2, 4)
    with contextlib.ExitStack() as stack:
        uncapped_group: cpu_budget.CpuBudget | None
        shared: cpu_budget.CpuBudget | None
        try:  # groups first: they are removed last, once their processes have ended
            uncapped_group, shared, *groups = stack.enter_context(
                cpu_budget.budgets(["uncapped", "shared", *(f"instance-{i}" for i in range(4))])
            )
        except cpu_budget.Unavailable as error:
            skipped = f"No CPU budgets ({error}): the capped 1/2/4-instance series is SKIPPED."
            print(f"\n{skipped}")
            uncapped_group = shared = None
            groups = []
        azurite = start_azurite("blob", workdir=workdir / "azurite")
        stack.callback(azurite.stop)
        if shared is not None:
            shared.add(azurite.process.pid)
        per_click, kinds = count_blob_requests(
            azurite.port, azurite.connection_string, workdir, issuer, token
        )
        names = ["blob-uncapped", *(f"blob-capped-{i}" for i in range(len(groups)))]
        servers = [
            start_crmcard(
                name, workdir / name, blob_env(workdir, issuer, azurite.connection_string)
            )
            for name in names
        ]
        for server in servers:
            stack.callback(server.stop)
        clickers_of: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
        for server in servers:
            wait_healthy(server, "/healthz")
            clickers_of[server.name] = asyncio.run(
                prepare_clickers(server.url, args.blob_agents, token, f"{server.name}-")
            )
        uncapped, capped = servers[0], servers[1:]
        if uncapped_group is not None:
            uncapped_group.add(uncapped.process.pid)
        for group, server in zip(groups, capped, strict=True):
            group.add(server.process.pid)
        idle = idle_cpu([*servers, azurite], 3.0)
        alone: list[BlobRun] = []
        results: dict[int, list[BlobRun]] = {c: [] for c in counts}
        budget = args.blob_budget
        for round_ in range(args.rounds + 1):  # round 0 warms up
            print(
                f"blob round {round_}/{args.rounds} (0 warms up), load average {load_average()}",
                flush=True,
            )
            spy = args.py_spy if round_ == 1 and "blob" in args.py_spy_of else None
            run = measure_fleet(
                [uncapped], clickers_of, token, azurite.process.pid, args, workdir, [], shared, spy
            )
            if round_:
                alone.append(run)
            if not groups:
                continue
            if round_ == 0:
                budget = budget or budget_for(run, max(counts), os.cpu_count() or 1)
                for group in groups:
                    group.limit(budget, args.cfs_period_us)
                print(
                    f"  each capped instance: {groups[0].cores:.2f} of a core"
                    + (
                        ""
                        if args.blob_budget
                        else f" (at this warm-up's CPU per click, instance "
                        f"{run.instance_ms[0]:.2f} ms, Azurite "
                        f"{run.per_click_ms(run.azurite_s):.2f} ms, wrk "
                        f"{run.per_click_ms(run.wrk_s):.2f} ms, {max(counts)} such instances "
                        f"and the shared parts need {BUDGET_HEADROOM:.0%} of the cores)"
                    ),
                    flush=True,
                )
            for count in counts:
                run = measure_fleet(
                    capped[:count],
                    clickers_of,
                    token,
                    azurite.process.pid,
                    args,
                    workdir,
                    groups[:count],
                    shared,
                )
                if round_:
                    results[count].append(run)
        report_uncapped(alone, idle, args.blob_agents)
        if groups:
            report_capped(results, groups[0].cores, args.cfs_period_us)
        else:
            print(f"\n{skipped}")
        print(
            f"\nBlob requests per click: {per_click:.2f} (target <= 2), "
            "4 agents clicking one after another; by kind: "
            + ", ".join(f"{kind} {n:.2f}" for kind, n in sorted(kinds.items()))
        )


def bench_webhook(args: argparse.Namespace, workdir: Path, issuer: LocalIssuer) -> None:
    fake = FakeConnector()
    with local_bot_identity(workdir) as identity, in_thread(fake.app()) as connector_url:
        env = crmcard_env(workdir / "webhook", issuer, **identity.env())
        server = start_crmcard("webhook", workdir / "webhook", env)
        try:
            wait_healthy(server, "/healthz")
            agents = [agent(i, "wh") for i in range(args.connections)]
            token = issuer.mint(audience=APP_ID, service_url=connector_url, expires_in=24 * 3600)

            async def install() -> None:
                async with aiohttp.ClientSession() as session:
                    for user in agents:
                        body = (
                            activities.activity(connector_url, "installationUpdate", action="add")
                            | user
                        )
                        headers = {"Authorization": f"Bearer {token}"}
                        await post(session, server.url + "/api/messages", body, headers)

            asyncio.run(install())
            runs: list[Run] = []
            sent: list[float] = []
            for round_ in range(args.rounds + 1):  # round 0 warms up
                print(
                    f"webhook round {round_}/{args.rounds} (0 warms up), "
                    f"load average {load_average()}",
                    flush=True,
                )
                before = len(fake.sent)
                out, cpu = wrk(
                    server.url,
                    events_script(agents, f"r{round_}"),
                    args.connections,
                    args.seconds,
                    [server.process.pid],
                    workdir,
                )
                run = parse_wrk(out, cpu)
                if round_:
                    runs.append(run)
                    sent.append((len(fake.sent) - before) / run.requests)
            series = Series("crmcard POST /api/interactions", runs)
            table("Interaction webhook (assigned, connected; card posted, then updated)", [series])
            print(
                f"\ncards sent to the connector per event: {spread(sent)}; "
                f"CPU per event {series.median(lambda r: r.cpu_ms)} ms (target <= 5)"
            )
            sends = list(fake.sent)  # the last events' sends may still be arriving
            signed = identity.signed(sends)
            print(
                f"sent with the bot identity's Entra token: {signed} of {len(sends)} "
                f"({len(identity.entra.token_requests())} token requests to the local Entra)"
            )
            if signed != len(sends):
                raise SystemExit("some sends did not carry the bot identity's token")
        finally:
            server.stop()


def events_script(agents: list[dict[str, Any]], run: str) -> str:
    template = activities.interaction_event(
        "__ID__",
        "__EVENT__",
        agent="__AGENT__",
        customer={"phone": "__PHONE__"},
        occurred_at="__AT__",
    )
    text = json.dumps(template, separators=(",", ":"))
    ids = ", ".join(_lua_string(user["from"]["aadObjectId"]) for user in agents)
    headers = {"Content-Type": "application/json", "X-Api-Key": API_KEY}
    return (
        _LUA_EVENTS.replace("TEMPLATE", _lua_string(text))
        .replace("AGENTS", "{" + ids + "}")
        .replace("RUN", _lua_string(run))
        .replace("HEADERS", _lua_table(headers))
    )


LIBRARIES_OF_SERVE = """
import sys
from bot.cli.main import Settings
from bot.web.app import create_app
from bot.web.runtime import use_fast_event_loop
use_fast_event_loop()
create_app(Settings())
ours = {"bot", "__main__", "__mp_main__"}
for name, module in list(sys.modules.items()):
    top = name.split(".")[0]
    spec = getattr(module, "__spec__", None)  # None: no importable module (Cython's shared)
    if spec is not None and top not in sys.stdlib_module_names and top not in ours:
        print(name)
"""
"""Prints, one a line in import order, the modules other than crmcard's and the standard
library's that ``python -m bot serve`` has imported by the time it starts listening."""

IMPORT_THEM = """
import importlib, sys
failed = 0
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        failed += 1
raise SystemExit(failed)
"""


def libraries_of_serve(place: Path, env: dict[str, str]) -> list[str]:
    """The libraries a server in ``env`` imports before it listens (see above)."""
    place.mkdir(parents=True, exist_ok=True)
    listed = subprocess.run(
        [sys.executable, "-c", LIBRARIES_OF_SERVE],
        cwd=place,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def import_alone(place: Path, env: dict[str, str], modules: list[str]) -> tuple[float, float]:
    """Seconds and CPU seconds of a fresh interpreter that imports ``modules`` and exits:
    the part of a cold start crmcard's own code cannot take away."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", IMPORT_THEM, *modules], cwd=place, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{process.returncode} of the server's libraries did not import")
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime


def bench_cold(args: argparse.Namespace, workdir: Path, issuer: LocalIssuer) -> None:
    """Both stores, JWT on, interleaved round by round: the local store, then Blob Storage
    (on Azurite, as production's store; its SDK is imported when the store is built); in
    the same rounds, a bare interpreter importing just the libraries each server had
    imported when it listened: the floor under crmcard's own start-up."""
    compileall.compile_dir(REPO / "bot", quiet=1)  # what the app's first start leaves
    pace = machine_pace()
    azurite = start_azurite("blob", workdir=workdir / "cold-azurite")
    stores = ("local store", "Blob store")
    seconds: dict[str, list[float]] = collections.defaultdict(list)
    cpu: dict[str, list[float]] = collections.defaultdict(list)
    libraries: dict[str, list[str]] = {}
    try:
        for round_ in range(args.rounds):
            for store in stores:
                place = workdir / f"cold-{round_}-{store.split()[0]}"
                env = (
                    crmcard_env(place, issuer)
                    if store == "local store"
                    else blob_env(place, issuer, azurite.connection_string)
                )
                if store not in libraries:
                    libraries[store] = libraries_of_serve(workdir / "cold-listing", env)
                server = start_crmcard("cold", place, env)
                try:
                    seconds[store].append(wait_healthy(server, "/healthz"))
                    cpu[store].append(process_cpu(server.process.pid))  # steadier than wall
                finally:
                    server.stop()
                wall, used = import_alone(place, env, libraries[store])
                seconds[f"{store}'s libraries"].append(wall)
                cpu[f"{store}'s libraries"].append(used)
    finally:
        azurite.stop()
    for store in stores:
        alone = f"{store}'s libraries"
        print(
            f"\nCold start, {store}, JWT on, python -m bot serve to the first /healthz 200: "
            f"{spread(seconds[store])} s (target < 1 s), the server's CPU until then "
            f"{spread(cpu[store])} s"
        )
        print(
            f"  its {len(libraries[store])} library modules alone, imported by a fresh "
            f"interpreter that then exits: {spread(seconds[alone])} s, CPU {spread(cpu[alone])} s"
        )
    print(f"load average {load_average()}, machine pace {pace} before, {machine_pace()} after")


def run_many(
    targets: list[tuple[str, str]],
    connections: int,
    seconds: float,
    workdir: Path,
    started: Callable[[int], None] | None = None,
) -> tuple[list[str], float]:
    """One wrk per target, all at once; their outputs and the CPU seconds they used.

    ``started`` is called with each wrk's PID as it starts."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    processes = []
    for url, script in targets:
        path = workdir / f"wrk-{time.monotonic_ns()}.lua"
        path.write_text(script)
        command = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{round(seconds)}s"]
        command += ["--latency", "--timeout", "10s", "-s", str(path), url]
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
        if started is not None:
            started(processes[-1].pid)
    outputs = [process.communicate()[0] for process in processes]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return outputs, cpu


def clicks_of(wrk_output: str) -> int:
    match = re.search(r"CLICKS (\d+)", wrk_output)
    if match is None:
        raise AssertionError(f"no click count in wrk's output:\n{wrk_output}")
    return int(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="link,blob,webhook,cold")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--blob-agents", type=int, default=8, help="agents per Blob instance")
    parser.add_argument(
        "--blob-budget",
        type=float,
        default=0.0,
        help="cores per capped Blob instance (default: sized from the uncapped warm-up)",
    )
    parser.add_argument(
        "--cfs-period-us", type=int, default=100_000, help="the capped instances' quota period"
    )
    parser.add_argument("--py-spy-of", default="link", help="link or blob")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs")
    parser.add_argument("--py-spy", help="sample crmcard's first measured link run into FILE")
    args = parser.parse_args()
    # Stopped with SIGTERM as with Ctrl-C: the servers stop and the CPU groups are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    print(f"load average at start: {load_average()}, {os.cpu_count()} cores")
    print(f"machine pace at start (reference loop, lower is faster): {machine_pace()}")
    issuer = LocalIssuer().start()
    workdir = Path(tempfile.mkdtemp(prefix="crmcard-bench-"))
    try:
        only = set(args.only.split(","))
        if "link" in only:
            bench_link(args, workdir, issuer)
        if "blob" in only:
            bench_blob(args, workdir, issuer)
        if "webhook" in only:
            bench_webhook(args, workdir, issuer)
        if "cold" in only:
            bench_cold(args, workdir, issuer)
    finally:
        if args.keep:
            print(f"server logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    issuer.stop()
    print(f"\nload average at end: {load_average()}, machine pace at end: {machine_pace()}")


if __name__ == "__main__":
    main()
