"""Caller lookup for the IVR and its routing rules.

``POST /api/lookup`` (``X-Api-Key`` decides the tenant): one identifier in, the caller's
name, records, routing (queue, skills) and a ``lookupId`` for the screen pop out.
``GET/PUT /api/admin/routing`` (``X-Admin-Key``): the tenant's routing rules, validated
on the way in (at most five skills, no empty names). ``POST /api/admin/lookup``: the
same lookup on the admin's door, to try the rules (``routing.rule`` names the one that
fired). Why a CRM was not asked or did not answer is told in the reader's language
(``Accept-Language`` or ``?locale=``, as errors are).
"""

from __future__ import annotations

from aiohttp import web

from bot.adapters.inbound import json_model
from bot.domain.routing import RoutingConfig
from bot.i18n import t
from bot.services import caller_lookup
from bot.web.admin_auth import admin_of
from bot.web.interactions import CONTEXT, api_key_tenant
from bot.web.problems import reader_locale


async def _lookup(request: web.Request, tenant_id: str) -> web.Response:
    asked = await json_model(request, caller_lookup.LookupRequest, t("invalid lookup"))
    reader = reader_locale(request)
    answer = await caller_lookup.lookup(request.app[CONTEXT], tenant_id, asked, reader)
    response = web.json_response(answer.body())
    response.headers["Content-Language"] = reader.language
    return response


async def post_lookup(request: web.Request) -> web.Response:
    return await _lookup(request, await api_key_tenant(request))


async def try_lookup(request: web.Request) -> web.Response:
    return await _lookup(request, (await admin_of(request)).tenant_id)


def _dump(config: RoutingConfig) -> dict[str, object]:
    return config.model_dump(mode="json", by_alias=True)


async def get_routing(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    return web.json_response(
        _dump(await caller_lookup.get_routing(request.app[CONTEXT], tenant_id))
    )


async def put_routing(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    config = await json_model(request, RoutingConfig, t("invalid routing rules"))
    await caller_lookup.put_routing(request.app[CONTEXT], tenant_id, config, admin.actor)
    return web.json_response(_dump(config))


def setup_caller_lookup(app: web.Application) -> None:
    app.router.add_post("/api/lookup", post_lookup)
    app.router.add_post("/api/admin/lookup", try_lookup)
    app.router.add_get("/api/admin/routing", get_routing)
    app.router.add_put("/api/admin/routing", put_routing)
