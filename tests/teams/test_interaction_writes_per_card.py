"""The writes of one card's interaction documents through the Teams send, and why each is
needed while other instances share the store.

On Blob Storage every write is a request: a card with a CRM answering after the first
paint writes its interaction's two documents four times, in this order:

1. the interaction, created with the first paint's records (``bot.services.interactions``);
2. its Teams message, claimed before the first post (``bot.adapters.teams.delivery``):
   another instance delivering the same interaction's card meanwhile waits for that
   post instead of posting a second message;
3. the claim completed with the posted message's activity id, as soon as the post
   returns: another instance's update of the card (the interaction's next event) goes
   to that message;
4. the interaction with the late CRM's records (``bot.services.late_crm_answers``).

The message id and the late records are two documents, so two writes. Holding the id
back to write it with the late records, in the interaction, would leave the message
unknown to the other instances until the late CRMs answer (up to the CRM deadline), and
lost if the late update is cancelled (a deploy's drain) or fails: the tests below fail if
another instance cannot update the first paint at once, or if two instances post two
messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.crm.directory import SameForEveryTenant
from bot.composition import open_store
from bot.services import keys
from bot.services.context import Context
from bot.services.store import Document, Store
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import interaction_event
from tests.bot.test_customer_card_flow import KEY, install, texts
from tests.connector import FakeConnector, Sent
from tests.merge.test_name_index import CountingStore
from tests.merge.test_store_calls_per_card import ContactCrm

Client = TestClient[Any, Any]
TENANT = "demo-tenant"
MESSAGE = keys.interaction(TENANT, "call-1") + "/teams-message"
"""call-1's Teams message record: B's reads of it are counted and awaited."""


def context(client: Client) -> Context:
    assert client.app is not None
    ctx: Context = client.app[CONTEXT]
    return ctx


def with_a_late_crm(client: Client, late: ContactCrm) -> None:
    """Two CRMs answering within the first paint, ``late`` after it."""
    ctx = context(client)
    ctx.crms = SameForEveryTenant([ContactCrm("a", "a-1"), ContactCrm("b", "7"), late])
    ctx.crm_first_paint = 0.01


async def event(client: Client, interaction_id: str, name: str, second: int = 0) -> None:
    payload = interaction_event(interaction_id, name, occurred_at=f"2026-12-03T08:00:0{second}Z")
    response = await client.post("/api/interactions", json=payload, headers=KEY)
    assert response.status == 202, await response.text()


async def settle(client: Client) -> None:
    """Wait for the late CRMs' update of the cards out."""
    await asyncio.gather(*list(context(client).background))


def customer_cards(fake: FakeConnector) -> list[Sent]:
    return [sent for sent in fake.cards() if "Current interaction" in texts(sent.card or {})]


@asynccontextmanager
async def two_instances(
    settings: Settings, late: ContactCrm
) -> AsyncIterator[tuple[Client, Client, SeenReads]]:
    """Instances A and B on one store, both with ``late``; B's store calls are counted,
    its first read of call-1's Teams message awaitable."""
    counted = SeenReads(open_store(settings), MESSAGE)
    clients = [
        TestClient(TestServer(create_app(settings))),
        TestClient(TestServer(create_app(settings, store=counted))),
    ]
    for client in clients:
        await client.start_server()
        with_a_late_crm(client, late)
    try:
        yield clients[0], clients[1], counted
    finally:
        for client in clients:
            await client.close()


async def test_a_cards_interaction_documents_are_written_four_times(
    aiohttp_client: Callable[..., Any], settings: Settings, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    store = CountingStore(open_store(settings))
    client: Client = await aiohttp_client(create_app(settings, store=store))
    late = ContactCrm("c", "7", late=True)
    with_a_late_crm(client, late)
    await install(client, url)
    for interaction_id in ("call-1", "call-2"):  # a new caller, then the same caller again
        key = keys.interaction(TENANT, interaction_id)
        store.writes.clear()
        store.calls.clear()
        late.gate.clear()
        await event(client, interaction_id, "assigned")
        late.gate.set()
        await settle(client)
        written = [k.removeprefix(key) for k in store.writes if k.startswith(key)]
        assert written == ["", "/teams-message", "/teams-message", ""]
        assert store.calls["create interactions"] == 2  # the interaction; the claim
        assert store.calls["replace interactions"] == 2  # the message id; the late records
    assert [sent.method for sent in customer_cards(fake)] == ["POST", "PUT"] * 2


async def test_another_instance_updates_the_first_paint_before_the_late_crms_answer(
    settings: Settings, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    late = ContactCrm("c", "7", late=True)
    async with two_instances(settings, late) as (a, b, b_store):
        await install(a, url)
        await event(a, "call-1", "assigned")  # the first paint, the late CRM still out
        [first] = customer_cards(fake)
        await event(b, "call-1", "connected", second=1)
        assert b_store.reads.count(MESSAGE) == 1  # the message id there at B's first look
        late.gate.set()
        await settle(a)
        cards = customer_cards(fake)
    assert [(sent.method, sent.activity_id) for sent in cards] == [
        ("POST", first.activity_id),
        ("PUT", first.activity_id),  # B's connected
        ("PUT", first.activity_id),  # A's late records
    ]


class HeldPosts(FakeConnector):
    """A connector whose new messages wait for ``release``: ``posting`` is set as one begins."""

    def __init__(self) -> None:
        super().__init__()
        self.posting = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def _post(self, request: web.Request) -> web.Response:
        self.posting.set()
        await self.release.wait()
        return await super()._post(request)


class SeenReads(CountingStore):
    """A counting store that sets ``seen`` once ``key`` has been read."""

    def __init__(self, inner: Store, key: str) -> None:
        super().__init__(inner)
        self.key = key
        self.seen = asyncio.Event()

    async def read(self, key: str) -> Document | None:
        found = await super().read(key)
        if key == self.key:
            self.seen.set()
        return found


async def test_two_instances_delivering_one_interactions_card_post_one_message(
    aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    fake = HeldPosts()
    url = str((await aiohttp_server(fake.app())).make_url("")).rstrip("/")
    late = ContactCrm("c", "7")  # every CRM within the first paint
    async with two_instances(settings, late) as (a, b, b_store):
        await install(a, url)
        await fake.wait_for(1)  # the welcome card
        fake.posting.clear()
        fake.release.clear()
        first_paint = asyncio.ensure_future(event(a, "call-1", "assigned"))
        await fake.posting.wait()  # A's post is under way, its claim written
        connected = asyncio.ensure_future(event(b, "call-1", "connected", second=1))
        await b_store.seen.wait()  # B found the claim, its message id not yet there
        fake.release.set()
        await asyncio.gather(first_paint, connected)
        cards = customer_cards(fake)
    assert [sent.method for sent in cards] == ["POST", "PUT"]
    assert cards[1].activity_id == cards[0].activity_id
