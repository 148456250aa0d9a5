"""Two store clients on one shared store (SQLite file, or an Azurite container), as two
bot processes would have, and the checks every merge test makes of what they leave."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.composition import open_store
from bot.domain import identifiers
from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.identifiers import Channel
from bot.domain.interactions import Agent, Interaction, ShownRecords
from bot.domain.merge import MarkerRole, MergeMarker
from bot.services import keys
from bot.services.cards import IndexEntry, attach_interaction, live_card, resolve_card
from bot.services.context import Context
from bot.services.store import create_model, read_model
from bot.settings import Settings, StoreKind
from tests.domain.factories import record

TENANT = "t-merge"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class NoCrms:
    async def clients(self, tenant_id: str) -> list[Any]:
        return []


class NoDelivery:
    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        return True

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


@contextlib.asynccontextmanager
async def open_instances(
    kind: str, tmp_path: Path, azurite: str | None = None
) -> AsyncIterator[tuple[Context, Context]]:
    """Two contexts on one store: ``local`` (a SQLite file) or ``blob`` (on ``azurite``)."""
    if kind == "local":
        settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    else:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path,
            store=StoreKind.blob,
            blob_connection_string=azurite,
            blob_container=f"merge-{uuid.uuid4().hex[:12]}",
        )
    stores = [open_store(settings), open_store(settings)]
    try:
        yield tuple(  # type: ignore[misc]
            Context(store=s, crms=NoCrms(), delivery=NoDelivery(), clock=lambda: NOW)
            for s in stores
        )
    finally:
        for store in stores:
            await store.close()


async def make_card(ctx: Context, interaction_id: str, channel: Channel, raw: str) -> str:
    make = identifiers.email if "@" in raw else identifiers.phone
    identity = CardIdentity(channel=channel, identifier=make(raw))
    card, _ = await resolve_card(ctx.store, TENANT, [identity], None, NOW)
    contact = record("contact", "C-1", "Edward Ferrars")
    cases = {r.ref.key: r for r in (record("case", f"K-{n}") for n in range(8))}
    interaction = Interaction(
        id=interaction_id,
        tenant_id=TENANT,
        card_id=card.id,
        channel=channel,
        agent=Agent(aad_object_id="agent"),
        identities=[identity],
        shown=ShownRecords(records={contact.ref.key: contact, **cases}, person=[contact.ref.key]),
    )
    await create_model(ctx.store, keys.interaction(TENANT, interaction_id), interaction)
    await attach_interaction(ctx.store, TENANT, card.id, interaction_id)
    return card.id


async def assert_consistent(ctx: Context, all_identities: set[str], interactions: set[str]) -> None:
    """Every identity and interaction is on exactly one live card, and the index agrees."""
    cards: dict[str, CustomerCard] = {}
    async for key in ctx.store.keys(keys.cards_prefix(TENANT)):
        card = await read_model(ctx.store, key, CustomerCard)
        assert card is not None
        if await live_card(ctx.store, TENANT, card.id) is not None:
            cards[card.id] = card
    seen_identities: dict[str, str] = {}
    seen_interactions: dict[str, str] = {}
    for card in cards.values():
        for identity in card.identities:
            assert identity.key not in seen_identities, f"{identity.key} on two live cards"
            seen_identities[identity.key] = card.id
            entry = await read_model(ctx.store, keys.card_index(TENANT, identity.key), IndexEntry)
            assert entry is not None and entry.card_id == card.id
        for interaction_id in card.interaction_ids:
            assert interaction_id not in seen_interactions
            seen_interactions[interaction_id] = card.id
            stored = await read_model(
                ctx.store, keys.interaction(TENANT, interaction_id), Interaction
            )
            assert stored is not None and stored.card_id == card.id
    assert set(seen_identities) == all_identities
    assert set(seen_interactions) == interactions
    async for key in ctx.store.keys(keys.tenant_prefix(TENANT) + "card-merges/"):
        marker = await read_model(ctx.store, key, MergeMarker)
        assert marker is not None and marker.role is MarkerRole.absorbed, "lock left"
    await assert_markers_flagged(ctx)


async def assert_markers_flagged(ctx: Context) -> None:
    """No card document with a merge marker says it was never merged: a reader that
    trusts the card's ``never_merged`` and skips reading its marker misses none. Read
    from the stored JSON, as another instance reads it."""
    async for key in ctx.store.keys(keys.cards_prefix(TENANT)):
        document = await ctx.store.read(key)
        assert document is not None
        stored = json.loads(document.data)
        if stored.get("never_merged", False):
            marker = await ctx.store.read(keys.card_merge(TENANT, stored["id"]))
            assert marker is None, f"card {stored['id']} says it never merged, has a marker"
