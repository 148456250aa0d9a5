"""The admin commands over HTTP against a live app (``--url`` with the bootstrap key or an
Entra token), and every failure as one line on standard error, never a traceback: an HTTP
error answer, a server that cannot be reached, a request crmcard refuses."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.cli import main
from bot.cli.main import GROUPS, parser
from bot.observability import logs
from bot.settings import Settings
from bot.web.app import create_app

ADMIN_KEY = "demo-admin-key"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _server_logs_stay_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live app shares this process: the command must not move its log handlers onto
    the captured standard error."""
    monkeypatch.setattr(logs, "configure", lambda **_: None)
    # nor find handlers an earlier command left on a standard error that is gone by now
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])


async def live(aiohttp_server: Callable[..., Any], settings: Settings) -> str:
    server: TestServer = await aiohttp_server(create_app(settings))
    return str(server.make_url("")).rstrip("/")


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command in a thread (it runs its own event loop, as its own process would)."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_crm_commands_over_http(
    aiohttp_server: Callable[..., Any],
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = await live(aiohttp_server, settings)
    door = ("--url", url, "--admin-key", ADMIN_KEY)
    monkeypatch.setenv("SECOND_SECRET", "http-s3cret")
    code, out, _ = await cli(
        capsys, "crm", "add", "--settings-id", "second", "--kind", "demo", "--name", "Second",
        "--map", "title=Job title", "--secret-env", "SECOND_SECRET", *door,
    )  # fmt: skip
    added = json.loads(out)
    assert code == 0 and added["settingsId"] == "second" and added["hasSecret"] is True
    assert added["fieldMappings"] == [{"crmField": "title", "cardField": "Job title"}]
    assert "http-s3cret" not in out

    code, out, _ = await cli(capsys, "crm", "list", *door)
    assert code == 0 and "second\tdemo\tSecond\tenabled\tv1\tsecret set" in out
    code, out, _ = await cli(capsys, "crm", "test", "second", *door)
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = await cli(capsys, "crm", "disable", "second", *door)
    assert code == 0 and json.loads(out)["enabled"] is False
    code, out, _ = await cli(capsys, "crm", "enable", "second", *door)
    assert code == 0 and json.loads(out)["version"] == 3

    code, out, _ = await cli(capsys, "tenants", "settings", "--default-region", "fr", *door)
    assert code == 0 and json.loads(out)["defaultRegion"] == "FR"
    code, out, _ = await cli(capsys, "tenants", "settings", *door)
    assert json.loads(out)["defaultRegionSource"] == "tenant"

    # the changes came through the API's door, as the admin the key names
    async with aiohttp.ClientSession() as http:
        answer = await http.get(f"{url}/api/admin/audit", headers={"X-Admin-Key": ADMIN_KEY})
        entries = (await answer.json())["entries"]
    mine = [(e["kind"], e["door"]) for e in entries if e["target"] in ("second", "demo-tenant")]
    assert mine == [
        ("crm.create", "api"),
        ("crm.disable", "api"),
        ("crm.enable", "api"),
        ("tenant.settings", "api"),
    ]


async def test_key_commands_over_http(
    aiohttp_server: Callable[..., Any], settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    door = ("--url", await live(aiohttp_server, settings), "--admin-key", ADMIN_KEY)
    code, out, err = await cli(capsys, "keys", "create", "--name", "ACD", *door)
    created = json.loads(out)
    assert code == 0 and created["key"].startswith("crmcard_") and "shown this once" in err
    code, out, _ = await cli(capsys, "keys", "list", *door)
    assert code == 0 and f"{created['id']}\tACD\tactive" in out
    code, out, _ = await cli(capsys, "keys", "revoke", created["id"], *door)
    assert code == 0 and json.loads(out)["revokedAt"] is not None
    code, out, _ = await cli(capsys, "keys", "list", *door)
    assert f"{created['id']}\tACD\trevoked/expired" in out


async def test_http_errors_are_one_line(
    aiohttp_server: Callable[..., Any],
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    url = await live(aiohttp_server, settings)
    code, out, err = await cli(capsys, "crm", "list", "--url", url, "--admin-key", "wrong")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("error: HTTP 401: ")

    invalid = tmp_path / "workflow.json"
    invalid.write_text(json.dumps({"id": "w", "name": "", "type": "nope"}))
    code, _, err = await cli(capsys, "workflow", "put", str(invalid), "--url", url)
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: HTTP 422: ")
    refused = ("tenants", "settings", "--default-region", "ZZ", "--url", url)
    code, _, err = await cli(capsys, *refused)
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: HTTP 422: ")
    assert "(defaultRegion: " in err  # the field errors, on the same line

    code, _, err = await cli(capsys, "crm", "test", "missing", "--url", url)
    assert code == 1 and err.count("\n") == 1 and "missing" in err


async def test_an_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    for argv in (
        ("simulate", "connected", "--url", nowhere),
        ("crm", "list", "--url", nowhere),
        ("routing", "get", "--url", nowhere),
        ("tenants", "settings", "--url", nowhere),
    ):
        code, out, err = await cli(capsys, *argv)
        assert (code, out) == (1, ""), argv
        assert err.startswith(f"error: cannot reach {nowhere}") and err.count("\n") == 1, err


def test_simulate_on_another_port_as_a_process_prints_no_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "simulate", "connected", "--url",
         f"http://127.0.0.1:{closed_port()}"],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot reach")


def _every_action(root: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for action in root._actions:
        if action.choices and isinstance(action.choices, dict):  # subcommands
            for name, sub in action.choices.items():
                found.extend(_every_action(sub, (*path, name)))
        else:
            found.append((path, action))
    return found


def test_every_argument_has_help_and_every_admin_command_names_its_door() -> None:
    root = parser()
    silent = [
        (" ".join(path), action.dest)
        for path, action in _every_action(root)
        if not action.help and action.dest != "help"
    ]
    assert silent == []
    commands = next(a for a in root._actions if isinstance(a.choices, dict))
    helps = {c.dest: c.help or "" for c in commands._choices_actions}
    for admin in ("crm", "keys", "tenants", "workflow", "policy", "routing", "outbox"):
        assert "store" in helps[admin] or "admin API" in helps[admin], (admin, helps[admin])
    for both in ("crm", "keys"):
        assert "store" in helps[both] and "--url" in helps[both]


def _commands(root: argparse.ArgumentParser) -> set[str]:
    return set(next(a for a in root._actions if isinstance(a.choices, dict)).choices or ())


def test_a_command_is_read_with_its_own_group_only_and_serve_with_none() -> None:
    assert _commands(parser()) == {"serve", "simulate", *GROUPS}
    assert _commands(parser("serve")) == {"serve", "simulate"}
    for command in GROUPS:
        assert command in _commands(parser(command))
    assert _commands(parser("workflow")) == {"serve", "simulate", "workflow", "policy"}
