"""Taking in the contact-center platform's interaction events.

Each event is validated, applied to the stored interaction under compare-and-swap and
then reflected on the agent's card. Replays are harmless; events that cannot follow the
current state are refused without touching anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from bot.domain import identifiers
from bot.domain.api_model import ApiModel, Model
from bot.domain.cards import CardIdentity
from bot.domain.identifiers import Channel, IdentifierKind
from bot.domain.interactions import (
    Agent,
    Direction,
    EventRecord,
    Interaction,
    LifecycleEvent,
    ShownRecords,
    apply_event,
)
from bot.i18n import AgentLocale, t
from bot.observability import context
from bot.services import (
    acting_agent,
    agent_locale,
    caller_lookup,
    keys,
    name_index,
    tenant_settings,
)
from bot.services.cards import attach_interaction, resolve_card, show_face
from bot.services.concurrently import both
from bot.services.context import Context
from bot.services.crm import SearchCriteria
from bot.services.crm_fan_out import Progressive, find_people
from bot.services.health import note_caller
from bot.services.late_crm_answers import abandon, finish_later, first_answers, shown_from
from bot.services.publisher import Reached
from bot.services.rendering import publish
from bot.services.store import (
    AlreadyExists,
    Document,
    NotFound,
    ReadOnce,
    create_model,
    parsed,
    read_model,
    update,
)

_PHONE_CHANNELS = frozenset({Channel.voice, Channel.sms, Channel.whatsapp})

log = logging.getLogger(__name__)


class _Inbound(ApiModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(_Inbound):
    phone: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=320)
    handle: str | None = Field(None, max_length=256)
    name: str | None = Field(None, max_length=200)


class AgentIn(_Inbound):
    aad_object_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, max_length=200)


class SessionIn(_Inbound):
    """Session details for record titles and tags (record-creation policies)."""

    call_type: str | None = Field(None, max_length=100)
    call_id: str | None = Field(None, max_length=200)
    menu_path: str | None = Field(None, max_length=500)
    phone_number: str | None = Field(None, max_length=64)
    language: str | None = Field(None, max_length=50)


class DetailsIn(_Inbound):
    """Wrap-up data for memorialization; later events add to earlier ones."""

    disposition: str | None = Field(None, max_length=200)
    notes: str | None = Field(None, max_length=100_000)
    transcript: str | None = Field(None, max_length=200_000)

    def values(self) -> dict[str, str]:
        return self.model_dump(by_alias=True, exclude_none=True)


class InteractionEventIn(_Inbound):
    """One lifecycle event, as the platform's webhook sends it."""

    interaction_id: str = Field(min_length=1, max_length=200)
    event: LifecycleEvent
    occurred_at: AwareDatetime
    event_id: str | None = Field(None, max_length=200)
    channel: Channel
    direction: Direction = Direction.inbound
    agent: AgentIn
    customer: CustomerIn
    queue: str | None = Field(None, max_length=200)
    customer_messages: int | None = Field(None, ge=0, le=1_000_000)
    session: SessionIn | None = None
    details: DetailsIn | None = None
    lookup_id: str | None = Field(
        None, max_length=100, description="the IVR caller lookup to screen-pop (POST /api/lookup)"
    )

    @model_validator(mode="after")
    def _reachable(self) -> InteractionEventIn:
        c = self.customer
        if not (c.phone or c.email or c.handle):
            raise ValueError(t("customer needs at least one of phone, email or handle"))
        return self

    def identities(self, default_region: str) -> list[CardIdentity]:
        """The customer's identifiers on this channel, read with the tenant's region; a
        value that cannot be read is kept as typed and flagged, never refused."""
        given = (
            (IdentifierKind.phone, self.customer.phone),
            (IdentifierKind.email, self.customer.email),
            (IdentifierKind.handle, self.customer.handle),
        )
        return [
            CardIdentity(
                channel=self.channel,
                identifier=identifiers.read(
                    kind, raw, channel=self.channel, default_region=default_region
                ),
            )
            for kind, raw in given
            if raw
        ]

    def record(self) -> EventRecord:
        return EventRecord(
            event=self.event,
            occurred_at=self.occurred_at,
            event_id=self.event_id,
            agent=Agent(aad_object_id=self.agent.aad_object_id, name=self.agent.name),
            customer_messages=self.customer_messages,
            session=(
                self.session.model_dump(by_alias=True, exclude_none=True) if self.session else {}
            ),
        )


def criteria_for(identities: list[CardIdentity], name: str | None, region: str) -> SearchCriteria:
    """Who to look for; ``region`` (the tenant's default) reads numbers the CRMs keep
    without a country code."""

    def forms(kind: IdentifierKind) -> list[str]:
        wanted = (i.identifier for i in identities if i.identifier.kind is kind)
        return list(dict.fromkeys(f for i in wanted for f in identifiers.search_forms(i)))

    phones, emails = forms(IdentifierKind.phone), forms(IdentifierKind.email)
    return SearchCriteria(
        phones=phones, emails=emails, name=None if phones or emails else name, region=region
    )


async def lookup_people(
    ctx: Context, tenant_id: str, identities: list[CardIdentity], name: str | None
) -> ShownRecords:
    clients = await ctx.crms.clients(tenant_id)
    region = await tenant_settings.region_of(ctx, tenant_id)
    criteria = criteria_for(identities, name, region)
    found = await find_people(clients, criteria, ctx.crm_deadline)
    return ShownRecords(
        records={record.ref.key: record for record in found.records},
        person=[record.ref.key for record in found.records if record.is_person_level],
        problems=found.problems,
    )


def _applied(
    interaction: Interaction, event: InteractionEventIn, record: EventRecord
) -> Interaction:
    """``interaction`` with the event applied (``DomainError`` if it cannot follow)."""
    applied = apply_event(interaction, record)
    if applied is not interaction and event.details is not None:
        details = {**applied.details, **event.details.values()}
        applied = applied.model_copy(update={"details": details})
    return applied


async def _start(
    ctx: Context, tenant_id: str, event: InteractionEventIn, record: EventRecord, now: datetime
) -> tuple[Interaction, Document | None, Progressive, str | None] | None:
    """Create the interaction, its first event applied, with the CRMs that answered within
    the first-paint budget; the slower ones complete its card later (the returned lookup,
    once its first card is out); the interaction's document as last written or read here
    (the late CRMs' compare-and-swap starts from it); and the id of its card if it was
    made for it (None: the card existed). None if the same interaction's event created it
    meanwhile."""
    region = await tenant_settings.region_of(ctx, tenant_id)
    identities = event.identities(region)
    criteria = criteria_for(identities, event.customer.name, region)
    aad_object_id = event.agent.aad_object_id
    # The CRMs are asked first; the card and the agent's language are read meanwhile (on
    # Blob Storage, round trips the first paint no longer waits for after the CRMs).
    asked = asyncio.ensure_future(first_answers(ctx, tenant_id, criteria))
    try:
        (card, card_read), locale = await both(
            resolve_card(ctx.store, tenant_id, identities, event.customer.name, now),
            agent_locale.locale_of(ctx.store, tenant_id, aad_object_id),
        )
    except BaseException:
        asked.add_done_callback(_abandoned)
        asked.cancel()
        raise
    progressive = await asked
    try:  # from here on a failure gives up on the late CRMs: nobody will wait for them
        made = None if card.interaction_ids else card.id
        interaction = Interaction(
            id=event.interaction_id,
            tenant_id=tenant_id,
            card_id=card.id,
            channel=event.channel,
            direction=event.direction,
            agent=Agent(aad_object_id=aad_object_id, name=event.agent.name),
            queue=event.queue,
            customer_name=event.customer.name,
            identities=identities,
            shown=shown_from(progressive.first, now),
            agent_locale=locale,
            card_face=card.face,
        )
        if event.lookup_id:  # screen pop: the record the IVR identified, pinned and linked
            interaction = await caller_lookup.screen_pop(
                ctx, tenant_id, event.lookup_id, interaction, now
            )
        interaction = _applied(interaction, event, record)
        key = keys.interaction(tenant_id, interaction.id)
        try:
            document: Document | None = await create_model(ctx.store, key, interaction)
        except AlreadyExists:
            abandon(progressive)
            return None  # the same interaction's event raced us here; apply ours on top
        attached, _ = await both(  # two documents: the first paint waits for both
            attach_interaction(ctx.store, tenant_id, card.id, interaction.id, read=card_read),
            remember_for_agent(ctx, tenant_id, aad_object_id, interaction.id),
        )
        if attached.face != interaction.card_face:  # a merge took its card meanwhile
            await show_face(ctx.store, tenant_id, attached.id, only=[interaction.id])
            document = await ctx.store.read(key)
            interaction = interaction if document is None else parsed(Interaction, document)
    except BaseException:
        abandon(progressive)
        raise
    if progressive.late is None:  # else counted when the late CRMs have answered
        note_caller(ctx.callers, tenant_id, bool(interaction.shown.person), now)
    return interaction, document, progressive, made


def _abandoned(asked: asyncio.Future[Progressive]) -> None:
    """The CRMs of an interaction whose start failed: their late answers are not waited for."""
    if not asked.cancelled() and asked.exception() is None:
        abandon(asked.result())


class AgentInbox(Model):
    """The agent's most recent interactions, newest last: what "card" and the tab show."""

    interaction_ids: list[str] = Field(default_factory=list)


INBOX_SIZE = 20


async def remember_for_agent(
    ctx: Context, tenant_id: str, aad_object_id: str, interaction_id: str
) -> None:
    key = keys.agent_inbox(tenant_id, aad_object_id)

    def add(inbox: AgentInbox) -> AgentInbox:
        ids = [i for i in inbox.interaction_ids if i != interaction_id] + [interaction_id]
        return AgentInbox(interaction_ids=ids[-INBOX_SIZE:])

    while True:  # the agent's inbox exists but for their first interaction
        try:
            await update(ctx.store, key, AgentInbox, add)
            return
        except NotFound:
            pass
        try:
            await create_model(ctx.store, key, AgentInbox(interaction_ids=[interaction_id]))
            return
        except AlreadyExists:
            continue  # their first two interactions came at once


async def follow_agent_locale(
    ctx: Context, tenant_id: str, aad_object_id: str, locale: AgentLocale
) -> None:
    """The agent's language or time zone changed: their open interactions' cards render in
    ``locale`` from the next click on (the card shown keeps its revision: nothing the agent
    acts on changed)."""

    def follow(current: Interaction) -> Interaction:
        if current.agent_locale == locale:
            return current
        return current.model_copy(update={"agent_locale": locale})

    for interaction in await open_for_agent(ctx, tenant_id, aad_object_id):
        key = keys.interaction(tenant_id, interaction.id)
        with contextlib.suppress(NotFound):
            await update(ctx.store, key, Interaction, follow)


async def latest_for_agent(ctx: Context, tenant_id: str, aad_object_id: str) -> Interaction | None:
    inbox = await read_model(ctx.store, keys.agent_inbox(tenant_id, aad_object_id), AgentInbox)
    if inbox is None or not inbox.interaction_ids:
        return None
    key = keys.interaction(tenant_id, inbox.interaction_ids[-1])
    return await read_model(ctx.store, key, Interaction)


async def open_for_agent(ctx: Context, tenant_id: str, aad_object_id: str) -> list[Interaction]:
    """The agent's open interactions, newest first (at most the inbox's size)."""
    inbox = await read_model(ctx.store, keys.agent_inbox(tenant_id, aad_object_id), AgentInbox)
    found: list[Interaction] = []
    for interaction_id in reversed(inbox.interaction_ids if inbox else []):
        interaction = await read_model(
            ctx.store, keys.interaction(tenant_id, interaction_id), Interaction
        )
        if interaction is not None and interaction.is_open:
            found.append(interaction)
    return found


async def ingest(ctx: Context, tenant_id: str, event: InteractionEventIn) -> Interaction:
    """Apply one event; return the interaction as stored. Raises DomainError when refused.

    The steps, in order:

    1. The interaction is read. A new one is started (:func:`_start`) with this event
       applied: its card found or made, the first CRM answers, the interaction created,
       filed on its card and in the agent's inbox. An existing one
       gets the event under compare-and-swap (its read served once more from memory).
    2. A change is heard by the event listeners (record creation, write-back outbox),
       then published: the agent's card posted or updated; a new interaction's card is
       then filed in the name index (the agent waits for the card, nobody for the index).
       A replayed webhook changes nothing; only the listeners that must survive a crash
       hear it again.
    3. The slow CRMs of a new interaction may now update its card (from the interaction
       as read after the listeners: its compare-and-swap needs no read of its own).
    """
    context.bind(tenant_id=tenant_id, interaction_id=event.interaction_id)
    acting_agent.act_as(tenant_id, event.agent.aad_object_id)  # its CRM look-ups are theirs
    key = keys.interaction(tenant_id, event.interaction_id)
    record = event.record()
    turn = ReadOnce(ctx.store)  # only the interaction's own read goes through it
    started: tuple[Interaction, Document | None, Progressive, str | None] | None = None
    existing = await read_model(turn, key, Interaction)
    if existing is None:
        started = await _start(ctx, tenant_id, event, record, ctx.clock())
    stored: Document | None = None  # the interaction as the card shows it, if known
    if started is not None:
        interaction, stored, progressive, made = started
        changed = True
    else:
        progressive = None
        before: list[int] = []

        def change(current: Interaction) -> Interaction:
            before.append(current.revision)
            applied = _applied(current, event, record)
            return applied if applied is current else ctx.audit_feed.trimmed(applied)

        # After a lost race to create it, the read served from memory would be "absent".
        interaction = await update(turn if existing else ctx.store, key, Interaction, change)
        changed = interaction.revision != before[-1]
        ctx.audit_feed.take(ctx.store, interaction)  # clicks another instance did not copy
    filed: name_index.FiledTerms | None = None  # its card's terms, once it is filed
    reached = Reached()  # where its first card found the agent, for the late update
    try:
        if changed:
            for listener in ctx.event_listeners:
                await listener(ctx, interaction, record)
            if ctx.event_listeners:  # a listener may have changed it (a record pinned...),
                # and another writer may have since it was written here: the card shows it
                # as it is now, not older than what another instance may have sent already
                stored = await ctx.store.read(key)
                interaction = interaction if stored is None else parsed(Interaction, stored)
            await publish(ctx, interaction, reached)
        else:  # a replayed webhook: what must survive a crash before our first answer runs
            for listener in ctx.event_listeners:
                if getattr(listener, "runs_on_replay", False):
                    await listener(ctx, interaction, record)
    finally:
        if progressive is not None:  # the first card is out: the late CRMs' update follows
            finish_later(
                ctx, tenant_id, interaction.id, progressive, stored, lambda: filed, reached
            )
        if started is not None:  # filed once its first card is out (the agent waits for
            # that), even when a listener failed: the platform's retry is a replay
            filed = await name_index.index_interaction(
                ctx.store, tenant_id, interaction, new_card=made
            )
    log.info(
        "interaction event",
        extra={
            "event": f"interaction.{event.event.value}",
            "channel": interaction.channel.value,
            "state": interaction.state and interaction.state.value,
            "replayed": not changed,
        },
    )
    return interaction
