"""The tenant's audit stream over the admin API.

``GET /api/admin/audit`` -- entries oldest first, filtered by the query parameters
``actor``, ``kind`` (exact or a prefix: ``crm`` is every ``crm.*``), ``door``, ``target``,
``from`` and ``to`` (ISO 8601; ``from`` inclusive, ``to`` exclusive) and ``limit``
(1..10000, default 1000). ``format=csv`` (or ``Accept: text/csv``) answers the same
entries as a CSV download.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from bot.domain.api_model import ApiModel
from bot.errors import FieldError, InvalidInput
from bot.i18n import t
from bot.services import audit
from bot.services.audit import AuditEntry, AuditQuery, Door
from bot.web.admin_auth import admin_of
from bot.web.answers import model_response
from bot.web.interactions import CONTEXT, SETTINGS

MAX_LIMIT = 10_000


def _when(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(name, t("an ISO 8601 date or date-time is required")) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _bad(name: str, message: str) -> InvalidInput:
    return InvalidInput(
        t("invalid audit query"), [FieldError(loc=["query", name], msg=message, type="value_error")]
    )


def parse_query(request: web.Request) -> AuditQuery:
    door_raw = request.query.get("door") or None
    if door_raw is not None and door_raw not in Door.__members__:
        raise _bad("door", t("one of {doors}", doors=", ".join(Door.__members__)))
    limit_raw = request.query.get("limit") or "1000"
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= MAX_LIMIT:
        raise _bad("limit", t("a whole number from 1 to {most}", most=MAX_LIMIT))
    return AuditQuery(
        actor=request.query.get("actor") or None,
        kind=request.query.get("kind") or None,
        door=Door(door_raw) if door_raw else None,
        target=request.query.get("target") or None,
        since=_when(request, "from"),
        until=_when(request, "to"),
        limit=int(limit_raw),
    )


class AuditPage(ApiModel):
    """``GET /api/admin/audit``: the entries asked for, oldest first, and their retention."""

    entries: list[AuditEntry]
    retention_days: float


def _wants_csv(request: web.Request) -> bool:
    if request.query.get("format") == "csv":
        return True
    return "text/csv" in request.headers.get("Accept", "")


async def get_audit(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    asked = parse_query(request)
    ctx = request.app[CONTEXT]
    await ctx.audit_feed.flush()  # this instance's card clicks of the last moment too
    entries = await audit.query(ctx.store, admin.tenant_id, asked)
    if _wants_csv(request):
        return web.Response(
            text=audit.to_csv(entries),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="crmcard-audit.csv"'},
        )
    return model_response(
        AuditPage(entries=entries, retention_days=request.app[SETTINGS].audit_retention_days)
    )


def setup_admin_audit(app: web.Application) -> None:
    app.router.add_get("/api/admin/audit", get_audit)
