"""``POST /api/messages``: Bot Framework activities in, invoke responses out.

The body is checked before the SDK sees it, so a malformed activity gets a 4xx problem
with a reason instead of an exception deep inside botbuilder; invoke bodies are
serialized once.
"""

from __future__ import annotations

from aiohttp import web
from botbuilder.core import Bot
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from bot.adapters.inbound import header, json_body
from bot.adapters.teams import invoke
from bot.adapters.teams.activity_json import activity_from_json
from bot.errors import FieldError, InvalidInput, Unauthorized, UnsupportedMediaType

ADAPTER = web.AppKey("adapter", CloudAdapter)
BOT = web.AppKey("bot", Bot)

_REQUIRED = (
    ("type", "string"),
    ("serviceUrl", "string"),
    ("conversation", "object"),
    ("from", "object"),
)


def _present(value: object, kind: str) -> bool:
    return isinstance(value, dict) if kind == "object" else isinstance(value, str) and bool(value)


def _checked_activity(body: object) -> Activity:
    if not isinstance(body, dict):
        raise InvalidInput(
            "malformed activity: an activity must be a JSON object",
            [FieldError(loc=[], msg="must be a JSON object", type="dict_type")],
        )
    refused = [
        FieldError(loc=[name], msg=f"an activity needs a {name!r} {kind}", type=f"{kind}_type")
        for name, kind in _REQUIRED
        if not _present(body.get(name), kind)
    ]
    if refused:
        names = ", ".join(repr(e["loc"][0]) for e in refused)
        raise InvalidInput(f"malformed activity: it needs {names}", refused)
    try:
        return activity_from_json(body)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise InvalidInput(f"malformed activity: {error}") from None


async def post_activity(request: web.Request) -> web.StreamResponse:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("activities must be sent as application/json")
    activity = _checked_activity(await json_body(request))
    adapter, bot = request.app[ADAPTER], request.app[BOT]
    try:
        response = await adapter.process_activity(
            header(request, "Authorization"), activity, bot.on_turn
        )
    except PermissionError:
        raise Unauthorized("the request is not authenticated for this bot") from None
    if response is None:
        return web.Response(status=201)
    return web.Response(
        body=invoke.encoded(response.body), status=response.status, content_type="application/json"
    )
