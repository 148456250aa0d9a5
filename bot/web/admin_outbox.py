"""The admin API for write-backs, per tenant by ``X-Admin-Key``.

* ``GET  /api/admin/outbox[?status=parked|pending|done]`` -- the tenant's write-backs,
  with the retention of finished ones (``retention``; each item's ``purgeAfter``) and what
  a pending one waits for (``waitingFor``: the agent's sign-in, the tenant's admin
  consent, or null), so the console can say so without reading ``lastError``
* ``POST /api/admin/outbox/replay`` -- body ``{"interactionId": ..., "record": "crm:type:id"}``:
  send a parked (or waiting) write-back again, now; ``{"allParked": true}`` (optionally
  with ``"settingsId"``) replays every parked one, e.g. after fixing a CRM's credentials

What a write-back writes is the memorialization mapping's (``bot.web.admin_memorialization``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from pydantic import ConfigDict, Field

from bot.adapters.inbound import json_model
from bot.domain.api_model import ApiModel
from bot.errors import FieldError, InvalidInput
from bot.i18n import t
from bot.services import outbox
from bot.services.context import Context
from bot.services.outbox import OutboxItem, OutboxStatus, WaitingFor
from bot.services.writeback import WritebackWorker
from bot.web.admin_auth import admin_of
from bot.web.answers import model_response
from bot.web.interactions import CONTEXT, SETTINGS

WRITEBACK = web.AppKey("writeback_worker", WritebackWorker)


class OutboxStep(ApiModel):
    kind: str
    done: bool
    result_id: str | None
    unsupported: str | None
    idempotency_key: str


class OutboxItemAnswer(ApiModel):
    """One write-back as the admin API shows it."""

    interaction_id: str
    record: str = Field(description="the record's key, crm:type:id")
    record_title: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    parked_reason: str | None
    waiting_for: WaitingFor | None = Field(
        description="what a pending write-back waits for, each making it due at once: "
        "'sign-in' (its agent's, for a CRM with delegated access), 'consent' (the tenant "
        "admin's; it wins if both were set); null when it waits for its backoff only, or is "
        "not pending"
    )
    truncated: list[str] = Field(
        description="what was cut to fit the mapping's or the CRM's length: crmcard fields, "
        "'timeline subject', 'timeline description'"
    )
    steps: list[OutboxStep]
    created_at: datetime
    updated_at: datetime
    purge_after: datetime | None

    @classmethod
    def of(cls, item: OutboxItem, recovery_days: float | None = None) -> OutboxItemAnswer:
        purge_after = outbox.expires_at(item, recovery_days) if recovery_days is not None else None
        return cls(
            interaction_id=item.interaction_id,
            record=item.record.key,
            record_title=item.record_title,
            status=item.status,
            attempts=item.attempts,
            next_attempt_at=item.next_attempt_at,
            last_error=item.last_error,
            parked_reason=item.parked_reason,
            waiting_for=item.waiting_for,
            truncated=item.payload.truncated,
            steps=[
                OutboxStep(
                    kind=step.kind.value,
                    done=step.done,
                    result_id=step.result_id,
                    unsupported=step.unsupported,
                    idempotency_key=step.idempotency_key,
                )
                for step in item.steps
            ],
            created_at=item.created_at,
            updated_at=item.updated_at,
            purge_after=purge_after,
        )


class Retention(ApiModel):
    recovery_days: float
    purges_before: datetime
    rule: str

    @classmethod
    def of(cls, recovery_days: float, now: datetime) -> Retention:
        return cls(
            recovery_days=recovery_days,
            purges_before=now - timedelta(days=recovery_days),
            rule="done and parked write-backs are purged, with their due markers, once "
            "unchanged for recoveryDays; pending ones never",
        )


class Outbox(ApiModel):
    """``GET /api/admin/outbox``: the write-backs and the retention of finished ones."""

    items: list[OutboxItemAnswer]
    retention: Retention


class Replayed(ApiModel):
    """``POST /api/admin/outbox/replay`` with ``allParked``: the write-backs queued again."""

    items: list[OutboxItemAnswer]


class Replay(ApiModel):
    """One write-back (``interactionId`` and ``record``), or every parked one."""

    model_config = ConfigDict(extra="forbid")

    interaction_id: str | None = None
    record: str | None = Field(None, description="the record's key, crm:type:id")
    all_parked: bool | None = None
    settings_id: str | None = Field(None, description="with allParked: only this CRM's")


async def list_outbox(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    raw = request.query.get("status")
    try:
        status = OutboxStatus(raw) if raw else None
    except ValueError:
        allowed = [s.value for s in OutboxStatus]
        raise InvalidInput(
            t("status must be one of {allowed}", allowed=str(allowed)),
            [
                FieldError(
                    loc=["query", "status"],
                    msg=t("one of {allowed}", allowed=str(allowed)),
                    type="enum",
                )
            ],
        ) from None
    ctx: Context = request.app[CONTEXT]
    days = request.app[SETTINGS].recovery_days
    items = await outbox.list_items(ctx.store, tenant_id, status)
    return model_response(
        Outbox(
            items=[OutboxItemAnswer.of(i, days) for i in items],
            retention=Retention.of(days, ctx.clock()),
        )
    )


async def replay_item(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    asked = await json_model(request, Replay, t("invalid replay"))
    ctx: Context = request.app[CONTEXT]
    worker = request.app.get(WRITEBACK)
    if asked.all_parked is True:
        items = await outbox.replay_parked(ctx.store, tenant_id, ctx.clock(), asked.settings_id)
        if worker is not None:
            await worker.announce([i.key for i in items])
        return model_response(Replayed(items=[OutboxItemAnswer.of(i) for i in items]), 202)
    if asked.interaction_id is None or asked.record is None:
        raise InvalidInput(
            t('interactionId and record (crm:type:id) are required, or "allParked": true'),
            [
                FieldError(loc=[name], msg=t("a string is required"), type="missing")
                for name, value in (
                    ("interactionId", asked.interaction_id),
                    ("record", asked.record),
                )
                if value is None
            ],
        )
    item = await outbox.replay(
        ctx.store, tenant_id, asked.interaction_id, asked.record, ctx.clock()
    )
    if worker is not None:
        await worker.announce([item.key])
    return model_response(OutboxItemAnswer.of(item), 202)


def setup_admin_outbox(app: web.Application) -> None:
    app.router.add_get("/api/admin/outbox", list_outbox)
    app.router.add_post("/api/admin/outbox/replay", replay_item)
