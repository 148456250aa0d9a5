"""A crmcard server killed (SIGKILL) in the middle of delivering write-backs loses none
and duplicates no timeline entry, on the embedded store and on Azure Blob (Azurite).

200 ended interactions wait in the outbox; ``crmcard serve`` starts delivering them to the
demo CRM (which keeps its records in the data dir, as a CRM keeps them across our
restarts) and is killed once some have arrived. A second server takes over the dead one's
leases and finishes. Afterwards every item is delivered, nothing is parked or due, and
the CRM holds exactly one timeline entry per interaction and record.

Field updates are at-least-once by design (documented in the README): a server killed
between the CRM's answer and the outbox's record of it sends the same field values again,
which leaves the record as it was.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.composition import open_store
from bot.domain.memorialization import FieldMapping, MemorializationMapping, SourceField
from bot.services import keys, outbox
from bot.services.store import put_model
from bot.settings import Settings
from tests.e2e.conftest import _clean_env, _free_port, _http_ok
from tests.writeback.harness import CONTACT, TENANT, context, interaction, store_due

COUNT = 200
DEADLINE = 120.0  # seconds any one wait may take before the test gives up
MAPPING = MemorializationMapping(
    fields=[FieldMapping(source=SourceField.disposition, target="last_disposition")]
)


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.azurite)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {
        "CRMCARD_DATA_DIR": str(tmp_path / "data"),
        "CRMCARD_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    if request.param == "blob":
        env["CRMCARD_STORE"] = "blob"
        env["CRMCARD_BLOB_CONNECTION_STRING"] = request.getfixturevalue("azurite_connection_string")
        env["CRMCARD_BLOB_CONTAINER"] = f"kill-{uuid.uuid4().hex[:12]}"
    return env


def settings_of(env: dict[str, str]) -> Settings:
    values = {k.removeprefix("CRMCARD_").lower(): v for k, v in env.items()}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=log.parent,
        env=_clean_env(
            **env,
            CRMCARD_HOST="127.0.0.1",
            CRMCARD_PORT=str(port),
            CRMCARD_WRITEBACK_POLL_SECONDS="0.05",
            # A killed server's claims go to the next one after this long.
            CRMCARD_WRITEBACK_LEASE_SECONDS="1",
            PYTHONUNBUFFERED="1",
        ),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_for(lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"), process, log)
    return process


def wait_for(done: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        assert process.poll() is None, f"server exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"gave up waiting:\n{log.read_text()[-3000:]}"
        time.sleep(0.02)


def timeline_entries(env: dict[str, str]) -> list[str]:
    """External ids of the timeline tasks in the demo CRM's data file."""
    data = Path(env["CRMCARD_DATA_DIR"]) / "demo-crm.json"
    try:
        tables = json.loads(data.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet / being replaced
        return []
    return [row["external_id"] for row in tables.get("task", []) if "external_id" in row]


async def outbox_state(env: dict[str, str]) -> tuple[collections.Counter[str], int]:
    store = open_store(settings_of(env))
    try:
        items = await outbox.list_items(store, TENANT)
        due = [key async for key in store.keys(keys.OUTBOX_DUE_PREFIX)]
        return collections.Counter(item.status.value for item in items), len(due)
    finally:
        await store.close()


async def test_a_server_killed_mid_delivery_loses_and_duplicates_nothing(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    store = open_store(settings_of(store_env))
    try:
        ctx = context(store)
        await put_model(store, keys.memorialization(TENANT, "demo"), MAPPING)
        for n in range(COUNT):
            details = {"disposition": f"Resolved {n}"}
            await store_due(ctx, interaction(f"call-{n}", linked=(CONTACT,), details=details))
    finally:
        await store.close()
    log = tmp_path / "servers.log"

    first = serve(store_env, log)
    wait_for(lambda: len(timeline_entries(store_env)) >= 20, first, log)
    first.send_signal(signal.SIGKILL)
    first.wait()
    delivered_before_kill = len(set(timeline_entries(store_env)))
    assert delivered_before_kill < COUNT, "killed too late to prove anything"
    statuses, _ = await outbox_state(store_env)
    assert statuses["pending"] > 0

    second = serve(store_env, log)
    try:
        wait_for(lambda: len(set(timeline_entries(store_env))) == COUNT, second, log)
        deadline = time.monotonic() + DEADLINE
        while (state := await outbox_state(store_env)) != (collections.Counter(done=COUNT), 0):
            assert time.monotonic() < deadline, f"stuck: {state}\n{log.read_text()[-3000:]}"
            assert second.poll() is None, log.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        second.terminate()
        second.wait(timeout=30)

    entries = collections.Counter(timeline_entries(store_env))
    assert len(entries) == COUNT  # none lost
    assert set(entries.values()) == {1}  # none twice
