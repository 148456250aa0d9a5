"""GDPR over the admin API: export or erase one data subject (bot.services.data_subjects).

* ``POST /api/admin/data-subjects/export`` -- body ``{"phone" | "email" | "cardId": ...}``;
  200 with everything crmcard keeps about that person
* ``POST /api/admin/data-subjects/erase`` -- same body; 200 with what was erased
  (``pseudonym``, counts); audited under the pseudonym. 404 when no card matches.

The export and erasure are imported by the first such request: a server starts without
them.
"""

from __future__ import annotations

from aiohttp import web

from bot.adapters.inbound import json_model
from bot.i18n import t
from bot.web.admin_auth import admin_of
from bot.web.answers import model_response
from bot.web.interactions import CONTEXT
from bot.web.tickets import TICKETING


async def export_subject(request: web.Request) -> web.Response:
    from bot.services import data_subjects
    from bot.services.data_subjects import SubjectQuery

    admin = await admin_of(request)
    query = await json_model(request, SubjectQuery, t("invalid data subject"))
    ctx = request.app[CONTEXT]
    await ctx.audit_feed.flush()  # card clicks' entries waiting here are exported too
    found = await data_subjects.export(
        ctx.store, admin.tenant_id, query, ctx.default_region, request.app[TICKETING].archive
    )
    return web.json_response(found)


async def erase_subject(request: web.Request) -> web.Response:
    from bot.services import data_subjects
    from bot.services.data_subjects import SubjectQuery

    admin = await admin_of(request)
    query = await json_model(request, SubjectQuery, t("invalid data subject"))
    ctx = request.app[CONTEXT]
    await ctx.audit_feed.flush()  # nothing waiting here writes the subject back afterwards
    report = await data_subjects.erase(
        ctx.store,
        admin.tenant_id,
        query,
        ctx.default_region,
        admin.actor,
        ctx.clock(),
        request.app[TICKETING].archive,
    )
    return model_response(report)


def setup_admin_data_subjects(app: web.Application) -> None:
    app.router.add_post("/api/admin/data-subjects/export", export_subject)
    app.router.add_post("/api/admin/data-subjects/erase", erase_subject)
