"""The live-card hub: coalescing, latest-value subscribers, and the composite delivery."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from bot.domain.interactions import Interaction
from bot.services.live import LiveCards
from bot.services.publisher import CompositeDelivery


class CountingLive(LiveCards):
    """Renders a counter instead of a real card, and counts renderings."""

    def __init__(self) -> None:
        super().__init__()
        self.renders = 0
        self.version = 0

    async def current(self, tenant_id: str, agent_id: str) -> dict[str, Any]:
        self.renders += 1
        await asyncio.sleep(0)  # a rendering lets other tasks run, as a store read does
        return {"interactionId": "i", "revision": self.version, "card": {"v": self.version}}


async def test_a_burst_of_changes_renders_a_few_times_and_sends_the_latest() -> None:
    live = CountingLive()
    subscription = await live.subscribe("t", "a")
    assert await subscription.next(1) is not None  # the primed current card
    renders_before = live.renders
    for version in range(1, 51):
        live.version = version
        live.changed("t", "a")
    await live.settled()
    assert live.renders - renders_before <= 3
    payload = await subscription.next(1)
    assert payload is not None and '"revision":50' in payload
    assert await subscription.next(0) is None  # nothing queued behind the latest


async def test_changes_nobody_watches_render_nothing() -> None:
    live = CountingLive()
    live.changed("t", "a")
    live.store_written("tenants/t/agents/a/inbox", b"{}")
    await live.settled()
    assert live.renders == 0


async def test_unchanged_cards_are_not_sent_again() -> None:
    live = CountingLive()
    subscription = await live.subscribe("t", "a")
    await subscription.next(1)
    live.changed("t", "a")
    await live.settled()
    assert live.renders == 2  # rendered again, and found the same card
    assert await subscription.next(0) is None


async def test_closing_ends_every_subscription() -> None:
    live = CountingLive()
    subscription = await live.subscribe("t", "a")
    await live.close()
    await subscription.next(1)
    assert subscription.closed


class Leg:
    def __init__(self, result: bool | Exception, ids: list[str]) -> None:
        self.result, self.ids, self.calls = result, ids, 0

    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: object = None
    ) -> bool:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return self.ids


async def test_composite_delivery_reaches_every_leg_even_when_one_fails() -> None:
    interaction: Any = SimpleNamespace(id="call-1")
    failing, working = Leg(RuntimeError("teams down"), ["29:a"]), Leg(True, ["29:a", "29:b"])
    composite = CompositeDelivery(failing, working)
    assert await composite.deliver(interaction, {}) is True
    assert failing.calls == working.calls == 1
    assert await composite.refresh_user_ids(interaction) == ["29:a", "29:b"]
    with pytest.raises(RuntimeError):
        await CompositeDelivery(failing, Leg(False, [])).deliver(interaction, {})
