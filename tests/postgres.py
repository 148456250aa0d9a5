"""Start and stop a private PostgreSQL server (Debian ``postgresql``) for tests and benches.

initdb and postgres refuse to run as root, so when the tests run as root the server runs
as the ``postgres`` user (``runuser``) in a temporary data directory it owns. It listens
on a free loopback port with a Unix socket in that directory, trusts local connections
(nothing else can reach it) and is stopped with ``pg_ctl stop`` afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _pg_bin() -> Path:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Postgres:
    data_dir: Path
    port: int
    user: str
    keep: bool = False
    """Stopping leaves the data directory in place (a bench's cached database)."""

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            _as_owner([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast"]),
            check=False,
            capture_output=True,
            timeout=60,
        )
        if not self.keep:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def postgres_available() -> bool:
    return (PG_BIN / "initdb").exists()


def start_postgres(*, settings: dict[str, str] | None = None, root: Path | None = None) -> Postgres:
    """A fresh server; ``settings`` are extra ``postgresql.conf`` lines (benches tune it).

    With ``root`` the server lives in that directory and is kept when stopped: started
    again on the databases it holds when it exists, created there when not.
    """
    if not postgres_available():
        raise RuntimeError(
            f"{PG_BIN / 'initdb'} is missing: run scripts/setup.sh (it installs postgresql)"
        )
    keep = root is not None
    root = root or Path(tempfile.mkdtemp(prefix="crmcard-pg-"))
    data = root / "data"
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    if not (data / "PG_VERSION").exists():
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(data, ignore_errors=True)  # an initdb that did not finish
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(
            _as_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
    port = _free_port()
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{root}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        **(settings or {}),
    }
    # a restarted server's later lines win over the earlier start's
    with (data / "postgresql.conf").open("a") as config:
        config.writelines(f"{name} = {value}\n" for name, value in conf.items())
    subprocess.run(
        _as_owner(
            [str(PG_BIN / "pg_ctl"), "start", "-D", str(data), "-w", "-l", str(root / "log")]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Postgres(data_dir=data, port=port, user=user, keep=keep)
