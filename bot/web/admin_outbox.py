"""The admin API for write-backs, per tenant by ``X-Admin-Key``.

* ``GET  /api/admin/outbox[?status=parked|pending|done]`` -- the tenant's write-backs,
  with the retention of finished ones (``retention``; each item's ``purgeAfter``)
* ``POST /api/admin/outbox/replay`` -- body ``{"interactionId": ..., "record": "crm:type:id"}``:
  send a parked (or waiting) write-back again, now; ``{"allParked": true}`` (optionally
  with ``"settingsId"``) replays every parked one, e.g. after fixing a CRM's credentials

What a write-back writes is the memorialization mapping's (``bot.web.admin_memorialization``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot.adapters.inbound import json_object
from bot.errors import FieldError, InvalidInput
from bot.services import outbox
from bot.services.context import Context
from bot.services.outbox import OutboxItem, OutboxStatus
from bot.services.writeback import WritebackWorker
from bot.web.admin_auth import admin_of
from bot.web.interactions import CONTEXT, SETTINGS

WRITEBACK = web.AppKey("writeback_worker", WritebackWorker)


def retention_json(recovery_days: float, now: datetime) -> dict[str, Any]:
    return {
        "recoveryDays": recovery_days,
        "purgesBefore": (now - timedelta(days=recovery_days)).isoformat(),
        "rule": "done and parked write-backs are purged, with their due markers, once "
        "unchanged for recoveryDays; pending ones never",
    }


def item_json(item: OutboxItem, recovery_days: float | None = None) -> dict[str, Any]:
    purge_after = outbox.expires_at(item, recovery_days) if recovery_days is not None else None
    return {
        "interactionId": item.interaction_id,
        "record": item.record.key,
        "recordTitle": item.record_title,
        "status": item.status.value,
        "attempts": item.attempts,
        "nextAttemptAt": item.next_attempt_at.isoformat(),
        "lastError": item.last_error,
        "parkedReason": item.parked_reason,
        "truncated": item.payload.truncated,
        "steps": [
            {
                "kind": step.kind.value,
                "done": step.done,
                "resultId": step.result_id,
                "unsupported": step.unsupported,
                "idempotencyKey": step.idempotency_key,
            }
            for step in item.steps
        ],
        "createdAt": item.created_at.isoformat(),
        "updatedAt": item.updated_at.isoformat(),
        "purgeAfter": purge_after.isoformat() if purge_after else None,
    }


async def list_outbox(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    raw = request.query.get("status")
    try:
        status = OutboxStatus(raw) if raw else None
    except ValueError:
        allowed = [s.value for s in OutboxStatus]
        raise InvalidInput(
            f"status must be one of {allowed}",
            [FieldError(loc=["query", "status"], msg=f"one of {allowed}", type="enum")],
        ) from None
    ctx: Context = request.app[CONTEXT]
    days = request.app[SETTINGS].recovery_days
    items = await outbox.list_items(ctx.store, tenant_id, status)
    return web.json_response(
        {
            "items": [item_json(i, days) for i in items],
            "retention": retention_json(days, ctx.clock()),
        }
    )


async def replay_item(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    body = await json_object(request)
    ctx: Context = request.app[CONTEXT]
    worker = request.app.get(WRITEBACK)
    if body.get("allParked") is True:
        settings_id = body.get("settingsId")
        if settings_id is not None and not isinstance(settings_id, str):
            raise InvalidInput(
                "settingsId must be a string",
                [FieldError(loc=["settingsId"], msg="must be a string", type="string_type")],
            )
        items = await outbox.replay_parked(ctx.store, tenant_id, ctx.clock(), settings_id)
        if worker is not None:
            await worker.announce([i.key for i in items])
        return web.json_response({"items": [item_json(i) for i in items]}, status=202)
    interaction_id, record = body.get("interactionId"), body.get("record")
    if not isinstance(interaction_id, str) or not isinstance(record, str):
        raise InvalidInput(
            'interactionId and record (crm:type:id) are required, or "allParked": true',
            [
                FieldError(loc=[name], msg="a string is required", type="string_type")
                for name, value in (("interactionId", interaction_id), ("record", record))
                if not isinstance(value, str)
            ],
        )
    item = await outbox.replay(ctx.store, tenant_id, interaction_id, record, ctx.clock())
    if worker is not None:
        await worker.announce([item.key])
    return web.json_response(item_json(item), status=202)


def setup_admin_outbox(app: web.Application) -> None:
    app.router.add_get("/api/admin/outbox", list_outbox)
    app.router.add_post("/api/admin/outbox/replay", replay_item)
