"""The agent's inbox: their latest interactions, newest last, whatever order writes land in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from bot.adapters.storage.local import LocalStore
from bot.services import keys
from bot.services.context import Context
from bot.services.interactions import INBOX_SIZE, AgentInbox, remember_for_agent
from bot.services.store import read_model


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    store = LocalStore(tmp_path / "inbox.sqlite3")
    yield Context(store=store, crms=cast(Any, None), delivery=cast(Any, None))
    await store.close()


async def inbox(ctx: Context) -> list[str]:
    found = await read_model(ctx.store, keys.agent_inbox("t", "agent"), AgentInbox)
    assert found is not None
    return found.interaction_ids


async def test_interactions_are_kept_newest_last_up_to_the_inbox_size(ctx: Context) -> None:
    for n in range(INBOX_SIZE + 3):
        await remember_for_agent(ctx, "t", "agent", f"call-{n}")
    await remember_for_agent(ctx, "t", "agent", "call-5")  # again: moves to the end
    ids = await inbox(ctx)
    assert len(ids) == INBOX_SIZE and ids[-1] == "call-5" and ids.count("call-5") == 1
    assert ids[0] == "call-3"


async def test_a_new_agents_first_interactions_arriving_at_once_are_all_kept(
    ctx: Context,
) -> None:
    await asyncio.gather(*(remember_for_agent(ctx, "t", "agent", f"call-{n}") for n in range(5)))
    assert sorted(await inbox(ctx)) == [f"call-{n}" for n in range(5)]
