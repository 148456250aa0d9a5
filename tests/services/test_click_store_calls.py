"""The store calls of one card click, counted: a change that adds one fails here.

A link click reads its interaction once and writes it once (compare-and-swap), with its
audit entry in it, and nothing else: the interaction carries its card's face and its
agent's language, whether the tenant has workflows is listed at most every few seconds
per instance, and the audit entries of many clicks reach the audit stream in one document.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.storage.local import LocalStore
from bot.domain.interactions import Interaction
from bot.services import audit, keys
from bot.services import store as store_module
from bot.services.store import Document, ReadOnce, Store, parsed, read_model
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import TENANT, interaction_event
from tests.bot.test_customer_card_flow import KEY, call_card, install, invoke, record_action
from tests.connector import FakeConnector

Client = TestClient[Any, Any]


class Recording:
    """A store that logs each call as it starts and as it ends."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.log: list[str] = []
        self.calls: list[tuple[str, str]] = []  # (call, full key), as each starts

    async def _logged(self, name: str, key: str, call: Any) -> Any:
        kind = key.split("/")[2] if key.count("/") >= 2 else key
        self.log.append(f"{name} {kind}")
        self.calls.append((name, key))
        try:
            return await call
        finally:
            self.log.append(f"{name} {kind} done")

    async def read(self, key: str) -> Document | None:
        result: Document | None = await self._logged("read", key, self.inner.read(key))
        return result

    async def create(self, key: str, data: bytes) -> str:
        result: str = await self._logged("create", key, self.inner.create(key, data))
        return result

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        await asyncio.sleep(0)  # as a network write would, let other tasks run meanwhile
        result: str = await self._logged("replace", key, self.inner.replace(key, data, etag))
        return result

    async def delete(self, key: str, etag: str | None = None) -> None:
        await self._logged("delete", key, self.inner.delete(key, etag))

    def keys(self, prefix: str) -> AsyncIterator[str]:
        kind = prefix.split("/")[2] if prefix.count("/") >= 2 else prefix
        self.log.extend((f"list {kind}", f"list {kind} done"))
        self.calls.append(("list", prefix))
        return self.inner.keys(prefix)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
async def recorded(
    aiohttp_client: Callable[..., Any], settings: Settings, tmp_path: Path
) -> tuple[Client, Recording]:
    store = Recording(LocalStore(tmp_path / "state.sqlite3"))
    client: Client = await aiohttp_client(create_app(settings, store=store))
    return client, store


async def test_a_link_click_reads_and_writes_its_interaction_only(
    recorded: tuple[Client, Recording], connector: tuple[FakeConnector, str]
) -> None:
    client, store = recorded
    fake, url = connector
    card = await call_card(client, url, fake)
    link = record_action(card, "link", "contact:")
    store.log.clear()

    linked = await invoke(client, url, "link", link["data"])

    calls = [entry for entry in store.log if not entry.endswith("done")]
    assert calls == ["read interactions", "replace interactions"]

    # The audit entries of both clicks reach the stream in one document.
    unlink = record_action(linked["value"], "unlink", "contact:")
    await invoke(client, url, "unlink", unlink["data"])
    store.log.clear()
    await client.app[CONTEXT].audit_feed.flush()
    assert [e for e in store.log if not e.endswith("done")] == ["create audit-log"]
    kinds = [e.kind for e in await audit.query(store, TENANT, audit.AuditQuery(kind="card"))]
    assert kinds == ["card.link", "card.unlink"]
    # The next click drops what was copied from the interaction it writes.
    relink = await invoke(client, url, "link", link["data"] | {"rev": link["data"]["rev"] + 2})
    assert record_action(relink["value"], "unlink", "contact:")
    stored = await read_model(store, keys.interaction(TENANT, "call-1"), Interaction)
    assert stored is not None and [c.linked for c in stored.unaudited] == [True]


async def test_a_prefetched_read_is_served_once_and_dropped_on_write(tmp_path: Path) -> None:
    inner = Recording(LocalStore(tmp_path / "state.sqlite3"))
    etag = await inner.create("tenants/t/cards/c", b"1")
    store = ReadOnce(inner)
    store.prefetch("tenants/t/cards/c")
    store.prefetch("tenants/t/cards/c")
    first = await store.read("tenants/t/cards/c")
    assert first is not None and first.data == b"1"
    await store.replace("tenants/t/cards/c", b"2", etag)
    again = await store.read("tenants/t/cards/c")
    assert again is not None and again.data == b"2"
    assert [e for e in inner.log if e.startswith("read") and not e.endswith("done")] == [
        "read cards",
        "read cards",
    ]


async def test_an_interaction_event_reads_and_writes_its_interaction_once(
    recorded: tuple[Client, Recording], connector: tuple[FakeConnector, str]
) -> None:
    """A new interaction is created with its first event applied (no read and rewrite
    after the create); an existing one's read serves its compare-and-swap. The last read
    is the one after the event listeners, who may have changed it."""
    client, store = recorded
    _, url = connector
    await install(client, url)

    def interaction_calls() -> list[str]:
        key = keys.interaction(TENANT, "call-1")
        return [f"{name} interaction" for name, called in store.calls if called == key]

    async def send(event: str, second: int) -> None:
        payload = interaction_event("call-1", event, occurred_at=f"2026-11-23T08:00:0{second}Z")
        response = await client.post("/api/interactions", json=payload, headers=KEY)
        assert response.status == 202, await response.text()

    store.calls.clear()
    await send("assigned", 0)
    assert interaction_calls() == ["read interaction", "create interaction", "read interaction"]

    store.calls.clear()
    await send("connected", 1)
    assert interaction_calls() == ["read interaction", "replace interaction", "read interaction"]


def counted_parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The interaction documents validated from now on (the test's end undoes it)."""
    parsed_documents: list[bytes] = []
    validate = Interaction.model_validate_json

    def counted(data: bytes) -> Interaction:
        parsed_documents.append(data)
        return validate(data)

    monkeypatch.setattr(Interaction, "model_validate_json", counted)
    return parsed_documents


async def test_a_click_validates_no_document_the_last_click_wrote(
    recorded: tuple[Client, Recording],
    connector: tuple[FakeConnector, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The interaction a click writes is what the next click reads: it is kept parsed, and
    equals what its stored bytes parse to."""
    client, store = recorded
    fake, url = connector
    link = record_action(await call_card(client, url, fake), "link", "contact:")
    linked = await invoke(client, url, "link", link["data"])
    validate = Interaction.model_validate_json
    parsed_documents = counted_parses(monkeypatch)
    unlink = record_action(linked["value"], "unlink", "contact:")
    unlinked = await invoke(client, url, "unlink", unlink["data"])
    assert record_action(unlinked["value"], "link", "contact:")
    assert parsed_documents == []

    key = keys.interaction(TENANT, "call-1")
    kept = await read_model(store, key, Interaction)
    document = await store.read(key)
    assert document is not None and kept == validate(document.data)
    assert kept is not None and not kept.links["demo:contact:C-2001"].linked


async def test_a_new_interaction_validates_no_document_its_event_wrote(
    recorded: tuple[Client, Recording],
    connector: tuple[FakeConnector, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The interaction a new interaction's event creates is kept parsed: the read after the
    event listeners gets it back, and it equals what its stored bytes parse to."""
    client, store = recorded
    _, url = connector
    await install(client, url)
    validate = Interaction.model_validate_json
    parsed_documents = counted_parses(monkeypatch)
    payload = interaction_event("call-1", "assigned", occurred_at="2026-11-23T08:00:00Z")
    response = await client.post("/api/interactions", json=payload, headers=KEY)
    assert response.status == 202, await response.text()
    assert parsed_documents == []

    key = keys.interaction(TENANT, "call-1")
    document = await store.read(key)
    assert document is not None
    assert await read_model(store, key, Interaction) == validate(document.data)


async def test_parsed_documents_are_kept_for_shared_models_and_their_bytes_only() -> None:
    interaction = Interaction.model_validate(
        {
            "id": "i",
            "tenant_id": "t",
            "card_id": "c",
            "channel": "voice",
            "agent": {"aad_object_id": "a"},
            "identities": [],
        }
    )
    first = Document(interaction.model_dump_json().encode(), '"1"')
    assert parsed(Interaction, first) is parsed(Interaction, first)
    # Another document under the same ETag (another store): parsed afresh, never mixed up.
    other = Document(interaction.bumped().model_dump_json().encode(), '"1"')
    assert parsed(Interaction, other).revision == 1
    assert parsed(Interaction, first).revision == 0
    batch = Document(b'{"entries": []}', '"2"')  # frozen, but not said to be shared
    assert parsed(audit.AuditBatch, batch) is not parsed(audit.AuditBatch, batch)
    for revision in range(3 * store_module._KEPT):  # a bounded memory, whatever was read
        bumped = interaction.model_copy(update={"revision": revision})
        parsed(Interaction, Document(bumped.model_dump_json().encode(), f'"r{revision}"'))
    assert len(store_module._parsed) == store_module._KEPT
