"""Start and stop the Azurite storage emulator (from node_modules) for tests.

Each call starts a private, in-memory emulator on a port the OS picks, so test runs
never collide with each other or with an Azurite a developer left running.
"""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"

Service = Literal["blob", "queue", "table"]

# Azurite's fixed development account (public, documented by Microsoft).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

_LISTENING = re.compile(r"successfully listens on https?://[^\s:]+:(\d+)")
_ENDPOINT_KEY = {"blob": "BlobEndpoint", "queue": "QueueEndpoint", "table": "TableEndpoint"}


def connection_string(service: Service, host: str, port: int) -> str:
    """The connection string for the development account on one emulated service."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"{_ENDPOINT_KEY[service]}=http://{host}:{port}/{ACCOUNT_NAME};"
    )


@dataclass
class Azurite:
    """One running emulator process."""

    service: Service
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def connection_string(self) -> str:
        return connection_string(self.service, self.host, self.port)

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def azurite_executable(service: Service) -> Path:
    """``node_modules/.bin/azurite-<service>``; a clear error when npm install never ran."""
    executable = NODE_BIN / f"azurite-{service}"
    if not executable.exists():
        raise RuntimeError(
            f"{executable} is missing: run scripts/setup.sh (it runs npm install) "
            "to install the Azurite storage emulator these tests need."
        )
    return executable


def start_azurite(
    service: Service = "blob", *, workdir: Path, host: str = "127.0.0.1", timeout: float = 30
) -> Azurite:
    """Start one emulator, in memory (in ``workdir``), and return once it accepts connections.

    Port 0 lets the OS pick a free port (no race between choosing and binding); the
    port actually bound is read from Azurite's startup line in its log.
    """
    executable = azurite_executable(service)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"azurite-{service}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(executable),
                "--silent",
                "--inMemoryPersistence",
                f"--{service}Host",
                host,
                f"--{service}Port",
                "0",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    azurite = Azurite(service=service, host=host, port=0, process=process, log=log)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"azurite-{service} exited with {process.returncode}:\n{log.read_text()}"
                )
            if not azurite.port:
                found = _LISTENING.search(log.read_text(errors="replace"))
                if found:
                    azurite.port = int(found.group(1))
            if azurite.port and _accepts_connections(host, azurite.port):
                return azurite
            time.sleep(0.05)
        raise RuntimeError(
            f"azurite-{service} not listening after {timeout:.0f} s:\n{log.read_text()}"
        )
    except BaseException:
        azurite.stop()
        raise


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_azurite(service: Service = "blob", workdir: Path | None = None) -> Iterator[Azurite]:
    """An emulator for the ``with`` block; stopped (and its temp dir removed) after it."""
    with tempfile.TemporaryDirectory(prefix=f"azurite-{service}-") as scratch:
        azurite = start_azurite(service, workdir=workdir or Path(scratch))
        try:
            yield azurite
        finally:
            azurite.stop()
