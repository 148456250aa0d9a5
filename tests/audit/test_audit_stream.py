"""The audit stream: append-only per tenant, filtered, exported as CSV, never a secret,
kept for its own retention; and the doors (Teams, tab, API, CLI) that write into it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.storage.local import LocalStore
from bot.services import audit
from bot.services.audit import Actor, AuditQuery, Door
from bot.services.store import Store
from tests.bot.test_customer_card_flow import install, invoke, record_action, start_call
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
ADMIN = {"X-Admin-Key": "demo-admin-key"}
DAY = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ALICE = Actor("alice@contoso.example", Door.api)
BOB = Actor("bob", Door.cli)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    local = LocalStore(tmp_path / "state.sqlite3")
    try:
        yield local
    finally:
        await local.close()


async def _three_days(store: Store) -> None:
    await audit.record(store, "t1", ALICE, "crm.create", at=DAY, target="zd")
    await audit.record(store, "t1", BOB, "workflow.put", at=DAY + timedelta(days=1), target="w1")
    await audit.record(store, "t1", ALICE, "crm.delete", at=DAY + timedelta(days=2), target="zd")
    await audit.record(store, "t2", ALICE, "crm.create", at=DAY, target="other")


async def test_filters_by_actor_kind_door_and_date_range(store: Store) -> None:
    await _three_days(store)
    kinds = lambda entries: [e.kind for e in entries]  # noqa: E731
    assert kinds(await audit.query(store, "t1")) == ["crm.create", "workflow.put", "crm.delete"]
    assert kinds(await audit.query(store, "t1", AuditQuery(actor="bob"))) == ["workflow.put"]
    assert kinds(await audit.query(store, "t1", AuditQuery(kind="crm"))) == [
        "crm.create",
        "crm.delete",
    ]
    assert kinds(await audit.query(store, "t1", AuditQuery(kind="cr"))) == []  # no half words
    assert kinds(await audit.query(store, "t1", AuditQuery(door=Door.cli))) == ["workflow.put"]
    window = AuditQuery(since=DAY + timedelta(hours=1), until=DAY + timedelta(days=2))
    assert kinds(await audit.query(store, "t1", window)) == ["workflow.put"]
    assert kinds(await audit.query(store, "t1", AuditQuery(limit=1))) == ["crm.create"]
    [other] = await audit.query(store, "t2")
    assert other.target == "other"  # tenants never see each other's entries


async def test_no_secret_ever_reaches_an_entry(store: Store) -> None:
    entry = await audit.record(
        store,
        "t1",
        ALICE,
        "crm.update",
        at=DAY,
        before={"auth": {"client_secret": "s3cret-1", "clientId": "id"}, "password": "pw"},
        after={"auth": {"clientSecret": "s3cret-2", "clientId": "id"}, "apiKey": "k-123"},
        details={"token": "eyJ.secret"},
    )
    assert entry.before == {"auth": {"client_secret": "***", "clientId": "id"}, "password": "***"}
    assert entry.after == {"auth": {"clientSecret": "***", "clientId": "id"}, "apiKey": "***"}
    stored = b"".join(
        [(await store.read(key)).data async for key in store.keys("")]  # type: ignore[union-attr]
    )
    for secret in (b"s3cret-1", b"s3cret-2", b"pw", b"k-123", b"eyJ.secret"):
        assert secret not in stored


async def test_retention_drops_old_days_only(store: Store) -> None:
    await _three_days(store)
    assert await audit.purge_expired(store, "t1", DAY + timedelta(days=1, hours=12)) == 1
    assert [e.kind for e in await audit.query(store, "t1")] == ["workflow.put", "crm.delete"]
    assert len(await audit.query(store, "t2")) == 1  # another tenant's sweep is its own


async def test_rewrite_is_the_one_way_to_change_entries(store: Store) -> None:
    await _three_days(store)

    def pseudonymize(entry: audit.AuditEntry) -> audit.AuditEntry:
        if entry.actor != "bob":
            return entry
        return entry.model_copy(update={"actor": "subject-1"})

    assert await audit.rewrite(store, "t1", pseudonymize) == 1
    assert [e.actor for e in await audit.query(store, "t1")] == [
        ALICE.id,
        "subject-1",
        ALICE.id,
    ]


async def test_a_stable_entry_id_records_a_retried_event_once(store: Store) -> None:
    for _ in range(2):
        await audit.record(store, "t1", ALICE, "card.merge", at=DAY, entry_id="card.merge-m1")
    assert len(await audit.query(store, "t1")) == 1


def test_csv_quotes_formulas_and_holds_json_cells() -> None:
    entry = audit.AuditEntry(
        id="x",
        tenant_id="t1",
        at=DAY,
        actor="=HYPERLINK(evil)",
        door=Door.api,
        kind="routing.put",
        before=None,
        after={"rules": [1]},
    )
    [header, row] = list(csv.reader(io.StringIO(audit.to_csv([entry]))))
    assert header == list(audit.CSV_COLUMNS)
    values = dict(zip(header, row, strict=True))
    assert values["actor"] == "'=HYPERLINK(evil)"
    assert values["after"] == '{"rules":[1]}' and values["before"] == ""


async def test_link_unlink_and_admin_changes_through_every_door(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    await install(bot_client, url)
    await start_call(bot_client)
    card = (await (await bot_client.get("/api/tab/card")).json())["card"]
    link = record_action(card, "link", "contact:C-2001")
    await invoke(bot_client, url, "link", link["data"])  # Teams
    card = (await (await bot_client.get("/api/tab/card")).json())["card"]
    unlink = record_action(card, "unlink", "contact:C-2001")
    answer = await bot_client.post(
        "/api/tab/actions", json={"verb": "unlink", "data": unlink["data"]}
    )
    assert answer.status == 200, await answer.text()
    routing = {"rules": [{"name": "gold", "when": [], "queue": "vip", "skills": ["en"]}]}
    put = await bot_client.put("/api/admin/routing", json=routing, headers=ADMIN)
    assert put.status == 200, await put.text()

    body = await (await bot_client.get("/api/admin/audit", headers=ADMIN)).json()
    entries = body["entries"]
    assert [(e["kind"], e["door"], e["target"]) for e in entries] == [
        ("card.link", "teams", "demo:contact:C-2001"),
        ("card.unlink", "tab", "demo:contact:C-2001"),
        ("routing.put", "api", None),
    ]
    assert entries[0]["details"]["interactionId"] == "call-1"
    assert entries[2]["before"] is None and entries[2]["after"]["rules"][0]["queue"] == "vip"
    assert body["retentionDays"] == 365

    only_cards = await bot_client.get("/api/admin/audit?kind=card&door=tab", headers=ADMIN)
    assert [e["kind"] for e in (await only_cards.json())["entries"]] == ["card.unlink"]
    exported = await bot_client.get("/api/admin/audit?format=csv&kind=card", headers=ADMIN)
    assert exported.status == 200 and exported.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await exported.text())))
    assert [(r["kind"], r["door"]) for r in rows] == [
        ("card.link", "teams"),
        ("card.unlink", "tab"),
    ]


@pytest.mark.parametrize(
    "query", ["door=fax", "limit=0", "limit=x", "from=yesterday", "to=2026-13-01"]
)
async def test_bad_audit_queries_are_422_with_the_field(bot_client: Client, query: str) -> None:
    response = await bot_client.get(f"/api/admin/audit?{query}", headers=ADMIN)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["errors"][0]["loc"][0] == "query"


async def test_the_audit_needs_an_admin(bot_client: Client) -> None:
    assert (await bot_client.get("/api/admin/audit")).status == 401
    assert (
        await bot_client.get("/api/admin/audit", headers={"X-Api-Key": "demo-key"})
    ).status == 401


async def test_a_self_onboarded_tenant_is_swept_by_retention(tmp_path: Path) -> None:
    """A tenant that consented and issued its own keys is named in no setting: the
    retention sweep still finds it, and drops its audit entries past their retention."""
    from bot.services import tenants
    from bot.settings import Settings
    from bot.web.admin_outbox import WRITEBACK
    from bot.web.app import create_app
    from bot.web.interactions import CONTEXT

    settings = Settings(_env_file=None, data_dir=tmp_path / "data", audit_retention_days=30)
    app = create_app(settings)
    store = app[CONTEXT].store
    await tenants.record_consent(store, "self-made", at=DAY, by="admin@self.example")
    await audit.record(store, "self-made", ALICE, "crm.create", at=DAY, target="zd")
    worker = app[WRITEBACK]
    worker.ctx.clock = lambda: DAY + timedelta(days=31)
    await worker.purge_once()
    assert await audit.query(store, "self-made") == []
    await store.close()


async def test_a_batch_of_entries_is_queried_purged_and_rewritten_like_single_ones(
    store: Store,
) -> None:
    def clicked(n: int, actor: str) -> audit.AuditEntry:
        at = DAY + timedelta(minutes=n)
        return audit.AuditEntry(
            id=audit.new_entry_id(at, f"click-{n}"),
            tenant_id="t1",
            at=at,
            actor=actor,
            door=audit.Door.teams,
            kind="card.link",
            target=f"demo:contact:C-{n}",
        )

    batch = [clicked(1, "bob"), clicked(2, ALICE.id)]
    await audit.record_batch(store, "t1", batch)
    await audit.record_batch(store, "t1", batch[:1])  # copied again by another instance
    assert [e.target for e in await audit.query(store, "t1")] == [
        "demo:contact:C-1",
        "demo:contact:C-2",
    ]

    def pseudonymize(entry: audit.AuditEntry) -> audit.AuditEntry:
        return entry.model_copy(update={"actor": "subject-1"}) if entry.actor == "bob" else entry

    assert await audit.rewrite(store, "t1", pseudonymize) == 2  # in both copies
    assert [e.actor for e in await audit.query(store, "t1")] == ["subject-1", ALICE.id]
    assert await audit.purge_expired(store, "t1", DAY + timedelta(days=1)) == 2
    assert await audit.query(store, "t1") == []


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 12, 1, 16, 19, 46, 538565, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no fraction: still six digits
        datetime(1999, 12, 31, 23, 59, 59, 1),  # naive
        datetime(2026, 6, 1, 8, 0, 0, 120, tzinfo=UTC).astimezone(),  # another zone
    ],
)
def test_entry_ids_start_with_the_compact_time_they_sort_by(at: datetime) -> None:
    assert audit.new_entry_id(at, "salt").startswith(at.strftime("%Y%m%dT%H%M%S%fZ") + "-")


def test_entry_ids_without_a_salt_end_in_twelve_random_hex_digits() -> None:
    at = datetime(2026, 12, 1, 16, 19, 46, 538565, tzinfo=UTC)
    ids = {audit.new_entry_id(at) for _ in range(1000)}
    assert len(ids) == 1000  # 48 random bits: no two alike in a thousand
    for entry_id in ids:
        time_part, tail = entry_id.split("-")
        assert time_part == "20261201T161946538565Z"
        assert len(tail) == 12 and int(tail, 16) >= 0
