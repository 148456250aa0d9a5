"""The write-back outbox: durable write-back items in the store, claimed under ETags.

When an interaction's write-back falls due, one :class:`OutboxItem` per linked record is
created (create-if-absent: a replayed event adds nothing) together with a due marker
under :data:`keys.OUTBOX_DUE_PREFIX`, all before the webhook is answered. Its payload is
cut to what the record's CRM takes then (:func:`bot.services.crm.text_limits`), so the
card and the admin's outbox name every text cut before anything is written (an item
queued while its CRM was not connected is fitted to its limits at delivery instead:
:func:`bot.domain.memorialization.fitted_to`). Workers (see
:mod:`bot.services.writeback`) scan the markers and claim an item by writing a lease
into it under its ETag, so only one process delivers it; a lease left by a dead process
expires and the item is claimed again. Each step (record fields, timeline activity) is
recorded as done as soon as the CRM accepted it, so a retry redoes only what is missing.

Finished items are the recovery copies of interaction data (PRODUCT.md section 8): a
done item, or a parked one nobody replayed, is purged with its due marker once it has
not changed for the recovery window (:func:`purge_expired`, run by the worker and by
``crmcard outbox purge``). Pending items are never purged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from bot.domain.api_model import Model
from bot.domain.interactions import Interaction
from bot.domain.memorialization import (
    NO_LIMITS,
    MemorializationMapping,
    WriteKind,
    WritePayload,
    build_payload,
    cut_labels,
    default_mapping,
    idempotency_key,
    writeback_targets,
)
from bot.domain.records import RecordRef
from bot.errors import Conflict
from bot.i18n import StoredText, Text, nt, t
from bot.services import audit, keys
from bot.services.audit import Actor
from bot.services.crm import CrmClient, CrmDirectory, text_limits
from bot.services.store import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    Store,
    read_model,
    update,
)

DEFAULT_RECOVERY_DAYS = 90


class OutboxStatus(StrEnum):
    pending = "pending"
    done = "done"
    parked = "parked"


class WaitingFor(StrEnum):
    """What a pending item waits for, besides its backoff: each makes it due at once."""

    sign_in = "sign-in"
    consent = "consent"


class StepState(Model):
    kind: WriteKind
    idempotency_key: str
    done: bool = False
    result_id: str | None = Field(None, description="the CRM's id of what the step wrote")
    unsupported: StoredText | None = Field(None, description="why this CRM cannot take this step")

    @property
    def finished(self) -> bool:
        return self.done or self.unsupported is not None


class OutboxItem(Model):
    tenant_id: str
    interaction_id: str
    agent_id: str | None = Field(
        None,
        description="the Entra object id of the interaction's agent: a CRM connected with "
        "delegated access is written as them",
    )
    record: RecordRef
    record_title: str
    payload: WritePayload
    steps: list[StepState]
    status: OutboxStatus = OutboxStatus.pending
    attempts: int = 0
    next_attempt_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: StoredText | None = None
    waiting_for_sign_in: bool = Field(
        False,
        description="retried because its agent had no usable sign-in: their next sign-in "
        "makes it due at once",
    )
    waiting_for_consent: bool = Field(
        False,
        description="waiting because the tenant gate refused its tenant (no admin consent, "
        "or a revoked one): the next grant makes it due at once",
    )
    consent_refusals: int = Field(
        0,
        description="the gate's refusals since it last let the item through: they cost no "
        "attempt (the CRM was not called) but lengthen its wait, as failures do",
    )
    parked_reason: StoredText | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        return keys.outbox_item(self.tenant_id, self.interaction_id, self.record.key)

    @property
    def retrying(self) -> bool:
        return self.status is OutboxStatus.pending and self.last_error is not None

    @property
    def waiting_for(self) -> WaitingFor | None:
        """What the item waits for, from the flags of its last retry; None unless pending (a
        done or parked item waits for nothing or for an admin's replay; one finished before
        finishing cleared the flags still has them).
        Both flags set (one retry sets only one): consent, which the gate asks before any
        CRM call, so the agent's sign-in cannot help without it."""
        if self.status is not OutboxStatus.pending:
            return None
        if self.waiting_for_consent:
            return WaitingFor.consent
        if self.waiting_for_sign_in:
            return WaitingFor.sign_in
        return None


async def mapping_for(store: Store, tenant_id: str, settings_id: str) -> MemorializationMapping:
    stored = await read_model(
        store, keys.memorialization(tenant_id, settings_id), MemorializationMapping
    )
    return stored or default_mapping()


async def save_mapping(
    store: Store,
    tenant_id: str,
    settings_id: str,
    mapping: MemorializationMapping,
    actor: Actor,
    at: datetime,
) -> None:
    """Replace a CRM configuration's memorialization mapping (audited)."""
    key = keys.memorialization(tenant_id, settings_id)
    await audit.write_audited(
        store,
        tenant_id,
        key,
        MemorializationMapping,
        mapping,
        actor,
        "mapping.put",
        at=at,
        target=settings_id,
    )


def new_item(
    interaction: Interaction, record: RecordRef, payload: WritePayload, now: datetime
) -> OutboxItem:
    shown = interaction.shown.records.get(record.key)
    return OutboxItem(
        tenant_id=interaction.tenant_id,
        interaction_id=interaction.id,
        agent_id=interaction.agent.aad_object_id or None,
        record=record,
        record_title=shown.title if shown else record.key,
        payload=payload,
        steps=[
            StepState(
                kind=kind,
                idempotency_key=idempotency_key(
                    interaction.tenant_id, interaction.id, record, kind
                ),
            )
            for kind in payload.kinds
        ],
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


async def _mark_due(store: Store, item_key: str) -> None:
    with contextlib.suppress(AlreadyExists):
        await store.create(keys.outbox_due(item_key), b"{}")


async def enqueue(
    store: Store, crms: CrmDirectory, interaction: Interaction, now: datetime
) -> list[OutboxItem]:
    """Persist the write-back items of a due interaction; a no-op for ones already there.
    Each record's payload is cut to the texts its CRM in ``crms`` takes."""
    created: list[OutboxItem] = []
    targets = writeback_targets(interaction)
    clients: dict[str, CrmClient] = {}
    if targets:
        clients = {c.settings_id: c for c in await crms.clients(interaction.tenant_id)}
    mappings: dict[str, MemorializationMapping] = {}
    for record in targets:
        if record.crm not in mappings:
            mappings[record.crm] = await mapping_for(store, interaction.tenant_id, record.crm)
        mapping = mappings[record.crm]
        client = clients.get(record.crm)
        limits = (
            text_limits(client, record.type, mapping.timeline.activity_type)
            if client is not None
            else NO_LIMITS  # not connected: parked at delivery, or fitted there if it is again
        )
        item = new_item(interaction, record, build_payload(interaction, mapping, limits), now)
        try:
            await store.create(item.key, item.model_dump_json().encode())
        except AlreadyExists:
            existing = await read_model(store, item.key, OutboxItem)
            if existing is None or existing.status is not OutboxStatus.pending:
                continue
        else:
            created.append(item)
        await _mark_due(store, item.key)
    return created


async def due_at_sign_in(store: Store, tenant_id: str, agent_id: str, now: datetime) -> list[str]:
    """Make the pending items of ``agent_id`` that wait for their sign-in due ``now``; their
    keys (:func:`_due_now`)."""
    return await _due_now(
        store, tenant_id, now, lambda item: item.waiting_for_sign_in and item.agent_id == agent_id
    )


async def due_at_consent(store: Store, tenant_id: str, now: datetime) -> list[str]:
    """Make the tenant's pending items that wait for its admin consent due ``now``; their
    keys (:func:`_due_now`). Called once a grant is recorded."""
    return await _due_now(store, tenant_id, now, lambda item: item.waiting_for_consent)


async def _due_now(
    store: Store, tenant_id: str, now: datetime, waits: Callable[[OutboxItem], bool]
) -> list[str]:
    """Make the tenant's pending items that ``waits`` for what just happened (a sign-in, a
    consent) due ``now``, not after their backoff; their keys. Found by the due markers; an
    item leased by a worker right now is left to that worker."""

    def waiting(item: OutboxItem) -> bool:
        return (
            item.status is OutboxStatus.pending
            and waits(item)
            and item.next_attempt_at > now
            and (item.lease_until is None or item.lease_until <= now)
        )

    def due(item: OutboxItem) -> OutboxItem:
        if not waiting(item):
            return item
        return item.model_copy(update={"next_attempt_at": now, "updated_at": now})

    made_due: list[str] = []
    marker_prefix = keys.outbox_due(keys.outbox_prefix(tenant_id))
    async for marker in store.keys(marker_prefix):
        item_key = marker[len(keys.OUTBOX_DUE_PREFIX) :]
        item = await read_model(store, item_key, OutboxItem)
        if item is None or not waiting(item):
            continue
        with contextlib.suppress(NotFound):
            if (await update(store, item_key, OutboxItem, due)).next_attempt_at == now:
                made_due.append(item_key)
    return made_due


async def items_for(store: Store, tenant_id: str, interaction_id: str) -> list[OutboxItem]:
    return await _items(store, keys.outbox_prefix(tenant_id, interaction_id))


async def list_items(
    store: Store, tenant_id: str, status: OutboxStatus | None = None
) -> list[OutboxItem]:
    found = await _items(store, keys.outbox_prefix(tenant_id))
    return [item for item in found if status is None or item.status is status]


async def _items(store: Store, prefix: str) -> list[OutboxItem]:
    found: list[OutboxItem] = []
    async for key in store.keys(prefix):
        item = await read_model(store, key, OutboxItem)
        if item is not None:
            found.append(item)
    return found


class NotReplayable(Conflict):
    """The item is already delivered (or does not exist)."""


async def replay(
    store: Store, tenant_id: str, interaction_id: str, record_key: str, now: datetime
) -> OutboxItem:
    """Send a parked (or waiting) item again, now; steps already done stay done."""
    key = keys.outbox_item(tenant_id, interaction_id, record_key)

    def reset(item: OutboxItem) -> OutboxItem:
        if item.status is OutboxStatus.done:
            raise NotReplayable(
                t(
                    "{record} of {interaction} is already written",
                    record=record_key,
                    interaction=interaction_id,
                )
            )
        return item.model_copy(
            update={
                "status": OutboxStatus.pending,
                "attempts": 0,
                "next_attempt_at": now,
                "lease_owner": None,
                "lease_until": None,
                "parked_reason": None,
                "consent_refusals": 0,
                "waiting_for_sign_in": False,  # due now: it waits for nothing until tried
                "waiting_for_consent": False,
                "updated_at": now,
                "steps": [step.model_copy(update={"unsupported": None}) for step in item.steps],
            }
        )

    try:
        item = await update(store, key, OutboxItem, reset)
    except NotFound as error:
        raise NotReplayable(
            t(
                "no write-back of {record} for {interaction}",
                record=record_key,
                interaction=interaction_id,
            )
        ) from error
    await _mark_due(store, key)
    return item


async def replay_parked(
    store: Store, tenant_id: str, now: datetime, settings_id: str | None = None
) -> list[OutboxItem]:
    """Replay every parked item of the tenant (of one CRM configuration, if named): what
    an admin does after fixing credentials or a mapping."""
    replayed: list[OutboxItem] = []
    for item in await list_items(store, tenant_id, OutboxStatus.parked):
        if settings_id is not None and item.record.crm != settings_id:
            continue
        try:
            replayed.append(
                await replay(store, tenant_id, item.interaction_id, item.record.key, now)
            )
        except NotReplayable:
            continue  # delivered meanwhile
    return replayed


_WRITTEN = nt("Written to {count} record ✓", "Written to {count} records ✓", 1)
_WRITING = nt("Writing to {count} record…", "Writing to {count} records…", 1)
_RETRYING = nt("Retrying… ({count} record: {error})", "Retrying… ({count} records: {error})", 1)
_NOT_WRITTEN = t("Not written to {title}: {reason}")
_UNSUPPORTED = t("{title}: {reason}")
_FAILURES = frozenset(line.msgid for line in (_NOT_WRITTEN, _RETRYING, _UNSUPPORTED))


def is_failure(line: str) -> bool:
    """Whether a write-back line tells of something not (yet) written."""
    return isinstance(line, Text) and line.msgid in _FAILURES


def is_written(line: str) -> bool:
    """Whether a write-back line tells that records were written."""
    return isinstance(line, Text) and line.msgid == _WRITTEN.msgid


def summarize(items: list[OutboxItem]) -> list[str]:
    """The card's write-back lines, as translatable text (:mod:`bot.i18n`)."""
    if not items:
        return []
    lines: list[str] = []
    done = [i for i in items if i.status is OutboxStatus.done]
    retrying = [i for i in items if i.retrying]
    waiting = [i for i in items if i.status is OutboxStatus.pending and not i.retrying]
    parked = [i for i in items if i.status is OutboxStatus.parked]
    if done:
        lines.append(_WRITTEN.fill(count=len(done)))
    if waiting:
        lines.append(_WRITING.fill(count=len(waiting)))
    if retrying:
        lines.append(_RETRYING.fill(count=len(retrying), error=retrying[0].last_error or ""))
    lines.extend(
        _NOT_WRITTEN.fill(title=i.record_title, reason=i.parked_reason or "") for i in parked
    )
    for item in done:
        lines.extend(
            _UNSUPPORTED.fill(title=item.record_title, reason=step.unsupported)
            for step in item.steps
            if step.unsupported
        )
    truncated = list(dict.fromkeys(f for i in items for f in i.payload.truncated))
    if truncated:
        lines.append(t("Truncated: {fields}", fields=cut_labels(truncated)))
    return lines


async def card_status(store: Store, tenant_id: str, interaction_id: str) -> list[str]:
    """The write-back lines for the card (empty before anything falls due)."""
    return summarize(await items_for(store, tenant_id, interaction_id))


# -- retention of the recovery copies ------------------------------------------------


def expires_at(item: OutboxItem, recovery_days: float) -> datetime | None:
    """When a finished item becomes purgeable (its last change plus the window); None
    while it is pending: an undelivered write-back is never a purgeable copy."""
    if item.status is OutboxStatus.pending:
        return None
    return item.updated_at + timedelta(days=recovery_days)


def purgeable(item: OutboxItem, cutoff: datetime) -> bool:
    """Done or parked, unleased, and unchanged since before ``cutoff``."""
    return (
        item.status is not OutboxStatus.pending
        and item.lease_owner is None
        and item.updated_at < cutoff
    )


@dataclass
class PurgeResult:
    purged: list[str]
    examined: int
    resume_after: str | None
    """Where a bounded pass stopped (the last key it read); None: it reached the end."""


async def purge_expired(
    store: Store,
    tenant_id: str,
    cutoff: datetime,
    *,
    limit: int | None = None,
    after: str | None = None,
) -> PurgeResult:
    """Delete the tenant's finished items last changed before ``cutoff``, with their due
    markers; at most ``limit`` point reads, starting after the key ``after``.

    Costs one listing of the tenant's outbox keys plus one read per examined item and two
    deletes per purged one. Safe beside workers, replays and other purgers: an item is
    deleted only under the ETag it was read with, so one that changed meanwhile (claimed,
    replayed) stays; its marker goes first and is put back if the item turned out pending.
    """
    purged: list[str] = []
    examined = 0
    async for key in store.keys(keys.outbox_prefix(tenant_id)):
        if after is not None and key <= after:
            continue
        if limit is not None and examined >= limit:
            return PurgeResult(purged, examined, after)
        examined += 1
        after = key
        if await _purge_one(store, key, cutoff):
            purged.append(key)
    return PurgeResult(purged, examined, None)


async def _purge_one(store: Store, key: str, cutoff: datetime) -> bool:
    document = await store.read(key)
    if document is None:
        return False
    try:
        item = OutboxItem.model_validate_json(document.data)
    except ValueError:
        return False  # not ours to judge: leave it
    if not purgeable(item, cutoff):
        return False
    marker = keys.outbox_due(key)
    await store.delete(marker)
    try:
        await store.delete(key, document.etag)
    except PreconditionFailed:
        # Changed since the read (a replay made it pending, or another purger got it):
        # a pending item must keep a marker, or no worker would find it.
        current = await read_model(store, key, OutboxItem)
        if current is not None and current.status is OutboxStatus.pending:
            await _mark_due(store, key)
        return False
    return True


async def purge_tenants(
    store: Store, tenant_ids: Iterable[str], cutoff: datetime
) -> dict[str, list[str]]:
    """Purge every expired item of the tenants, unbounded (the CLI's "purge now")."""
    return {
        tenant_id: (await purge_expired(store, tenant_id, cutoff)).purged
        for tenant_id in dict.fromkeys(tenant_ids)
    }
