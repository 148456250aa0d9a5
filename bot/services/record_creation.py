"""Creating (or reusing) the interaction's CRM record as the tenant's policy says.

:func:`on_event` is a context event listener: after each stored lifecycle event it asks
:func:`bot.domain.record_policies.decide` whether the interaction's record is due. At
most one record per interaction: a claim document is created in the store before the
CRM is called (a racing event or instance finds it taken), so a transfer, a replayed or
a concurrent event never creates a second record. The record is pinned to the
interaction (pinned records are linked, so the write-back reaches it) and remembered as
the last record of the customer's queue, for appending later sessions to it.

A failed CRM call is logged and the claim released: a later event tries again, and the
platform's webhook is never failed by a CRM outage.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import unquote

from pydantic import Field

from bot.domain.api_model import Model
from bot.domain.interactions import EventRecord, Interaction, LifecycleEvent
from bot.domain.links import pin_record
from bot.domain.record_policies import (
    DEFAULT_QUEUE,
    NAMED_TYPES,
    Decision,
    RecordPolicy,
    appendable,
    call_type,
    decide,
    facts_of,
    new_record,
    render_title,
    reopen_fields,
    title_values,
)
from bot.domain.records import CrmRecord, RecordRef
from bot.services import audit, keys, name_index
from bot.services.audit import Actor
from bot.services.context import Context
from bot.services.crm import CrmClient, CrmError
from bot.services.store import (
    AlreadyExists,
    PreconditionFailed,
    create_model,
    put_model,
    read_model,
    update,
)
from bot.services.workflows import client_for, crm_kind

log = logging.getLogger(__name__)

ACTOR = "record-policy"
STALE_CLAIM = timedelta(minutes=2)
QUEUE_MEMORY = 10
APPEND_LOOKBACK = 5


class CreationState(Model):
    """The interaction's record: claimed while being created, then its key."""

    status: Literal["creating", "done"] = "creating"
    claimed_at: datetime
    record_key: str | None = None
    how: Literal["created", "appended", "reopened"] | None = None
    event: str | None = None


class QueueRecords(Model):
    """Records the customer's sessions in one queue got, newest last."""

    keys: list[str] = Field(default_factory=list)
    last_session: dict[str, datetime] = Field(
        default_factory=dict, description="record key -> when a session last got it"
    )


# --- policies (admin configuration) ----------------------------------------------------


async def get_policy(ctx: Context, tenant_id: str, queue: str) -> RecordPolicy | None:
    return await read_model(ctx.store, keys.record_policy(tenant_id, queue), RecordPolicy)


async def put_policy(
    ctx: Context, tenant_id: str, queue: str, policy: RecordPolicy, actor: Actor
) -> None:
    await _write(ctx, tenant_id, queue, policy, actor)


async def delete_policy(ctx: Context, tenant_id: str, queue: str, actor: Actor) -> bool:
    return await _write(ctx, tenant_id, queue, None, actor) is not None


async def _write(
    ctx: Context, tenant_id: str, queue: str, policy: RecordPolicy | None, actor: Actor
) -> RecordPolicy | None:
    kind = "policy.put" if policy is not None else "policy.delete"
    try:
        return await audit.write_audited(
            ctx.store,
            tenant_id,
            keys.record_policy(tenant_id, queue),
            RecordPolicy,
            policy,
            actor,
            kind,
            at=ctx.clock(),
            target=queue,
        )
    finally:
        ctx.record_policies.forget(tenant_id)  # the next event here reads them again


async def list_policies(ctx: Context, tenant_id: str) -> dict[str, RecordPolicy]:
    prefix = keys.record_policies_prefix(tenant_id)
    found: dict[str, RecordPolicy] = {}
    async for key in ctx.store.keys(prefix):
        policy = await read_model(ctx.store, key, RecordPolicy)
        if policy is not None:
            found[unquote(key[len(prefix) :])] = policy
    return dict(sorted(found.items()))


async def policy_for(ctx: Context, tenant_id: str, queue: str | None) -> RecordPolicy | None:
    """The queue's policy, else the tenant default; None: no records are created.

    Every event of every interaction asks, and policies change a few times a year: this
    instance lists the tenant's at most every few seconds (``ctx.record_policies``), and
    at once after a change made through it; another instance's change is seen within
    that time, as its workflows and CRM list are."""
    policies = await ctx.record_policies.get(tenant_id, lambda: list_policies(ctx, tenant_id))
    policy = policies.get(queue) if queue else None
    return policy if policy is not None else policies.get(DEFAULT_QUEUE)


# --- the listener ------------------------------------------------------------------------


async def on_event(ctx: Context, interaction: Interaction, record: EventRecord) -> None:
    policy = await policy_for(ctx, interaction.tenant_id, interaction.queue)
    if policy is None:
        return
    key = keys.record_creation_state(interaction.tenant_id, interaction.id)
    state = await read_model(ctx.store, key, CreationState)
    dead = state is not None and state.status == "creating" and _stale(ctx, state)
    facts = facts_of(interaction, record.event, has_record=state is not None and not dead)
    if decide(policy, facts) is not Decision.create:
        return
    if not await _claim(ctx, key, state, record.event):
        return
    try:
        created, how = await _create_or_append(ctx, policy, interaction)
    except Exception:
        log.exception(
            "no CRM record for interaction %s (%s); a later event retries",
            interaction.id,
            record.event.value,
        )
        await _release(ctx, key)
        return
    await put_model(
        ctx.store,
        key,
        CreationState(
            status="done",
            claimed_at=ctx.clock(),
            record_key=created.ref.key,
            how=how,
            event=record.event.value,
        ),
    )
    await _remember(ctx, interaction, created.ref.key)
    await name_index.update_interaction(
        ctx.store,
        interaction.tenant_id,
        interaction.id,
        lambda current: pin_record(current, created, actor=ACTOR, now=ctx.clock()),
    )


def _stale(ctx: Context, state: CreationState) -> bool:
    return ctx.clock() - state.claimed_at > STALE_CLAIM


async def _claim(ctx: Context, key: str, seen: CreationState | None, event: LifecycleEvent) -> bool:
    claim = CreationState(claimed_at=ctx.clock(), event=event.value)
    if seen is None:
        try:
            await create_model(ctx.store, key, claim)
        except AlreadyExists:
            return False  # a concurrent event got there first
        return True
    document = await ctx.store.read(key)  # a dead claim: take it over under its ETag
    if document is None:
        return False
    current = CreationState.model_validate_json(document.data)
    if current.status != "creating" or not _stale(ctx, current):
        return False
    try:
        await ctx.store.replace(key, claim.model_dump_json().encode(), document.etag)
    except PreconditionFailed:
        return False
    return True


async def _release(ctx: Context, key: str) -> None:
    try:
        await ctx.store.delete(key)
    except Exception:
        log.exception("could not release record claim %s", key)


async def _remember(ctx: Context, interaction: Interaction, record_key: str) -> None:
    if not interaction.queue:
        return
    key = keys.queue_records(interaction.tenant_id, interaction.card_id, interaction.queue)

    now = ctx.clock()

    def add(current: QueueRecords) -> QueueRecords:
        kept = ([k for k in current.keys if k != record_key] + [record_key])[-QUEUE_MEMORY:]
        seen = {k: at for k, at in {**current.last_session, record_key: now}.items() if k in kept}
        return QueueRecords(keys=kept, last_session=seen)

    try:
        await create_model(
            ctx.store, key, QueueRecords(keys=[record_key], last_session={record_key: now})
        )
    except AlreadyExists:
        await update(ctx.store, key, QueueRecords, add)


def _started(interaction: Interaction) -> datetime:
    for event in interaction.history:
        if event.event is LifecycleEvent.assigned:
            return event.occurred_at
    return interaction.history[0].occurred_at


def _session(interaction: Interaction) -> dict[str, str]:
    merged: dict[str, str] = {}
    for event in interaction.history:
        merged.update(event.session)
    return merged


async def _create_or_append(
    ctx: Context, policy: RecordPolicy, interaction: Interaction
) -> tuple[CrmRecord, Literal["created", "appended", "reopened"]]:
    client = await client_for(ctx, interaction.tenant_id, policy.settings_id)
    kind = crm_kind(client)
    if policy.append_to_open and interaction.queue:
        found = await _appendable(ctx, policy, client, kind, interaction)
        if found is not None:
            return found
    session = _session(interaction)
    title = render_title(
        policy.title_template, title_values(interaction, session, _started(interaction))
    )
    record = new_record(policy, kind, title, call_type(interaction, session)[1])
    people = [interaction.shown.records[k].ref for k in interaction.shown.person]
    mine = [ref for ref in people if ref.crm == client.settings_id]
    related = next((r for r in mine if r.type == "contact"), mine[0] if mine else None)
    if policy.record_type in NAMED_TYPES:
        related = None
    return await client.create(policy.record_type, record, related), "created"


async def _appendable(
    ctx: Context,
    policy: RecordPolicy,
    client: CrmClient,
    kind: str | None,
    interaction: Interaction,
) -> tuple[CrmRecord, Literal["appended", "reopened"]] | None:
    assert interaction.queue is not None
    memory = await read_model(
        ctx.store,
        keys.queue_records(interaction.tenant_id, interaction.card_id, interaction.queue),
        QueueRecords,
    )
    if memory is None:
        return None
    now = ctx.clock()
    closed_candidate: CrmRecord | None = None
    for key in reversed(memory.keys[-APPEND_LOOKBACK:]):
        ref = RecordRef.parse(key)
        if ref.crm != client.settings_id:
            continue
        try:
            record = await client.get(ref)
        except CrmError as error:
            log.warning("cannot read %s to append to it: %s", key, error)
            continue
        may, reopen = appendable(policy, kind, record.fields, now, memory.last_session.get(key))
        if may and not reopen:
            return record, "appended"
        if may and closed_candidate is None:
            closed_candidate = record
    if closed_candidate is None:
        return None
    try:
        reopened = await client.update(closed_candidate.ref, reopen_fields(policy))
    except CrmError as error:  # NotSupported included: a new record instead
        log.warning("cannot reopen %s: %s", closed_candidate.ref.key, error)
        return None
    return reopened, "reopened"
