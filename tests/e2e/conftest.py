"""The bot and the Microsoft 365 Agents Playground as real processes, and a headless Chromium.

Every test gets its own bot (own port, own data directory) and its own Playground (a
port the OS picks), so tests never share state or collide with a demo left running. On
failure the report gets the tails of both processes' logs, the Playground page's text
and a screenshot path.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND_BIN = REPO_ROOT / "node_modules" / ".bin" / "agentsplayground"
PLAYGROUND_CONFIG = REPO_ROOT / ".m365agentsplayground.yml"
CHROMIUM = Path(os.environ.get("CRMCARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# What .m365agentsplayground.yml declares; crmcard's local defaults match it.
TENANT = "demo-tenant"
API_KEY = "demo-key"
AGENT_AAD_OBJECT_ID = "00000000-0000-0000-0000-0000000000a1"

WRITEBACK_POLL_SECONDS = "0.2"
STARTUP_TIMEOUT = 30.0
_LISTENING = re.compile(r"^Listening on (\d+)", re.MULTILINE)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without crmcard, Bot Framework or Playground settings, plus ``extra``."""
    dropped = ("CRMCARD_", "MICROSOFTAPP", "M365_AGENTS_PLAYGROUND_", "TEAMSAPPTESTER_")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
    for name in ("BOT_ENDPOINT", "DEFAULT_CHANNEL_ID", "SEND_INSTALLATION_ACTIVITY"):
        env.pop(name, None)
    env.update(extra)
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def running(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.text().splitlines()[-lines:]) or "(empty)"

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM its process group (its own session), then SIGKILL if it lingers."""
        if self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _spawn(name: str, argv: list[str], *, cwd: Path, env: dict[str, str]) -> Process:
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches its children too
        )
    return Process(name, popen, log)


@dataclass
class Stack:
    """A running bot and a Playground pointed at it."""

    workdir: Path
    bot_url: str
    bot: Process
    playground: Process | None = None
    playground_url: str = ""
    console: list[str] = field(default_factory=list)

    @property
    def processes(self) -> list[Process]:
        return [p for p in (self.playground, self.bot) if p is not None]

    def simulate(self, event: str, *args: str) -> str:
        """``python -m bot simulate``: the contact-center platform's webhook call, for real."""
        argv = [sys.executable, "-m", "bot", "simulate", event, "--url", self.bot_url, *args]
        done = subprocess.run(
            argv,
            cwd=self.workdir,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, (
            f"{' '.join(argv[1:])} exited with {done.returncode}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}\n{self.diagnostics()}"
        )
        return done.stdout

    def diagnostics(self) -> str:
        parts = [f"--- {p.name} log ({p.log}) ---\n{p.tail()}" for p in self.processes]
        internal = self.workdir / "playground-internal.log"
        if internal.exists():
            lines = internal.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"--- Playground internal log ({internal}) ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def _wait_for(stack: Stack, process: Process, ready: Any, what: str) -> Any:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        result = ready()
        if result:
            return result
        if not process.running():
            raise RuntimeError(
                f"{process.name} exited with {process.popen.returncode} before {what}\n"
                + stack.diagnostics()
            )
        time.sleep(0.1)
    raise RuntimeError(
        f"{process.name}: no {what} after {STARTUP_TIMEOUT:.0f} s\n" + stack.diagnostics()
    )


def start_stack(workdir: Path, **bot_env: str) -> Stack:
    """The bot (its environment plus ``bot_env``) and a Playground pointed at it."""
    if not PLAYGROUND_BIN.exists():
        raise RuntimeError(f"{PLAYGROUND_BIN} is missing: run scripts/setup.sh (npm install)")
    workdir.mkdir(parents=True, exist_ok=True)
    bot_port = _free_port()
    bot_url = f"http://127.0.0.1:{bot_port}"
    # The bot runs from workdir, so a developer's .env in the repo is not read.
    bot = _spawn(
        "bot",
        [sys.executable, "-m", "bot", "serve"],
        cwd=workdir,
        env=_clean_env(
            CRMCARD_HOST="127.0.0.1",
            CRMCARD_PORT=str(bot_port),
            CRMCARD_PUBLIC_URL=bot_url,
            CRMCARD_DATA_DIR=str(workdir / "data"),
            CRMCARD_DEFAULT_TENANT_ID=TENANT,
            CRMCARD_API_KEYS=f'{{"{TENANT}": "{API_KEY}"}}',
            # The write-back worker looks for due items this often (default 2 s): the
            # write-back test waits for the card's confirmation, not for the poll.
            CRMCARD_WRITEBACK_POLL_SECONDS=WRITEBACK_POLL_SECONDS,
            PYTHONUNBUFFERED="1",
            **bot_env,
        ),
    )
    stack = Stack(workdir=workdir, bot_url=bot_url, bot=bot)
    try:
        # Started together: the Playground only calls the bot once a browser connects.
        # Port 0: the Playground lets the OS pick, and prints the port it got.
        stack.playground = _spawn(
            "playground",
            [
                str(PLAYGROUND_BIN),
                "--app-endpoint",
                f"{bot_url}/api/messages",
                "--channel-id",
                "msteams",
                "--port",
                "0",
                "--disable-telemetry",
            ],
            cwd=workdir,
            env=_clean_env(
                TEAMSAPPTESTER_BROWSER="none",
                M365_AGENTS_PLAYGROUND_CONFIG_PATH=str(PLAYGROUND_CONFIG),
                M365_AGENTS_PLAYGROUND_LOGFILE=str(workdir / "playground-internal.log"),
            ),
        )
        _wait_for(stack, bot, lambda: _http_ok(f"{bot_url}/healthz"), "answer on /healthz")
        playground = stack.playground

        def listening() -> int | None:
            found = _LISTENING.search(playground.text())
            port = int(found.group(1)) if found else None
            return port if port and _http_ok(f"http://127.0.0.1:{port}/_debug/ping") else None

        port = _wait_for(stack, playground, listening, "'Listening on <port>' and /_debug/ping")
        stack.playground_url = f"http://localhost:{port}/"
        return stack
    except BaseException:
        stack.stop()
        raise


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = start_stack(tmp_path / "stack")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: run scripts/setup.sh --with-browser (it installs Debian's "
            "chromium), or point CRMCARD_CHROMIUM at a Chromium binary."
        )
    from playwright.sync_api import expect, sync_playwright

    # A 2-core CI machine running Chromium, node and the bot at once is slow to settle.
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    # Only the Playground itself: its fonts and animations come from a CDN the tests
    # must not depend on (CI may be offline); blocking them also keeps loads fast.
    context.route(
        re.compile(r"^(?!https?://(localhost|127\.0\.0\.1)[:/]).*"), lambda route: route.abort()
    )
    context.set_default_timeout(20_000)
    tab = context.new_page()
    tab.on("console", lambda m: stack.console.append(f"{m.type}: {m.text}"))
    tab.on("pageerror", lambda e: stack.console.append(f"pageerror: {e}"))
    try:
        yield tab
    finally:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failed e2e test: the processes' logs, the page text and a screenshot in the report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    running: Stack | None = funcargs.get("stack")
    tab = funcargs.get("page")
    if running is not None:
        report.sections.append(("bot and Playground logs", running.diagnostics()))
        if running.console:
            report.sections.append(("browser console", "\n".join(running.console[-40:])))
    if tab is not None and running is not None:
        shot = running.workdir / "failure.png"
        try:
            tab.screenshot(path=str(shot), full_page=True)
            text = tab.locator("body").inner_text(timeout=5_000)
        except Exception as error:  # the page may be what broke
            text = f"(could not read the page: {error})"
        else:
            text = f"screenshot: {shot}\n\n{text[-6000:]}"
        report.sections.append(("Playground page", text))
