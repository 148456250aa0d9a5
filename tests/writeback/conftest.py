"""Two "processes" (store clients) on one store: a SQLite file, or an Azurite container."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.adapters.storage.blob import BlobStore
from bot.adapters.storage.local import LocalStore
from bot.services.store import Store
from tests.azurite import Azurite, start_azurite


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.azurite)])
async def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, Store]]:
    stores: list[Store]
    if request.param == "local":
        path = tmp_path / "state.sqlite3"
        stores = [LocalStore(path), LocalStore(path)]
    else:
        connection: str = request.getfixturevalue("azurite_connection_string")
        container = f"writeback-{uuid.uuid4().hex[:12]}"
        stores = [BlobStore(connection, container), BlobStore(connection, container)]
    try:
        yield stores[0], stores[1]
    finally:
        for store in stores:
            await store.close()


@pytest.fixture
async def one_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = LocalStore(tmp_path / "state.sqlite3")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
def azurite_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A private in-memory Azurite queue service for the session."""
    azurite = start_azurite("queue", workdir=tmp_path_factory.mktemp("azurite-queue"))
    try:
        yield azurite
    finally:
        azurite.stop()
