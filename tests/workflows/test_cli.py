"""``crmcard workflow`` and ``crmcard policy`` against a running bot's admin API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.workflows.conftest import Client


async def crmcard(client: Client, *argv: str) -> int:
    url = str(client.make_url("")).rstrip("/")
    return await asyncio.to_thread(main, [*argv, "--url", url, "--admin-key", "demo-admin-key"])


async def test_workflow_and_policy_commands(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "find.json"
    definition.write_text(
        json.dumps({"id": "find", "type": "search", "criteria": [{"by": "phone", "input": "ani"}]})
    )
    assert await crmcard(client, "workflow", "put", str(definition)) == 0
    assert await crmcard(client, "workflow", "list") == 0
    assert '"find"' in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"type": "update", "recordType": "case", "fields": ["x"], "settingsId": "zd"})
    )
    assert await crmcard(client, "workflow", "put", str(bad), "--id", "upd") == 1
    assert "Salesforce and Dynamics only" in capsys.readouterr().err
    assert await crmcard(client, "workflow", "delete", "find") == 0
    assert await crmcard(client, "workflow", "delete", "find") == 1

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"titleTemplate": "{CALL_TYPE} {CALL_ID}", "productTag": True}))
    assert await crmcard(client, "policy", "put", "Support", str(policy)) == 0
    assert await crmcard(client, "policy", "get", "Support") == 0
    assert '"productTag": true' in capsys.readouterr().out
    policy.write_text(json.dumps({"titleTemplate": "{NOPE}"}))
    assert await crmcard(client, "policy", "put", "_default", str(policy)) == 1
    assert "{NOPE}" in capsys.readouterr().err
    assert await crmcard(client, "policy", "list") == 0
    assert await crmcard(client, "policy", "delete", "Support") == 0
