"""``crmcard cards reindex`` files cards that predate the merge indexes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.storage.local import LocalStore
from bot.cli import main
from bot.domain import identifiers
from bot.domain.cards import CardIdentity, CustomerCard, new_card
from bot.domain.identifiers import Channel
from bot.services import keys, merge_candidates
from bot.services.context import Context
from bot.services.store import create_model

TENANT = "demo-tenant"


def test_reindex_command_makes_old_cards_searchable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.sqlite3"
    card = new_card(
        TENANT,
        [CardIdentity(channel=Channel.email, identifier=identifiers.email("ed@example.com"))],
        "Edward Ferrars",
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    open_card = new_card(
        TENANT,
        [CardIdentity(channel=Channel.voice, identifier=identifiers.phone("+1 555 0100"))],
        None,
        datetime(2026, 11, 2, tzinfo=UTC),
    )

    async def write_old_cards() -> None:
        store = LocalStore(path)
        for written in (card, open_card):  # written before any index existed
            await create_model(store, keys.card(TENANT, written.id), written)
        await store.close()

    asyncio.run(write_old_cards())
    assert asyncio.run(search(path, open_card)) == []

    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path))
    assert main(["cards", "reindex", TENANT]) == 0
    assert "filed 2 cards" in capsys.readouterr().out

    assert asyncio.run(search(path, open_card)) == [card.id]


async def search(path: Path, open_card: CustomerCard) -> list[str]:
    store = LocalStore(path)
    ctx = Context(store=store, crms=None, delivery=None)  # type: ignore[arg-type]
    try:
        return [
            c.card_id
            for c in await merge_candidates.search(ctx, TENANT, open_card, "Edward Ferrars")
        ]
    finally:
        await store.close()
