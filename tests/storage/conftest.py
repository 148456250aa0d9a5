"""Fixtures giving each storage test a fresh store of each kind.

The Azurite emulator is started once per session, and only when a blob-store test runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.services.store import Store
from tests.storage import StoreTarget, open_store


def unique_container_name() -> str:
    """A valid container name (3-63 lowercase letters, digits, hyphens) never used before."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.azurite)])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """Where this test's documents live: a new SQLite file, or a new Azurite container."""
    if request.param == "local":
        return ("local", str(tmp_path / "store.sqlite3"))
    connection_string: str = request.getfixturevalue("azurite_connection_string")
    return ("blob", connection_string, unique_container_name())


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    opened = open_store(store_target)
    try:
        yield opened
    finally:
        await opened.close()
