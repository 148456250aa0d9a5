"""Live customer cards for the tab: an in-process publish/subscribe of each agent's card.

A tab subscribes to ``(tenant, agent)`` and is told the agent's current card whenever it
may have changed. Two things say "may have changed":

- every delivery of a card (``LiveDelivery``, one leg of ``CompositeDelivery``), which
  covers interaction events and actions taken in the tab;
- every write of an interaction or an agent's inbox to the store (``ObservedStore``),
  which also covers card actions answered directly by the bot's invoke response.

A change is turned into a card at most once at a time per agent (later changes coalesce
into one more rendering), only while someone is subscribed, and sent only when it differs
from the last card that agent's subscribers got. Each subscriber holds the latest value
only, so a slow tab never builds a backlog.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from bot.domain.interactions import Interaction
from bot.services.context import Context
from bot.services.interactions import latest_for_agent
from bot.services.rendering import card_for
from bot.services.store import Document, Store

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (tenant id, agent's Entra object id)

_INTERACTION_KEY = re.compile(r"^tenants/([^/]+)/interactions/([^/]+)$")
_INBOX_KEY = re.compile(r"^tenants/([^/]+)/agents/([^/]+)/inbox$")


class Subscription:
    """One open tab: holds the newest payload not yet taken, never a queue of them."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self._latest: str | None = None
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, payload: str) -> None:
        self._latest = payload
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self, timeout: float) -> str | None:
        """The next payload, or None when ``timeout`` passes first (time for a heartbeat)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return None
        self._ready.clear()
        payload, self._latest = self._latest, None
        return payload


class LiveCards:
    """The hub: who is watching which agent's card, and what they were last sent."""

    def __init__(self) -> None:
        self._ctx: Context | None = None
        self._subscribers: dict[Key, set[Subscription]] = {}
        self._last: dict[Key, str] = {}
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._dirty: set[Key] = set()

    def bind(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            raise RuntimeError("LiveCards is not bound to a context")
        return self._ctx

    # -- what a tab sees -------------------------------------------------------------

    async def current(self, tenant_id: str, agent_id: str) -> dict[str, Any]:
        """The agent's current card, as the tab API and the event stream send it."""
        interaction = await latest_for_agent(self.ctx, tenant_id, agent_id)
        if interaction is None:
            return {"interactionId": None, "revision": None, "card": None}
        return {
            "interactionId": interaction.id,
            "revision": interaction.revision,
            "card": await card_for(self.ctx, interaction),
        }

    def subscriber_count(self, tenant_id: str, agent_id: str) -> int:
        return len(self._subscribers.get((tenant_id, agent_id), ()))

    async def subscribe(self, tenant_id: str, agent_id: str) -> Subscription:
        """A new subscription, primed with the current card."""
        key = (tenant_id, agent_id)
        subscription = Subscription(key)
        self._subscribers.setdefault(key, set()).add(subscription)
        payload = _encode(await self.current(tenant_id, agent_id))
        self._last[key] = payload
        subscription.offer(payload)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        watchers = self._subscribers.get(subscription.key)
        if watchers is None:
            return
        watchers.discard(subscription)
        if not watchers:
            del self._subscribers[subscription.key]
            self._last.pop(subscription.key, None)

    async def close(self) -> None:
        """End every stream (application shutdown)."""
        for watchers in list(self._subscribers.values()):
            for subscription in list(watchers):
                subscription.close()
        for task in list(self._running.values()):
            task.cancel()

    # -- what says the card may have changed ------------------------------------------

    def changed(self, tenant_id: str, agent_id: str) -> None:
        """Re-render the agent's card for its subscribers, soon; coalesces bursts."""
        key = (tenant_id, agent_id)
        if key not in self._subscribers:
            return
        if key in self._running:
            self._dirty.add(key)
            return
        self._running[key] = asyncio.get_running_loop().create_task(self._render(key))

    async def _render(self, key: Key) -> None:
        try:
            while True:
                self._dirty.discard(key)
                await asyncio.sleep(0)  # let the writer that told us finish its turn
                if key not in self._subscribers:
                    return
                try:
                    payload = _encode(await self.current(*key))
                except Exception:
                    log.exception("could not render the live card of agent %s", key[1])
                    payload = None
                if payload is not None and payload != self._last.get(key):
                    self._last[key] = payload
                    for subscription in list(self._subscribers.get(key, ())):
                        subscription.offer(payload)
                if key not in self._dirty:
                    return
        finally:
            self._running.pop(key, None)

    def store_written(self, key: str, data: bytes) -> None:
        """Hook for :class:`ObservedStore`: an interaction or an inbox was written."""
        inbox = _INBOX_KEY.match(key)
        if inbox:
            self.changed(unquote(inbox.group(1)), unquote(inbox.group(2)))
            return
        match = _INTERACTION_KEY.match(key)
        if not match:
            return
        tenant_id = unquote(match.group(1))
        if not any(tenant == tenant_id for tenant, _ in self._subscribers):
            return
        try:
            agent_id = Interaction.model_validate_json(data).agent.aad_object_id
        except ValueError:
            return
        self.changed(tenant_id, agent_id)


def _encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class LiveDelivery:
    """The tab's leg of delivery: a delivered card is news for that agent's open tabs."""

    def __init__(self, live: LiveCards) -> None:
        self._live = live

    async def deliver(self, interaction: Interaction, card: dict[str, Any]) -> bool:
        key = (interaction.tenant_id, interaction.agent.aad_object_id)
        self._live.changed(*key)
        return self._live.subscriber_count(*key) > 0

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


class ObservedStore:
    """A store that tells ``LiveCards`` about every successful write; otherwise the store."""

    def __init__(self, inner: Store, live: LiveCards) -> None:
        self._inner = inner
        self._live = live

    async def read(self, key: str) -> Document | None:
        return await self._inner.read(key)

    async def create(self, key: str, data: bytes) -> str:
        etag = await self._inner.create(key, data)
        self._live.store_written(key, data)
        return etag

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        new_etag = await self._inner.replace(key, data, etag)
        self._live.store_written(key, data)
        return new_etag

    async def delete(self, key: str, etag: str | None = None) -> None:
        await self._inner.delete(key, etag)

    def keys(self, prefix: str) -> AsyncIterator[str]:
        return self._inner.keys(prefix)

    async def close(self) -> None:
        await self._inner.close()
