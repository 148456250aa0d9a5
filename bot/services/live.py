"""Live customer cards for the tab: an in-process publish/subscribe of each agent's card.

A tab subscribes to ``(tenant, agent)`` and is told the agent's current card whenever it
may have changed. Two things say "may have changed":

- every delivery of a card (``LiveDelivery``, one leg of ``CompositeDelivery``), which
  covers interaction events and actions taken in the tab;
- every write of an interaction or an agent's inbox to the store (``ObservedStore``),
  which also covers card actions answered directly by the bot's invoke response;
- a change made by *another instance* sharing the store, which none of the above sees:
  while an agent has at least one open subscription here, one :class:`_Watcher` per
  ``(tenant, agent)`` reads the agent's inbox document and its latest interaction document
  every ``watch_seconds`` (two point reads, no listing) and says "changed" only when an
  ETag differs from the last one seen here, whether read or written by this instance.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import orjson

from bot.domain.interactions import Interaction
from bot.services import keys
from bot.services.context import Context
from bot.services.interactions import AgentInbox, latest_for_agent
from bot.services.publisher import Reached
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
        """The next payload, or None when ``timeout`` passes first (time for a heartbeat);
        one already there is taken at once, even with no ``timeout`` at all."""
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        self._ready.clear()
        payload, self._latest = self._latest, None
        return payload


_UNKNOWN = "\x00unknown"  # an ETag no store hands out: "look again and call it a change"


class _Watcher:
    """The ETags of one agent's card sources as last seen by this instance.

    The card is rendered from the agent's inbox (which interaction is the latest) and that
    interaction's document, so those two documents are all a change made elsewhere can
    touch. ``None`` stands for "no such document".
    """

    def __init__(self, key: Key) -> None:
        self.tenant_id = key[0]
        self.inbox_key = keys.agent_inbox(*key)
        self.inbox_etag: str | None = None
        self.interaction_key: str | None = None
        self.interaction_etag: str | None = None
        self.task: asyncio.Task[None] | None = None

    def _follow_inbox(self, data: bytes) -> bool:
        """Take the latest interaction from inbox ``data``; True when it is another one."""
        try:
            ids = AgentInbox.model_validate_json(data).interaction_ids
        except ValueError:
            ids = []
        key = keys.interaction(self.tenant_id, ids[-1]) if ids else None
        if key == self.interaction_key:
            return False
        self.interaction_key = key
        self.interaction_etag = _UNKNOWN
        return True

    async def look(self, store: Store) -> bool:
        """Read both sources (point reads); True when anything differs from last time."""
        changed = False
        inbox = await store.read(self.inbox_key)
        inbox_etag = inbox.etag if inbox is not None else None
        if inbox_etag != self.inbox_etag:
            changed = True
            self.inbox_etag = inbox_etag
            if inbox is None:
                self.interaction_key, self.interaction_etag = None, None
            else:
                self._follow_inbox(inbox.data)
        if self.interaction_key is not None:
            interaction = await store.read(self.interaction_key)
            etag = interaction.etag if interaction is not None else None
            if etag != self.interaction_etag:
                changed = True
                self.interaction_etag = etag
        return changed

    def written(self, key: str, data: bytes, etag: str) -> None:
        """This instance wrote one of the sources (and will re-render by itself)."""
        if key == self.inbox_key:
            self.inbox_etag = etag
            self._follow_inbox(data)
        elif key == self.interaction_key:
            self.interaction_etag = etag


class LiveCards:
    """The hub: who is watching which agent's card, and what they were last sent.

    ``watch_seconds``: how often an agent with open subscriptions has its card sources
    checked in the store for changes made by other instances; ``None``: never (one
    instance, or tests of the hub alone). ``sleep`` is how a watcher waits between two
    looks (tests drive the watchers by hand through it).
    """

    def __init__(
        self,
        watch_seconds: float | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._ctx: Context | None = None
        self._subscribers: dict[Key, set[Subscription]] = {}
        self._last: dict[Key, str] = {}
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._dirty: set[Key] = set()
        self._watch_seconds = watch_seconds
        self._watchers: dict[Key, _Watcher] = {}
        self._sleep = sleep
        self._closed = False

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

    def watcher_count(self) -> int:
        """How many agents this instance is watching the store for (one per agent)."""
        return len(self._watchers)

    async def subscribe(self, tenant_id: str, agent_id: str) -> Subscription:
        """A new subscription, primed with the current card."""
        key = (tenant_id, agent_id)
        subscription = Subscription(key)
        self._subscribers.setdefault(key, set()).add(subscription)
        try:
            await self._watch(key)  # before rendering: a change after the render is seen
            payload = _encode(await self.current(tenant_id, agent_id))
        except BaseException:
            self.unsubscribe(subscription)
            raise
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
            watcher = self._watchers.pop(subscription.key, None)
            if watcher is not None and watcher.task is not None:
                watcher.task.cancel()

    async def settled(self) -> None:
        """Return once no rendering is under way (every change told so far is sent)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def close(self) -> None:
        """End every stream and stop watching the store (shutdown; safe to call again)."""
        self._closed = True
        for watchers in list(self._subscribers.values()):
            for subscription in list(watchers):
                subscription.close()
        tasks = [w.task for w in self._watchers.values() if w.task is not None]
        tasks += list(self._running.values())
        self._watchers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- changes made by other instances ----------------------------------------------

    async def _watch(self, key: Key) -> None:
        """Start the agent's watcher unless one runs: ETags first, then the polling task."""
        if self._watch_seconds is None or self._closed or key in self._watchers:
            return
        watcher = _Watcher(key)
        self._watchers[key] = watcher
        try:
            await watcher.look(self.ctx.store)  # what the card about to be rendered shows
        except Exception:
            log.warning("could not read the live card sources of agent %s", key[1], exc_info=True)
        if self._watchers.get(key) is watcher:  # still wanted after that read
            watcher.task = asyncio.get_running_loop().create_task(self._poll(key, watcher))

    async def _poll(self, key: Key, watcher: _Watcher) -> None:
        assert self._watch_seconds is not None
        while self._watchers.get(key) is watcher:
            await self._sleep(self._watch_seconds)
            try:
                if await watcher.look(self.ctx.store):
                    self.changed(*key)
            except Exception:
                log.warning("could not watch the live card of agent %s", key[1], exc_info=True)

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

    def store_written(self, key: str, data: bytes, etag: str | None = None) -> None:
        """Hook for :class:`ObservedStore`: an interaction or an inbox was written."""
        inbox = _INBOX_KEY.match(key)
        if inbox:
            agent = (unquote(inbox.group(1)), unquote(inbox.group(2)))
            self._written_here(agent, key, data, etag)
            self.changed(*agent)
            return
        match = _INTERACTION_KEY.match(key)
        if not match:
            return
        tenant_id = unquote(match.group(1))
        if not any(tenant == tenant_id for tenant, _ in self._subscribers):
            return
        try:  # only its agent is needed: read without validating the whole document again
            agent_id = orjson.loads(data)["agent"]["aad_object_id"]
        except (ValueError, KeyError, TypeError):
            return
        if not isinstance(agent_id, str):
            return
        self._written_here((tenant_id, agent_id), key, data, etag)
        self.changed(tenant_id, agent_id)

    def _written_here(self, agent: Key, key: str, data: bytes, etag: str | None) -> None:
        """A write by this instance is news already: its watcher need not report it again."""
        watcher = self._watchers.get(agent)
        if watcher is not None and etag is not None:
            watcher.written(key, data, etag)


def _encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class LiveDelivery:
    """The tab's leg of delivery: a delivered card is news for that agent's open tabs."""

    def __init__(self, live: LiveCards) -> None:
        self._live = live

    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: Reached | None = None
    ) -> bool:
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
        self._live.store_written(key, data, etag)
        return etag

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        new_etag = await self._inner.replace(key, data, etag)
        self._live.store_written(key, data, new_etag)
        return new_etag

    async def delete(self, key: str, etag: str | None = None) -> None:
        await self._inner.delete(key, etag)

    def keys(self, prefix: str) -> AsyncIterator[str]:
        return self._inner.keys(prefix)

    async def close(self) -> None:
        await self._inner.close()
