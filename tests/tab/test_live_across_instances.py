"""Live tab updates across two bot instances sharing one store (SQLite file, or Azurite).

A tab's event stream is served by one instance; the change may be made through another
(an interaction event, a click in Teams). The serving instance watches the agent's card
sources in the store while that tab is open: one watcher per agent, stopped when the
last tab closes. The watchers' wait between two looks is in the tests' hands
(:class:`Ticks`): a test says when they look, instead of sleeping and hoping they did.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.storage.local import LocalStore
from bot.composition import open_store
from bot.services import keys
from bot.services.interactions import AgentInbox
from bot.services.live import LiveCards, ObservedStore
from bot.services.store import Store
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.tab import HEARTBEAT_SECONDS, LIVE
from tests.activities import AGENT
from tests.bot.test_concurrency import _settings
from tests.bot.test_customer_card_flow import install, invoke, record_action, start_call, texts
from tests.connector import FakeConnector
from tests.store_wrapper import StoreWrapper
from tests.tab.test_tab_api import next_card

Client = TestClient[Any, Any]
WATCH = 0.05  # the heartbeat, and the watch interval the watchers are given (they look on ticks)
INBOX = keys.agent_inbox("demo-tenant", AGENT)


class CountingStore(StoreWrapper):
    """The store, counting reads per key."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.reads: Counter[str] = Counter()

    async def before(self, call: str, key: str) -> None:
        if call == "read":
            self.reads[key] += 1


class Ticks:
    """The watchers' sleep: a watcher waits in it until the test calls :meth:`tick`."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._round = 0
        self.asleep = 0
        """Watchers waiting for the next tick."""
        self.naps = 0
        """Waits begun so far: one when a watcher starts, one after each of its looks."""

    async def sleep(self, seconds: float) -> None:
        async with self._changed:
            self.asleep += 1
            self.naps += 1
            self._changed.notify_all()
            started = self._round
            try:
                await self._changed.wait_for(lambda: self._round != started)
            finally:
                self.asleep -= 1

    async def tick(self, watchers: int = 1) -> None:
        """Let ``watchers`` sleeping watchers look once; return when they are asleep again
        (fails after 5 s if fewer are asleep or some never return to sleep)."""
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: self.asleep >= watchers)
            naps = self.naps
            self._round += 1
            self._changed.notify_all()
            await self._changed.wait_for(lambda: self.naps >= naps + watchers)


@asynccontextmanager
async def two_instances(
    settings: Settings, ticks: Ticks
) -> AsyncIterator[tuple[Client, Client, CountingStore]]:
    """Instances A and B on one store; B's store reads are counted, and B's watchers look
    when ``ticks`` says so."""
    settings = settings.model_copy(update={"live_watch_seconds": WATCH})
    counted = CountingStore(open_store(settings))
    app_b = create_app(settings, store=counted, live=LiveCards(WATCH, sleep=ticks.sleep))
    app_b[HEARTBEAT_SECONDS] = WATCH  # B notices a closed tab at its next heartbeat
    clients = [TestClient(TestServer(create_app(settings))), TestClient(TestServer(app_b))]
    for client in clients:
        await client.start_server()
    try:
        yield clients[0], clients[1], counted
    finally:
        for client in clients:
            await client.close()


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


KINDS = ["local", pytest.param("blob", marks=pytest.mark.azurite)]


@pytest.mark.parametrize("kind", KINDS)
async def test_an_interaction_started_through_a_reaches_a_tab_on_b(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings, ticks = _settings(kind, tmp_path, request), Ticks()
    async with two_instances(settings, ticks) as (a, b, _), b.get("/api/tab/events") as stream:
        assert (await next_card(stream))["card"] is None
        await start_call(a)
        await ticks.tick()  # B's watcher looks, and sees what A wrote
        update = await next_card(stream)
        while update["card"] is None:
            update = await next_card(stream)
        assert update["interactionId"] == "call-1"
        assert "Current interaction" in texts(update["card"])


@pytest.mark.parametrize("kind", KINDS)
async def test_a_record_linked_in_teams_through_a_reaches_a_tab_on_b(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    connector: tuple[FakeConnector, str],
) -> None:
    _, url = connector
    ticks = Ticks()
    async with two_instances(_settings(kind, tmp_path, request), ticks) as (a, b, _):
        await install(a, url)
        await start_call(a)
        async with b.get("/api/tab/events") as stream:
            first = await next_card(stream)
            assert first["interactionId"] == "call-1"
            link = record_action(first["card"], "link", "contact:C-2001")
            body = await invoke(a, url, "link", link["data"])
            assert body["statusCode"] == 200, body
            await ticks.tick()
            update = await next_card(stream)
            assert update["revision"] > first["revision"]
            assert record_action(update["card"], "unlink", "contact:C-2001")


async def test_the_watcher_stops_when_the_last_tab_closes(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ticks = Ticks()
    async with two_instances(_settings("local", tmp_path, request), ticks) as (a, b, counted):
        await start_call(a)
        live = b.app[LIVE]
        async with b.get("/api/tab/events") as stream:
            await next_card(stream)
            assert live.watcher_count() == 1
            reads = counted.reads[INBOX]
            await ticks.tick()
            assert counted.reads[INBOX] == reads + 1, "an open tab is watched"
        await eventually(lambda: live.subscriber_count("demo-tenant", AGENT) == 0)
        assert live.watcher_count() == 0
        # nobody watches once the tab is closed: its watcher was stopped in its sleep
        await eventually(lambda: ticks.asleep == 0)


async def test_one_watcher_however_many_tabs_an_agent_has_open(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ticks = Ticks()
    async with two_instances(_settings("local", tmp_path, request), ticks) as (a, b, counted):
        await start_call(a)
        live = b.app[LIVE]
        streams = [await b.get("/api/tab/events") for _ in range(4)]
        try:
            for stream in streams:
                await next_card(stream)
            assert live.subscriber_count("demo-tenant", AGENT) == 4
            assert live.watcher_count() == 1
            reads = counted.reads[INBOX]
            for _ in range(5):
                await ticks.tick()
            assert ticks.asleep == 1
            assert counted.reads[INBOX] - reads == 5  # one watcher's looks, not four

            # A change through A is still seen once by every tab on B.
            payload_a = await start_call(a, "call-2")
            assert payload_a
            await ticks.tick()
            for stream in streams:
                update = await next_card(stream)
                while update["interactionId"] != "call-2":
                    update = await next_card(stream)
        finally:
            for stream in streams:
                stream.close()
        await eventually(lambda: live.watcher_count() == 0)


async def test_app_cleanup_stops_the_watchers(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ticks = Ticks()
    async with two_instances(_settings("local", tmp_path, request), ticks) as (_, b, _):
        live = b.app[LIVE]
        stream = await b.get("/api/tab/events")
        await next_card(stream)
        assert live.watcher_count() == 1
        await ticks.tick()  # watching
        await b.server.close()  # runs the app's shutdown and cleanup with the tab open
        assert live.watcher_count() == 0
        assert ticks.asleep == 0, "the watcher was stopped, not left asleep"
        stream.close()


class RenderCounting(LiveCards):
    """Renders the inbox document itself, and counts renderings."""

    def __init__(self, ticks: Ticks) -> None:
        super().__init__(watch_seconds=WATCH, sleep=ticks.sleep)
        self.renders = 0

    async def current(self, tenant_id: str, agent_id: str) -> dict[str, Any]:
        self.renders += 1
        document = await self.ctx.store.read(keys.agent_inbox(tenant_id, agent_id))
        return {"card": document.data.decode() if document else None}


def inbox(*ids: str) -> bytes:
    return AgentInbox(interaction_ids=list(ids)).model_dump_json().encode()


async def test_only_an_etag_change_made_elsewhere_causes_a_rendering(tmp_path: Path) -> None:
    inner = LocalStore(tmp_path / "state.sqlite3")
    ticks = Ticks()
    live = RenderCounting(ticks)
    observed = ObservedStore(inner, live)
    live.bind(cast(Any, SimpleNamespace(store=observed)))

    async def look(times: int = 1) -> None:
        for _ in range(times):
            await ticks.tick()
        await live.settled()

    try:
        subscription = await live.subscribe("demo-tenant", AGENT)
        assert await subscription.next(1) is not None
        await look(4)
        assert live.renders == 1, "a quiet store is watched without rendering"

        etag = await inner.create(INBOX, inbox("call-1"))  # another instance writes
        await look()
        assert live.renders == 2
        assert "call-1" in (await subscription.next(1) or "")

        await inner.create(keys.interaction("demo-tenant", "call-1"), b"{}")  # and again
        await look()
        assert live.renders == 3

        await observed.replace(INBOX, inbox("call-0", "call-1"), etag)  # this instance writes
        await live.settled()
        assert live.renders == 4
        assert "call-0" in (await subscription.next(1) or "")
        await look(4)
        assert live.renders == 4, "the watcher does not report this instance's own write"
    finally:
        await live.close()
        await inner.close()
