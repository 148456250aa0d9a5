"""``POST /api/messages``: Bot Framework activities in, invoke responses out.

The body is checked before the SDK sees it, so a malformed activity gets a 400 with a
reason instead of an exception deep inside botbuilder; invoke bodies are serialized once.
"""

from __future__ import annotations

import orjson
from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from bot.adapters.teams.activity_json import activity_from_json
from bot.web.errors import problem

ADAPTER = web.AppKey("adapter", CloudAdapter)
BOT = web.AppKey("bot", Bot)


def _checked_activity(body: object) -> Activity:
    if not isinstance(body, dict):
        raise ValueError("an activity must be a JSON object")
    for field in ("type", "serviceUrl"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise ValueError(f"an activity needs a {field!r} string")
    for field in ("conversation", "from"):
        if not isinstance(body.get(field), dict):
            raise ValueError(f"an activity needs a {field!r} object")
    return activity_from_json(body)


async def post_activity(request: web.Request) -> web.StreamResponse:
    if request.content_type != "application/json":
        return problem(415, "activities must be sent as application/json")
    try:
        activity = _checked_activity(orjson.loads(await request.read()))
    except orjson.JSONDecodeError as error:
        return problem(400, f"body is not JSON: {error}")
    except ValueError as error:
        return problem(400, f"malformed activity: {error}")
    adapter, bot = request.app[ADAPTER], request.app[BOT]
    try:
        response = await adapter.process_activity(
            request.headers.get("Authorization", ""), activity, bot.on_turn
        )
    except PermissionError:
        return problem(401, "the request is not authenticated for this bot")
    if response is None:
        return web.Response(status=201)
    return web.Response(
        body=orjson.dumps(response.body), status=response.status, content_type="application/json"
    )
