"""Proactive delivery of customer cards into the agent's personal chat.

The first delivery posts a message and records its activity id; later ones update that
message in place. The record is claimed before the post (another instance delivering the
same interaction's card meanwhile waits for that post instead of posting a second
message) and completed with the activity id as soon as the post returns, so that any
instance's next update goes to it: two writes, neither of which can wait for a later one
(tests/teams/test_interaction_writes_per_card.py). Sends to one conversation are paced
under Teams' per-conversation limit, and a 429 is retried by the one retry policy
(:data:`bot.services.retry.TEAMS_SENDS`), after the Retry-After Teams asks for.

A card goes straight to the conversation's :class:`~bot.adapters.teams.connector.Connector`,
addressed from the stored conversation reference as ``continue_conversation`` would
address it, without a turn: no middleware to run, and no deep copy of the card. Its
message is written as JSON directly (:func:`card_message`), not built as the SDK's
``Activity`` of some forty attributes and then written out.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from botbuilder.core import CardFactory
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference

from bot.adapters.teams import conversations
from bot.adapters.teams.activity_json import json_value
from bot.adapters.teams.clients import ReusingClients
from bot.domain.api_model import Model
from bot.domain.interactions import Interaction
from bot.services import keys
from bot.services.publisher import Reached
from bot.services.recently_used import RecentlyUsed
from bot.services.retry import TEAMS_SENDS, Random, RetryPolicy, parse_retry_after
from bot.services.store import AlreadyExists, Document, Store, read_model, update

log = logging.getLogger(__name__)

T = TypeVar("T")

SEND_INTERVAL = 1 / 7  # Teams allows about 7 messages a second per conversation
POSTED_KEPT = 4096  # posted messages remembered per instance (the open interactions')


class PostedCard(Model):
    conversation_id: str
    activity_id: str | None = None


def _status_and_retry_after(error: Exception, now_epoch: float) -> tuple[int | None, float | None]:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    headers = getattr(response, "headers", None) or {}
    return status, parse_retry_after(headers.get("Retry-After"), now_epoch)


_ADAPTIVE_CARD = CardFactory.content_types.adaptive_card


def card_message(
    reference: ConversationReference, card: dict[str, Any], activity_id: str | None = None
) -> dict[str, Any]:
    """The JSON of the message that carries ``card`` to ``reference``'s conversation (the
    message ``activity_id`` when it replaces one): what ``MessageFactory.attachment(
    CardFactory.adaptive_card(card))`` addressed by ``TurnContext.apply_conversation_reference``
    is written as (:func:`~bot.adapters.teams.activity_json.activity_to_json`), key for key
    and in its order, without building that ``Activity`` (every card sent, twice a call)."""
    fields = (
        ("id", activity_id),
        ("serviceUrl", reference.service_url),
        ("channelId", reference.channel_id),
        ("from", reference.bot),
        ("conversation", reference.conversation),
        ("recipient", reference.user),
        ("attachmentLayout", "list"),
        ("locale", reference.locale),
        ("attachments", [{"contentType": _ADAPTIVE_CARD, "content": json_value(card)}]),
        ("replyToId", reference.activity_id),
    )
    message: dict[str, Any] = {"type": "message"}
    for key, value in fields:
        if value is not None:
            message[key] = json_value(value)
    return message


class Pacer:
    """Spaces calls to one conversation at least ``interval`` seconds apart, and retries
    a call Teams throttled (429) by ``policy``.

    Clocks, sleep and the random draw are injectable, so tests run without waiting."""

    def __init__(
        self,
        interval: float = SEND_INTERVAL,
        *,
        policy: RetryPolicy = TEAMS_SENDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Random = random.random,
    ) -> None:
        self._interval = interval
        self.policy = policy
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rand = rand
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self, conversation_id: str, call: Callable[[], Awaitable[T]]) -> T:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        async with lock:
            wait = self._next.get(conversation_id, 0.0) - self._clock()
            if wait > 0:
                await self._sleep(wait)
            attempts = 0
            while True:
                attempts += 1
                try:
                    return await call()
                except Exception as error:
                    status, retry_after = _status_and_retry_after(error, self._wall_clock())
                    if status != 429 or self.policy.exhausted(attempts):
                        raise
                    if retry_after is not None and not self.policy.honours(retry_after):
                        raise  # longer than a send may wait: give up, never come back early
                    await self._sleep(self.policy.delay(attempts, retry_after, self._rand))
                finally:
                    self._next[conversation_id] = self._clock() + self._interval


class TeamsDelivery:
    def __init__(self, adapter: CloudAdapter, store: Store, bot_app_id: str) -> None:
        clients = adapter.bot_framework_authentication
        if not isinstance(clients, ReusingClients):
            raise TypeError("the adapter must come from bot.adapters.teams.sdk.create_adapter")
        self._clients = clients
        self._store = store
        self._bot_app_id = bot_app_id
        self._pacer = Pacer()
        self._references = conversations.References(store)
        self._user_ids: dict[tuple[str, str], str] = {}
        self._posted: RecentlyUsed[str, PostedCard] = RecentlyUsed(POSTED_KEPT)
        """The messages this instance posted or found posted, newest last: a card's
        update (a new interaction's late CRMs, each event) goes to its message without
        the store's claim and read. Kept only while the agent's conversation is the one
        the message is in; another instance's repost goes to a new conversation."""

    def _posted_key(self, interaction: Interaction) -> str:
        return keys.interaction(interaction.tenant_id, interaction.id) + "/teams-message"

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        # A user's channel id never changes for this bot: remember it, save a read a click.
        agent = (interaction.tenant_id, interaction.agent.aad_object_id)
        user_id = self._user_ids.get(agent)
        if user_id is None:
            found = await self._references.find(*agent)
            if found is None:
                return []
            user_id = self._user_ids[agent] = found[0].user_id
        return [user_id]

    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: Reached | None = None
    ) -> bool:
        reference = await self._reference(interaction, reached)
        if reference is None:
            log.warning(
                "agent %s has not installed crmcard: card of interaction %s not delivered",
                interaction.agent.aad_object_id,
                interaction.id,
            )
            return False
        key = self._posted_key(interaction)
        known = self._posted.get(key)
        if known is not None and known.conversation_id == reference.conversation.id:
            await self._send(reference, card, replace=known.activity_id)
            return True
        claim = PostedCard(conversation_id=reference.conversation.id)
        claimed = claim.model_dump_json().encode()
        try:
            claimed_etag = await self._store.create(key, claimed)
        except AlreadyExists:
            posted = await self._await_posted(key)
            if posted is not None and posted.conversation_id == claim.conversation_id:
                await self._send(reference, card, replace=posted.activity_id)
                self._remember(key, posted)
                return True
            claimed_etag = None
        activity_id = await self._send(reference, card, replace=None)
        posted = PostedCard(conversation_id=claim.conversation_id, activity_id=activity_id)
        # the claim as written is the document to change (another writer: re-read)
        read = None if claimed_etag is None else Document(claimed, claimed_etag)
        await update(self._store, key, PostedCard, lambda _: posted, read=read)
        self._remember(key, posted)
        return True

    async def _reference(
        self, interaction: Interaction, reached: Reached | None
    ) -> ConversationReference | None:
        """The agent's conversation: where this card's first delivery found it (its update
        goes to the message posted there), else read."""
        kept = reached.legs.get(self) if reached is not None else None
        if isinstance(kept, ConversationReference):
            return kept
        found = await self._references.find(interaction.tenant_id, interaction.agent.aad_object_id)
        if found is None:
            return None
        if reached is not None:
            reached.legs[self] = found[1]
        return found[1]

    def _remember(self, key: str, posted: PostedCard) -> None:
        if posted.activity_id is None:
            return  # the connector gave no id: nothing to update in place
        self._posted.keep(key, posted)

    async def _await_posted(self, key: str) -> PostedCard | None:
        """The posted message; waits briefly while a concurrent first post is in flight."""
        for _ in range(50):
            posted = await read_model(self._store, key, PostedCard)
            if posted is None or posted.activity_id is not None:
                return posted
            await asyncio.sleep(0.05)
        return None

    async def _send(
        self, reference: ConversationReference, card: dict[str, Any], replace: str | None
    ) -> str | None:
        message = card_message(reference, card, replace)
        conversation_id = reference.conversation.id
        connector = await self._clients.connector(self._bot_app_id, reference.service_url)
        calls = connector.conversations

        async def attempt() -> str | None:
            if replace is not None:
                await calls.update_activity(conversation_id, replace, message)
                return replace
            if reference.activity_id:
                response = await calls.reply_to_activity(
                    conversation_id, reference.activity_id, message
                )
            else:
                response = await calls.send_to_conversation(conversation_id, message)
            return response.id if response else None

        return await self._pacer.run(conversation_id, attempt)
