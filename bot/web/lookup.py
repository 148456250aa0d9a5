"""Caller lookup for the IVR and its routing rules.

``POST /api/lookup`` (``X-Api-Key`` decides the tenant): one identifier in, the caller's
name, records, routing (queue, skills) and a ``lookupId`` for the screen pop out.
``GET/PUT /api/admin/routing`` (``X-Admin-Key``): the tenant's routing rules, validated
on the way in (at most five skills, no empty names).
"""

from __future__ import annotations

import json

from aiohttp import web
from pydantic import ValidationError

from bot.domain.errors import DomainError
from bot.domain.routing import RoutingConfig
from bot.services import lookup
from bot.services.validation import validation_details
from bot.web.admin_auth import admin_tenant
from bot.web.errors import invalid_input, problem
from bot.web.interactions import CONTEXT, SETTINGS, tenant_for_key


async def post_lookup(request: web.Request) -> web.Response:
    tenant_id = tenant_for_key(request.app[SETTINGS], request.headers.get("X-Api-Key", ""))
    if tenant_id is None:
        return problem(401, "missing or unknown X-Api-Key")
    try:
        asked = lookup.LookupRequest.model_validate(await request.json())
    except json.JSONDecodeError as error:
        return problem(400, f"body is not JSON: {error}")
    except ValidationError as error:
        return invalid_input(error, "invalid lookup")
    try:
        answer = await lookup.lookup(request.app[CONTEXT], tenant_id, asked)
    except DomainError as error:
        return problem(400, str(error))
    return web.json_response(answer.body())


def _dump(config: RoutingConfig) -> dict[str, object]:
    return config.model_dump(mode="json", by_alias=True)


async def get_routing(request: web.Request) -> web.Response:
    tenant_id = admin_tenant(request)
    return web.json_response(_dump(await lookup.get_routing(request.app[CONTEXT], tenant_id)))


async def put_routing(request: web.Request) -> web.Response:
    tenant_id = admin_tenant(request)
    try:
        config = RoutingConfig.model_validate(await request.json())
    except json.JSONDecodeError as error:
        return problem(400, f"body is not JSON: {error}")
    except ValidationError as error:
        details = validation_details(error)
        first = details[0]
        where = ".".join(str(p) for p in first["loc"])
        return problem(422, f"{where}: {first['msg']}" if where else first["msg"], details=details)
    await lookup.put_routing(request.app[CONTEXT], tenant_id, config)
    return web.json_response(_dump(config))


def setup_lookup(app: web.Application) -> None:
    app.router.add_post("/api/lookup", post_lookup)
    app.router.add_get("/api/admin/routing", get_routing)
    app.router.add_put("/api/admin/routing", put_routing)
