"""Card clicks' audit entries travel in their interaction and reach the audit stream in
batches: none is lost when an instance stops before copying, none is read twice when two
instances copy it, and none outlives an erase of its data subject."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.domain.interactions import Interaction
from bot.services import audit, keys
from bot.services.audit_feed import AuditFeed
from bot.services.store import Store, StoreError, read_model
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


class Batches:
    """A store whose audit batch writes are counted, can be held back or refused."""

    def __init__(self, inner: Store, *, refuse: bool = False) -> None:
        self._inner, self._refuse = inner, refuse
        self.entries: list[str] = []  # the ids of the entries written, in order
        self.attempts = 0
        self.tried = asyncio.Event()  # a write began
        self.answered = asyncio.Event()  # a write was done or refused
        self.release = asyncio.Event()
        self.release.set()

    async def create(self, key: str, data: bytes) -> str:
        self.attempts += 1
        self.tried.set()
        await self.release.wait()
        if self._refuse:
            self.answered.set()
            raise StoreError("the store is away")
        etag = await self._inner.create(key, data)
        self.entries += [e.id for e in audit.AuditBatch.model_validate_json(data).entries]
        self.answered.set()
        return etag

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def _fed(
    client: Client,
    connector: tuple[FakeConnector, str],
    store_refuses: bool = False,
    first: Callable[[Interaction], Interaction] | None = None,
) -> tuple[Interaction, Batches, AuditFeed]:
    """Link, then unlink, then a feed of batches of 2 given the interaction as stored
    (both clicks' entries uncopied): a full batch, whose write has begun. ``first`` makes
    an interaction the feed is given before."""
    fake, url = connector
    await _clicks(client, url, fake)
    ctx = client.app[CONTEXT]
    stored = await read_model(ctx.store, keys.interaction(TENANT, "call-1"), Interaction)
    assert stored is not None and len(stored.unaudited) == 2
    store = Batches(ctx.store, refuse=store_refuses)
    store.release.clear()
    feed = AuditFeed(window=HOUR, batch=2)
    if first is not None:
        feed.take(store, first(stored))
    feed.take(store, stored)
    await asyncio.wait_for(store.tried.wait(), timeout=30)
    return stored, store, feed


async def test_a_full_batch_is_copied_at_once_and_leaves_its_interaction(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """At a high click rate an interaction carries its last few clicks, not a window's."""
    stored, store, feed = await _fed(client, connector)
    store.release.set()
    await asyncio.wait_for(store.answered.wait(), timeout=30)

    assert store.entries == [c.entry_id for c in stored.unaudited]
    assert feed.trimmed(stored).unaudited == []
    assert [e.kind for e in await _card_entries(client)] == ["card.link", "card.unlink"]


async def test_a_batch_fills_with_one_tenants_entries(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """A busy tenant's full batch is written alone: the others' wait for the window, so
    each batch document still holds many entries however many tenants click."""

    def other_tenants(stored: Interaction) -> Interaction:
        change = stored.unaudited[0].model_copy(update={"entry_id": "20261201T000000000000Z-b"})
        return stored.model_copy(update={"tenant_id": "other-tenant", "unaudited": [change]})

    stored, store, feed = await _fed(client, connector, first=other_tenants)
    other = other_tenants(stored)
    store.release.set()
    await asyncio.wait_for(store.answered.wait(), timeout=30)

    assert store.entries == [c.entry_id for c in stored.unaudited]
    assert feed.trimmed(other) == other
    await feed.close()
    assert store.entries[2:] == [other.unaudited[0].entry_id]


async def test_entries_being_written_are_not_taken_again(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    stored, store, feed = await _fed(client, connector)
    feed.take(store, stored)  # the next click, before this one's write is done
    store.release.set()
    await feed.close()

    assert store.entries == [c.entry_id for c in stored.unaudited]  # each written once


async def test_a_refusing_store_is_not_asked_again_on_every_click(
    client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """After a refused write only the timer tries again (less and less often)."""
    stored, store, feed = await _fed(client, connector, store_refuses=True)
    store.release.set()
    await asyncio.wait_for(store.answered.wait(), timeout=30)
    feed.take(store, stored)
    feed.take(store, stored)
    await feed.close()  # its own last try

    assert store.attempts == 2
    assert feed.trimmed(stored) == stored  # nothing was copied: both still carried


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
