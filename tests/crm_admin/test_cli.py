"""``crmcard crm add|list|test|rotate-secret|disable`` on the store of Settings."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from bot.adapters.storage.local import LocalStore
from bot.cli import main
from bot.services import audit
from bot.services.audit import Door

from .conftest import TEST_KEY


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRMCARD_SECRET_KEY", TEST_KEY)
    monkeypatch.setenv("CRMCARD_DEFAULT_TENANT_ID", "t1")
    return tmp_path / "data"


def stored_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(data_dir.glob("state.sqlite3*")))


def audit_actions(data_dir: Path) -> list[str]:
    async def read() -> list[str]:
        store = LocalStore(data_dir / "state.sqlite3")
        try:
            return [e.kind for e in await audit.query(store, "t1") if e.door is Door.cli]
        finally:
            await store.close()

    return asyncio.run(read())


def test_add_list_test_rotate_disable(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DEMO_SECRET", "cli-s3cret-value")
    assert (
        main(
            [
                "crm",
                "add",
                "--settings-id",
                "demo2",
                "--kind",
                "demo",
                "--name",
                "Second demo",
                "--map",
                "title=Job title",
                "--secret-env",
                "DEMO_SECRET",
            ]
        )
        == 0
    )
    added = json.loads(capsys.readouterr().out)
    assert added["tenantId"] == "t1" and added["hasSecret"] is True
    assert added["fieldMappings"] == [{"crmField": "title", "cardField": "Job title"}]

    assert main(["crm", "list"]) == 0
    listing = capsys.readouterr().out
    assert "demo2\tdemo\tSecond demo\tenabled\tv1\tsecret set" in listing
    assert main(["crm", "list", "--tenant", "other"]) == 0
    assert capsys.readouterr().out == ""

    assert main(["crm", "test", "demo2"]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["ok"] is True and outcome["outcome"] == "ok"

    monkeypatch.setattr("sys.stdin", io.StringIO("rotated-cli-secret\n"))
    assert main(["crm", "rotate-secret", "demo2", "--secret-stdin"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 2

    assert main(["crm", "disable", "demo2"]) == 0
    assert json.loads(capsys.readouterr().out)["enabled"] is False

    data = stored_bytes(data_dir)
    assert b"cli-s3cret-value" not in data and b"rotated-cli-secret" not in data
    assert audit_actions(data_dir) == ["crm.create", "crm.rotateSecret", "crm.disable"]


def test_errors_are_reported_with_fields(data_dir: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["crm", "add", "--settings-id", "bad id", "--kind", "demo", "--name", "x"]) == 2
    assert "settingsId" in capsys.readouterr().err
    assert main(["crm", "disable", "missing"]) == 2
    assert "no CRM configuration" in capsys.readouterr().err
    assert main(["crm", "test", "missing"]) == 2
