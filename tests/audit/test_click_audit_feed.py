"""Card clicks' audit entries travel in their interaction and reach the audit stream in
batches: none is lost when an instance stops before copying, none is read twice when two
instances copy it, and none outlives an erase of its data subject."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.domain.interactions import Interaction
from bot.services import audit, keys
from bot.services.audit_feed import AuditFeed
from bot.services.store import read_model
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import TENANT
from tests.bot.test_customer_card_flow import call_card, invoke, record_action
from tests.cards import actions
from tests.connector import FakeConnector
from tests.gdpr.test_data_subjects import MARIANNE, event

Client = TestClient[Any, Any]
ADMIN = {"X-Admin-Key": "demo-admin-key"}
HOUR = 3600.0  # a feed that would not copy by itself while the test runs


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], settings: Settings, tmp_path: Path) -> Client:
    made: Client = await aiohttp_client(create_app(settings))
    made.app[CONTEXT].audit_feed = AuditFeed(window=HOUR)
    return made


async def _clicks(client: Client, url: str, fake: FakeConnector) -> dict[str, Any]:
    """Link, then unlink Edward's contact: the card after both."""
    card = await call_card(client, url, fake)
    linked = await invoke(client, url, "link", record_action(card, "link", "contact:")["data"])
    unlink = record_action(linked["value"], "unlink", "contact:")
    unlinked: dict[str, Any] = (await invoke(client, url, "unlink", unlink["data"]))["value"]
    return unlinked


async def _card_entries(client: Client) -> list[audit.AuditEntry]:
    ctx = client.app[CONTEXT]
    return await audit.query(ctx.store, TENANT, audit.AuditQuery(kind="card"))


async def test_an_instance_stopping_before_it_copied_loses_no_entry(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    card = await _clicks(client, url, fake)
    ctx = client.app[CONTEXT]
    stored = await read_model(ctx.store, keys.interaction(TENANT, "call-1"), Interaction)
    assert stored is not None and [c.linked for c in stored.unaudited] == [True, False]
    assert await _card_entries(client) == []  # not copied yet

    ctx.audit_feed = AuditFeed(window=HOUR)  # the instance died; its waiting entries with it
    await invoke(client, url, "link", record_action(card, "link", "contact:")["data"])
    await ctx.audit_feed.flush()
    assert [e.kind for e in await _card_entries(client)] == [
        "card.link",
        "card.unlink",
        "card.link",
    ]


async def test_an_entry_two_instances_copied_is_read_once(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await _clicks(client, url, fake)
    ctx = client.app[CONTEXT]
    stored = await read_model(ctx.store, keys.interaction(TENANT, "call-1"), Interaction)
    assert stored is not None
    other = AuditFeed(window=HOUR)  # another instance, which wrote the interaction next
    other.take(ctx.store, stored)
    await other.flush()
    await ctx.audit_feed.flush()

    response = await client.get("/api/admin/audit?kind=card", headers=ADMIN)
    entries = (await response.json())["entries"]
    assert [e["kind"] for e in entries] == ["card.link", "card.unlink"]
    assert entries[0]["details"] == {"interactionId": "call-1", "cardId": stored.card_id}
    assert entries[0]["door"] == "teams"


async def test_the_admin_sees_this_instances_clicks_at_once(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await _clicks(client, url, fake)
    response = await client.get("/api/admin/audit?kind=card", headers=ADMIN)
    assert [e["kind"] for e in (await response.json())["entries"]] == ["card.link", "card.unlink"]


async def test_an_erase_leaves_no_waiting_entry_of_the_subject(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await _clicks(client, url, fake)
    assert await _card_entries(client) == []  # both entries still waiting in the feed
    response = await client.post(
        "/api/admin/data-subjects/erase", json={"phone": "+1 555 0100"}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    await client.app[CONTEXT].audit_feed.flush()
    entries = await _card_entries(client)
    assert len(entries) == 2  # the events stay, pseudonymized
    assert all('"call-1"' not in e.model_dump_json() for e in entries)


async def test_an_export_holds_only_the_subjects_entries_of_a_shared_batch(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    await _clicks(client, url, fake)  # Edward's call
    for name in ("assigned", "connected"):
        await event(client, "call-2", name, customer=MARIANNE)
    marianne = fake.cards()[-1].card or {}
    await invoke(client, url, "link", actions(marianne, "link")[0]["data"])
    await client.app[CONTEXT].audit_feed.flush()  # one batch: Edward's and Marianne's clicks

    response = await client.post(
        "/api/admin/data-subjects/export", json={"phone": "+1 555 0100"}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    clicks = [e for e in (await response.json())["auditEntries"] if e["kind"].startswith("card")]
    assert [e["details"]["interactionId"] for e in clicks] == ["call-1", "call-1"]
    assert {e["tenantId"] for e in clicks} == {TENANT}  # the audit API's names, as everywhere
