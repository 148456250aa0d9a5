from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.services.context import Context
from tests.merge.instances import open_instances


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.azurite)])
async def instances(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Context, Context]]:
    """Two bot instances' contexts on one store, on SQLite and on Azurite."""
    azurite = (
        request.getfixturevalue("azurite_connection_string") if request.param == "blob" else None
    )
    async with open_instances(request.param, tmp_path, azurite) as both:
        yield both
