"""Over HTTP: link a record, end the call, finish ACW -> the demo CRM record gets the
mapped fields and a Task, and the agent's card says so; parked write-backs are listed
and replayed through the admin API, which says what a pending one waits for; the mapping
admin API validates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.crm.demo import DemoCrm
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import interaction_event
from tests.bot.test_customer_card_flow import install, invoke, record_action, start_call
from tests.connector import FakeConnector
from tests.writeback.harness import TENANT, store_every_wait

Client = TestClient[Any, Any]
KEY = {"X-Api-Key": "demo-key"}
ADMIN = {"X-Admin-Key": "demo-admin-key"}
CONTACT = "demo:contact:C-2001"
MAPPING = {
    "fields": [
        {"source": "disposition", "target": "last_disposition"},
        {"source": "notes", "target": "last_notes", "maxLength": 40},
        {"source": "duration", "target": "last_call_duration"},
        {"source": "agent", "target": "last_agent"},
    ],
    "timeline": {"enabled": True, "activityType": "task"},
}


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], tmp_path: Path) -> Client:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        api_keys={"demo-tenant": "demo-key"},
        writeback_poll_seconds=0.05,
        crm_allow_local_urls=True,  # the operator's allowance: the CRM fake runs on loopback
    )
    made: Client = await aiohttp_client(create_app(settings))
    return made


async def demo_crm_of(client: Client) -> DemoCrm:
    ctx = client.app[CONTEXT]
    clients = await ctx.crms.clients("demo-tenant")
    [demo] = [c for c in clients if isinstance(c, DemoCrm)]
    return demo


def crmcard_tasks(crm: DemoCrm) -> list[dict[str, str]]:
    return [t for t in crm._rows("task") if t.get("contact_id") == "C-2001" and "external_id" in t]


async def post_event(client: Client, event: str, second: int, **extra: Any) -> dict[str, Any]:
    payload = interaction_event("call-1", event, occurred_at=f"2026-11-23T08:0{second}:00Z")
    payload.update(extra)
    response = await client.post("/api/interactions", json=payload, headers=KEY)
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def card_saying(fake: FakeConnector, text: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for sent in reversed(fake.cards()):
            if sent.card is not None and text in json.dumps(sent.card, ensure_ascii=False):
                return sent.card
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card says {text!r}")


async def link_contact(client: Client, fake: FakeConnector, url: str) -> None:
    await install(client, url)
    await start_call(client)
    link = record_action(fake.cards()[-1].card or {}, "link", "contact:C-2001")
    body = await invoke(client, url, "link", link["data"])
    assert body["statusCode"] == 200


async def test_link_end_acw_writes_the_record_and_the_card_confirms(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    response = await client.put("/api/admin/crms/demo/memorialization", json=MAPPING, headers=ADMIN)
    assert response.status == 200, await response.text()
    await link_contact(client, fake, url)
    await post_event(client, "ended", 5)
    crm = await demo_crm_of(client)
    assert "last_disposition" not in crm._find("contact", "C-2001")  # still in ACW
    body = await post_event(
        client,
        "acw-completed",
        7,
        details={"disposition": "Resolved", "notes": "Customer asked about the gate. " * 5},
    )
    assert body["writebackDue"] is True
    card = await card_saying(fake, "Written to 1 record ✓")
    assert "Truncated: Notes" in json.dumps(card, ensure_ascii=False)
    row = crm._find("contact", "C-2001")
    assert row["last_disposition"] == "Resolved"
    assert row["last_notes"].endswith("…[truncated]") and len(row["last_notes"]) == 40
    assert row["last_call_duration"] == "0:04:59"  # connected 08:00:01
    assert row["last_agent"] == "Avery Agent"
    tasks = crmcard_tasks(crm)
    assert len(tasks) == 1 and "Edward Ferrars" in tasks[0]["subject"]
    # A replayed acw-completed webhook writes nothing twice: it files no second item and
    # leaves the first one done, so there is nothing for the worker to write again.
    await post_event(client, "acw-completed", 7)
    listed = await client.get("/api/admin/outbox", headers=ADMIN)
    [item] = (await listed.json())["items"]
    assert item["status"] == "done" and item["record"] == CONTACT
    assert [s["done"] for s in item["steps"]] == [True, True]
    assert len(crmcard_tasks(crm)) == 1  # (had it been due again, it could be written by now)
    again = await client.post(
        "/api/admin/outbox/replay",
        json={"interactionId": "call-1", "record": CONTACT},
        headers=ADMIN,
    )
    assert again.status == 409


async def test_after_call_work_reported_before_the_end_is_written_once_the_call_ends(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """The platform's acw-completed overtook its ended: nothing is written until the end
    arrives, then the linked record is, once."""
    fake, url = connector
    await link_contact(client, fake, url)
    early = await post_event(client, "acw-completed", 7, details={"disposition": "Resolved"})
    assert early["writebackDue"] is False
    listed = await client.get("/api/admin/outbox", headers=ADMIN)
    assert (await listed.json())["items"] == []
    ended = await post_event(client, "ended", 5)
    assert ended["writebackDue"] is True and ended["state"] == "acw-completed"
    await card_saying(fake, "Written to 1 record ✓")
    [task] = crmcard_tasks(await demo_crm_of(client))
    assert "Disposition: Resolved" in task["description"]
    assert (await post_event(client, "ended", 5))["revision"] == ended["revision"]


async def test_parked_write_back_shows_on_card_and_admin_replays_it(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await link_contact(client, fake, url)
    crm = await demo_crm_of(client)
    row = crm._find("contact", "C-2001")
    crm._tables["contact"].remove(row)  # the record is deleted in the CRM meanwhile
    await post_event(client, "ended", 5)
    await post_event(client, "acw-completed", 6)
    card = await card_saying(fake, "Not written to Edward Ferrars")
    assert "C-2001" in json.dumps(card)
    parked = await client.get("/api/admin/outbox?status=parked", headers=ADMIN)
    [item] = (await parked.json())["items"]
    assert item["record"] == CONTACT and "C-2001" in item["parkedReason"]
    crm._tables["contact"].append(row)  # restored
    replay = await client.post(
        "/api/admin/outbox/replay",
        json={"interactionId": "call-1", "record": CONTACT},
        headers=ADMIN,
    )
    assert replay.status == 202, await replay.text()
    await card_saying(fake, "Written to 1 record ✓")
    assert len(crmcard_tasks(crm)) == 1
    # Nothing parked is left: a bulk replay finds nothing to do.
    bulk = await client.post("/api/admin/outbox/replay", json={"allParked": True}, headers=ADMIN)
    assert bulk.status == 202 and (await bulk.json())["items"] == []


async def test_the_outbox_says_what_a_pending_write_back_waits_for(
    aiohttp_client: Callable[..., Any], tmp_path: Path
) -> None:
    """waitingFor: the agent's sign-in or the tenant's consent, each of which makes the
    write-back due at once; null for one retried after an outage, and for one delivered
    since its wait (the stored item keeps the flag of its last retry)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        admin_keys={TENANT: "admin-2"},
        writeback_worker=False,  # store_every_wait runs the worker
    )
    client: Client = await aiohttp_client(create_app(settings))
    await store_every_wait(client.app[CONTEXT].store)
    listed = await client.get("/api/admin/outbox", headers={"X-Admin-Key": "admin-2"})
    assert listed.status == 200, await listed.text()
    items = (await listed.json())["items"]
    assert {i["interactionId"]: (i["status"], i["waitingFor"]) for i in items} == {
        "call-sign-in": ("pending", "sign-in"),
        "call-consent": ("pending", "consent"),
        "call-outage": ("pending", None),
        "call-signed-in-since": ("done", None),
    }


async def test_admin_api_is_authenticated_and_validates(client: Client) -> None:
    assert (await client.get("/api/admin/outbox")).status == 401
    assert (await client.get("/api/admin/crms/demo/memorialization")).status == 401
    got = await client.get("/api/admin/crms/demo/memorialization", headers=ADMIN)
    assert got.status == 200
    assert await got.json() == {"fields": [], "timeline": {"enabled": True, "activityType": "task"}}
    unknown = await client.put("/api/admin/crms/nope/memorialization", json=MAPPING, headers=ADMIN)
    assert unknown.status == 404
    bad = await client.put(
        "/api/admin/crms/demo/memorialization",
        json={"fields": [{"source": "mood", "target": "x"}]},
        headers=ADMIN,
    )
    assert bad.status == 422
    assert (await bad.json())["errors"]
    assert (await client.get("/api/admin/outbox?status=weird", headers=ADMIN)).status == 422
    missing = await client.post(
        "/api/admin/outbox/replay", json={"interactionId": "x", "record": CONTACT}, headers=ADMIN
    )
    assert missing.status == 409


async def test_crash_before_the_outbox_is_written_is_healed_by_the_platform_retry(
    client: Client, connector: tuple[FakeConnector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.services import outbox

    fake, url = connector
    await link_contact(client, fake, url)
    await post_event(client, "ended", 5)
    real_enqueue = outbox.enqueue

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("store went away")

    monkeypatch.setattr(outbox, "enqueue", crash)
    payload = interaction_event("call-1", "acw-completed", occurred_at="2026-11-23T08:06:00Z")
    failed = await client.post("/api/interactions", json=payload, headers=KEY)
    assert failed.status == 500  # not acknowledged: the platform sends it again
    monkeypatch.setattr(outbox, "enqueue", real_enqueue)
    retried = await client.post("/api/interactions", json=payload, headers=KEY)
    assert retried.status == 202
    await card_saying(fake, "Written to 1 record ✓")
    assert len(crmcard_tasks(await demo_crm_of(client))) == 1
