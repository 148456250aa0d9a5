"""Delivering the write-back outbox to the CRMs: claim, write, retry, park.

A :class:`WritebackWorker` runs in every bot process. It scans the due markers, claims
an item by writing its lease under the item's ETag (losing that race means another
process has it), and writes the item's steps into the CRM, saving each finished step
under the same ETag chain, so a crash after a CRM write redoes only that step, and the
timeline step finds what a crashed attempt already created (external id) where the CRM
lets us look it up. Outages and throttling are retried by the one retry policy
(:data:`bot.services.retry.WRITEBACK`, ``Retry-After`` honoured); what the CRM refuses
outright is parked with the reason, for an admin to fix and replay, once the record's
other step is written (a refused field update still leaves its timeline activity).

Each item is written as the interaction's agent (:mod:`bot.services.acting_agent`): a CRM
connected with delegated access takes the agent's own token (renewed from the sign-in
cache when their Teams token has expired). An agent with no usable sign-in is not a
refusal of the CRM: the item stays pending and is retried, its reason on the card and in
the admin's outbox, until the agent signs in again (their sign-in makes it due at once,
not after its backoff) or the attempts run out (parked, to replay).

Before any CRM call the tenant gate is asked (``tenant_gate``). A tenant it refuses (no
admin consent, or a revoked one) is not a failure either, and costs no attempt: the CRM
was never called. The item waits, marked ``waiting_for_consent``, its reason on the card
and in the admin's outbox, its waits growing with the refusals as with failures, up to
the policy's longest; it is never parked for it. Recording the tenant's consent makes its
waiting items due at once (:meth:`WritebackWorker.consent_granted`,
:func:`bot.services.outbox.due_at_consent`).

In the background the worker also purges finished items older than the recovery window
(:func:`bot.services.outbox.purge_expired`): first shortly after start, then every
``purge_interval``, at most ``purge_limit`` item reads per tenant and sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta

from bot.domain.interactions import EventRecord, Interaction
from bot.domain.memorialization import WriteKind, fitted_to, with_reference
from bot.domain.records import CrmRecord
from bot.i18n import nt, t
from bot.observability import context, telemetry
from bot.services import acting_agent, audit, keys, outbox
from bot.services.context import Context, EventListener
from bot.services.crm import (
    AgentNotSignedIn,
    CrmAuthError,
    CrmClient,
    CrmError,
    CrmThrottled,
    CrmUnavailable,
    NotSupported,
    text_limits,
)
from bot.services.outbox import OutboxItem, OutboxStatus, StepState
from bot.services.rendering import publish
from bot.services.retry import WRITEBACK, RetryPolicy
from bot.services.store import PreconditionFailed, read_model
from bot.services.tenants import TenantNotConsented
from bot.services.writeback_ports import IdempotentTimeline, QueuedWork, WorkQueue

log = logging.getLogger(__name__)


class _LeaseLost(Exception):
    """Another worker took the item over (our lease expired)."""


class _Retry(Exception):
    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        for_sign_in: bool = False,
        for_consent: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason  # a translatable reason keeps its message id for the card
        self.retry_after = retry_after
        self.for_sign_in = for_sign_in
        self.for_consent = for_consent  # the gate refused: the CRM was not called


class _Park(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WritebackWorker:
    def __init__(
        self,
        ctx: Context,
        *,
        poll_interval: float = 1.0,
        lease: float = 60.0,
        policy: RetryPolicy = WRITEBACK,
        concurrency: int = 8,
        owner: str | None = None,
        jitter: Callable[[], float] = random.random,
        publish_card: Callable[[Context, Interaction], Awaitable[object]] = publish,
        queue: WorkQueue | None = None,
        scan_interval: float | None = None,
        recovery_days: float = outbox.DEFAULT_RECOVERY_DAYS,
        retention_tenants: Callable[[], Awaitable[Iterable[str]]] | None = None,
        purge_interval: float = 3600.0,
        purge_first_after: float = 60.0,
        purge_limit: int = 500,
        audit_retention_days: float = audit.DEFAULT_RETENTION_DAYS,
        tenant_gate: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """``poll_interval``: how often the queue (or, without one, the store) is looked
        at; ``scan_interval``: how often the store's due markers are scanned (default:
        every poll without a queue, a safety net every 30 s or 10 polls with one).

        ``retention_tenants``: whose finished items to purge after ``recovery_days``
        (None: no background purge); the same sweep drops their audit entries older than
        ``audit_retention_days`` (a retention of its own, not the recovery window).

        ``tenant_gate``: raises :class:`~bot.services.tenants.TenantNotConsented` for a
        tenant the gate refuses (its consent revoked since the item was queued): nothing is
        written to its CRMs, and the item waits for consent to be granted again (no attempt
        used up; :meth:`consent_granted` makes it due)."""
        self.tenant_gate = tenant_gate
        self.recovery_days = recovery_days
        self.audit_retention_days = audit_retention_days
        self.retention_tenants = retention_tenants
        self.purge_interval = purge_interval
        self.purge_first_after = purge_first_after
        self.purge_limit = max(1, purge_limit)
        self._purge_after: dict[str, str | None] = {}
        self._purge_task: asyncio.Task[None] | None = None
        self.ctx = ctx
        self.poll_interval = poll_interval
        self.queue = queue
        self.scan_interval = (
            scan_interval
            if scan_interval is not None
            else poll_interval
            if queue is None
            else max(30.0, 10 * poll_interval)
        )
        self.claimed = 0
        self._concurrency = concurrency
        self.lease = timedelta(seconds=lease)
        self.policy = policy
        self.owner = owner or f"worker-{uuid.uuid4().hex[:12]}"
        self._jitter = jitter
        self._publish = publish_card
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._oldest_waiting = 0.0
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def announce(self, item_keys: Sequence[str]) -> None:
        """New (or replayed) items: wake this worker and, over the queue, the others."""
        self.wake()
        if self.queue is not None:
            for key in item_keys:
                try:
                    await self.queue.send(key)
                except Exception:  # the store scan finds it anyway
                    log.warning("could not announce %s on the queue", key, exc_info=True)

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"writeback {self.owner}")
        if self._purge_task is None or self._purge_task.done():
            self._purge_task = asyncio.create_task(
                self.run_retention(), name=f"writeback retention {self.owner}"
            )
        return self._task

    async def agent_signed_in(self, tenant_id: str, agent_id: str) -> None:
        """The agent signed in: their write-backs waiting for it are due now, not after
        their backoff (here and, over the queue, on the other instances)."""
        due = await outbox.due_at_sign_in(self.ctx.store, tenant_id, agent_id, self.ctx.clock())
        await self._announce_due(due, "the agent's sign-in")

    async def consent_granted(self, tenant_id: str) -> None:
        """The tenant's admin consent was recorded: its write-backs the gate held back are
        due now, not after their backoff (here and, over the queue, on the other instances)."""
        due = await outbox.due_at_consent(self.ctx.store, tenant_id, self.ctx.clock())
        await self._announce_due(due, "the tenant's consent")

    async def _announce_due(self, due: list[str], waited_for: str) -> None:
        """Tell the workers about the items just made due (none: nothing to say)."""
        if due:
            log.info("%d write-back(s) waiting for %s are due now", len(due), waited_for)
            await self.announce(due)

    async def stop(self) -> None:
        tasks = (self._task, self._purge_task)
        self._task = self._purge_task = None
        for task in tasks:
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_retention(self) -> None:
        await asyncio.sleep(self.purge_first_after)
        while True:
            try:
                await self.purge_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("write-back retention sweep failed; trying again later")
            await asyncio.sleep(self.purge_interval)

    async def purge_once(self) -> int:
        """One bounded retention sweep over the tenants; how many items were purged. Each
        tenant's sweep resumes where its last one stopped, wrapping around at the end."""
        if self.retention_tenants is None:
            return 0
        cutoff = self.ctx.clock() - timedelta(days=self.recovery_days)
        purged = 0
        for tenant_id in dict.fromkeys(await self.retention_tenants()):
            result = await outbox.purge_expired(
                self.ctx.store,
                tenant_id,
                cutoff,
                limit=self.purge_limit,
                after=self._purge_after.get(tenant_id),
            )
            self._purge_after[tenant_id] = result.resume_after
            purged += len(result.purged)
            audit_cutoff = self.ctx.clock() - timedelta(days=self.audit_retention_days)
            dropped = await audit.purge_expired(self.ctx.store, tenant_id, audit_cutoff)
            if dropped:
                log.info(
                    "audit retention: %d entries of %s before %s", dropped, tenant_id, audit_cutoff
                )
        if purged:
            log.info("write-back retention: purged %d item(s) before %s", purged, cutoff)
        return purged

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last_scan: float | None = None
        while True:
            try:
                if last_scan is None or loop.time() - last_scan >= self.scan_interval:
                    last_scan = loop.time()
                    await self.run_once()
                if self.queue is not None:
                    while await self.run_queue_once():
                        pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("write-back pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            if self._wake.is_set() and self.queue is None:
                last_scan = None  # woken for new items: scan now
            self._wake.clear()

    # -- one pass ----------------------------------------------------------------------

    async def run_once(self) -> int:
        """Scan the due markers and deliver every item due now; how many were claimed."""
        before = self.claimed
        markers = [key async for key in self.ctx.store.keys(keys.OUTBOX_DUE_PREFIX)]
        keys_ = [marker[len(keys.OUTBOX_DUE_PREFIX) :] for marker in markers]
        self._oldest_waiting = 0.0
        await asyncio.gather(*(self._guarded(key) for key in keys_))
        telemetry.outbox_seen(len(keys_), self._oldest_waiting)
        return self.claimed - before

    async def run_queue_once(self) -> int:
        """Handle the announcements waiting on the queue; how many there were."""
        assert self.queue is not None
        works = await self.queue.receive(self._concurrency, self.lease.total_seconds())
        await asyncio.gather(*(self._from_queue(work) for work in works))
        return len(works)

    async def _from_queue(self, work: QueuedWork) -> None:
        assert self.queue is not None
        later = await self._guarded(work.item_key)
        if later is not None:  # not due yet, or someone's lease: look again then
            await self.queue.send(work.item_key, later)
        await self.queue.done(work)

    async def _guarded(self, item_key: str) -> float | None:
        async with self._limit:
            try:
                return await self._process(item_key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("write-back of %s failed unexpectedly", item_key)
                return None

    async def _process(self, item_key: str) -> float | None:
        """Claim and deliver the item if it is due; seconds until it is due otherwise (or
        until a retry), None when there is nothing more to do for it."""
        store = self.ctx.store
        marker = keys.outbox_due(item_key)
        document = await store.read(item_key)
        if document is None:
            await self._unmark(marker)
            return None
        item = OutboxItem.model_validate_json(document.data)
        if item.status is not OutboxStatus.pending:
            await self._unmark(marker)
            return None
        now = self.ctx.clock()
        waiting = (now - item.created_at).total_seconds()
        self._oldest_waiting = max(self._oldest_waiting, waiting)
        waits = [
            (moment - now).total_seconds()
            for moment in (item.next_attempt_at, item.lease_until)
            if moment is not None and moment > now
        ]
        if waits:
            return max(waits)
        claimed = item.model_copy(
            deep=True,
            update={
                "lease_owner": self.owner,
                "lease_until": now + self.lease,
                "attempts": item.attempts + 1,
                "updated_at": now,
            },
        )
        try:
            etag = await store.replace(item_key, claimed.model_dump_json().encode(), document.etag)
        except PreconditionFailed:
            return None  # another worker claimed it first
        self.claimed += 1
        try:
            with context.about(tenant_id=item.tenant_id, interaction_id=item.interaction_id):
                return await self._deliver(claimed, etag, marker, item.last_error is None)
        except _LeaseLost:
            log.warning("lost the lease of %s to another worker", item_key)
            return None

    async def _unmark(self, marker: str) -> None:
        with contextlib.suppress(Exception):
            await self.ctx.store.delete(marker)

    async def _save(self, item: OutboxItem, etag: str) -> str:
        item.updated_at = self.ctx.clock()
        try:
            return await self.ctx.store.replace(item.key, item.model_dump_json().encode(), etag)
        except PreconditionFailed as error:
            raise _LeaseLost(item.key) from error

    async def _client(self, item: OutboxItem) -> CrmClient:
        for client in await self.ctx.crms.clients(item.tenant_id):
            if client.settings_id == item.record.crm:
                return client
        raise _Park(t("The CRM {crm} is no longer connected", crm=item.record.crm))

    async def _deliver(self, item: OutboxItem, etag: str, marker: str, first: bool) -> float | None:
        """Write the item's steps; the delay before the next attempt if one is needed."""
        acting_agent.act_as(item.tenant_id, item.agent_id or "")  # this task's CRM calls
        try:
            if self.tenant_gate is not None:
                try:
                    await self.tenant_gate(item.tenant_id)
                except TenantNotConsented as not_consented:
                    waiting = t(
                        "Waiting for admin consent; written as soon as it is granted: {reason}",
                        reason=not_consented.message,
                    )
                    raise _Retry(waiting, for_consent=True) from not_consented
                item.consent_refusals = 0  # let through: a later refusal waits short again
            try:
                client = await self._client(item)
                limits = text_limits(client, item.record.type, item.payload.activity_type)
                item.payload = fitted_to(item.payload, limits)  # saved with the item's next write
                refused: list[str] = []
                for step in item.steps:
                    if step.finished:
                        continue
                    try:
                        await self._step(client, item, step)
                    except (CrmUnavailable, CrmAuthError):
                        raise
                    except CrmError as error:  # the record's other steps are still written
                        refused.append(error.message)
                        continue
                    etag = await self._save(item, etag)
                if refused:
                    raise _Park(refused[0])
            except CrmThrottled as error:
                raise _Retry(error.message, error.retry_after) from error
            except AgentNotSignedIn as error:
                waiting = t(
                    "Waiting for the agent {agent} to sign in: {reason}",
                    agent=item.agent_id or "?",
                    reason=error.message,
                )
                raise _Retry(waiting, for_sign_in=True) from error
            except CrmUnavailable as error:
                raise _Retry(error.message or t("The CRM did not answer in time")) from error
            except TimeoutError as error:
                raise _Retry(t("The CRM did not answer in time")) from error
            except CrmError as error:
                raise _Park(error.message) from error
            except _Park:
                raise
            except (_LeaseLost, asyncio.CancelledError):
                raise
            except Exception as error:
                log.exception("write-back of %s failed", item.key)
                raise _Retry(t("Unexpected error: {error}", error=repr(error))) from error
            if item.steps and all(step.unsupported for step in item.steps):
                reasons = list(dict.fromkeys(s.unsupported or "" for s in item.steps))
                raise _Park(t("not supported by this CRM ({reasons})", reasons=reasons))
            self._finish(item, OutboxStatus.done)
        except _Retry as retry:
            if retry.for_consent:  # the CRM was not called: no attempt used up, never parked
                item.attempts -= 1
                item.consent_refusals += 1
            if not retry.for_consent and self.policy.exhausted(item.attempts):
                given_up = nt(
                    "gave up after {count} attempt: {error}",
                    "gave up after {count} attempts: {error}",
                    item.attempts,
                    error=retry.reason,
                )
                self._finish(item, OutboxStatus.parked, given_up)
            else:
                failures = item.attempts + item.consent_refusals  # a refusal waits as one
                delay = self.policy.delay(failures, retry.retry_after, self._jitter)
                item.next_attempt_at = self.ctx.clock() + timedelta(seconds=delay)
                item.lease_owner = item.lease_until = None
                item.last_error = retry.reason
                item.waiting_for_sign_in = retry.for_sign_in
                item.waiting_for_consent = retry.for_consent
                log.info(
                    "write-back will be retried",
                    extra={
                        "event": "writeback.retry",
                        "crm": item.record.crm,
                        "attempts": item.attempts,
                        "consentRefusals": item.consent_refusals,
                        "delaySeconds": round(delay, 3),
                        "reason": str(retry),
                    },
                )
                await self._save(item, etag)
                if first:
                    await self._republish(item)
                return delay
        except _Park as park:
            self._finish(item, OutboxStatus.parked, park.reason)
        if item.status is OutboxStatus.done:
            log.info(
                "write-back delivered",
                extra={
                    "event": "writeback.delivered",
                    "crm": item.record.crm,
                    "attempts": item.attempts,
                },
            )
        await self._save(item, etag)
        await self._audit(item)
        await self._unmark(marker)
        await self._republish(item)
        return None

    async def _audit(self, item: OutboxItem) -> None:
        """The outcome in the tenant's audit stream: it outlives the outbox's retention."""
        delivered = item.status is OutboxStatus.done
        await audit.record(
            self.ctx.store,
            item.tenant_id,
            audit.SYSTEM,
            "writeback.delivered" if delivered else "writeback.parked",
            at=self.ctx.clock(),
            target=item.record.key,
            details={
                "interactionId": item.interaction_id,
                "recordTitle": item.record_title,
                "attempts": item.attempts,
                "steps": [step.kind.value for step in item.steps],
                **({} if delivered else {"reason": item.parked_reason}),
            },
        )

    def _finish(self, item: OutboxItem, status: OutboxStatus, reason: str | None = None) -> None:
        item.status = status
        item.parked_reason = reason
        item.lease_owner = item.lease_until = None
        item.waiting_for_sign_in = item.waiting_for_consent = False  # done or an admin's
        if status is OutboxStatus.parked:
            log.warning(
                "write-back %s parked: %s",
                item.key,
                reason,
                extra={"event": "writeback.parked", "crm": item.record.crm},
            )

    async def _step(self, client: CrmClient, item: OutboxItem, step: StepState) -> None:
        timeout = self.lease.total_seconds() / 3
        try:
            if step.kind is WriteKind.fields:
                written = await asyncio.wait_for(self._fields(client, item, step), timeout)
            else:
                written = await asyncio.wait_for(self._timeline(client, item, step), timeout)
        except NotSupported as error:
            step.unsupported = error.message
            return
        step.done = True
        step.result_id = written.ref.id

    async def _fields(self, client: CrmClient, item: OutboxItem, step: StepState) -> CrmRecord:
        """The record's fields; a note with them on CRMs that cannot update records, unless
        the item's timeline activity carries the interaction anyway."""
        try:
            return await client.update(item.record, item.payload.fields)
        except NotSupported:
            if any(other.kind is WriteKind.timeline for other in item.steps):
                raise
        note = "\n".join(f"{name}: {value}" for name, value in item.payload.fields.items())
        return await self._timeline(client, item, step, item.payload.note_subject, note)

    async def _timeline(
        self,
        client: CrmClient,
        item: OutboxItem,
        step: StepState,
        subject: str | None = None,
        text: str | None = None,
    ) -> CrmRecord:
        payload = item.payload
        subject = subject or payload.timeline_subject or "Interaction"
        text = text if text is not None else payload.timeline_description or ""
        description = with_reference(text, step.idempotency_key)
        if isinstance(client, IdempotentTimeline):
            existing = await client.find_timeline_activity(item.record, step.idempotency_key)
            if existing is not None:
                return existing
            return await client.create_timeline_activity(
                item.record,
                subject,
                description,
                activity_type=payload.activity_type,
                outbound=payload.outbound,
                external_id=step.idempotency_key,
            )
        return await client.create_timeline_activity(
            item.record,
            subject,
            description,
            activity_type=payload.activity_type,
            outbound=payload.outbound,
        )

    async def _republish(self, item: OutboxItem) -> None:
        try:
            key = keys.interaction(item.tenant_id, item.interaction_id)
            interaction = await read_model(self.ctx.store, key, Interaction)
            if interaction is not None:
                await self._publish(self.ctx, interaction)
        except Exception:
            log.exception("could not show the write-back of %s on the card", item.key)


class OutboxListener:
    """The event listener that persists due write-backs before the webhook answers.

    It runs for replayed events too (``runs_on_replay``): if the process died after the
    event was stored but before the outbox was, the platform's retry fills the gap.

    The items are made from the interaction as stored, not as the event left it: a
    listener before this one may have pinned a record (record creation at the last event
    of a chat), and pinned records are written back too. If the stored one is no longer
    due (a transferred chat already assigned again), the event's own is written.
    """

    runs_on_replay = True

    def __init__(self, worker: WritebackWorker | None = None) -> None:
        self.worker = worker

    async def __call__(self, ctx: Context, interaction: Interaction, record: EventRecord) -> None:
        if not interaction.writeback_due:
            return
        key = keys.interaction(interaction.tenant_id, interaction.id)
        stored = await read_model(ctx.store, key, Interaction)
        due = stored if stored is not None and stored.writeback_due else interaction
        created = await outbox.enqueue(ctx.store, ctx.crms, due, ctx.clock())
        if created and self.worker is not None:
            await self.worker.announce([item.key for item in created])


def outbox_listener(worker: WritebackWorker | None = None) -> EventListener:
    return OutboxListener(worker)
