"""Every request served is traced, timed and tagged with a request id.

The outermost middleware: it takes the caller's ``X-Request-Id`` (or makes one), puts it
into the log context so that every line logged while serving the request carries it (the
access line too: aiohttp serves each request in a task of its own and writes that line in
it after the response, so the id is left set), answers with it, and wraps the request in a
server span with its route and status (:mod:`bot.observability.telemetry`).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.observability import context, telemetry

REQUEST_ID = "X-Request-Id"


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = context.new_request_id(request.headers.get(REQUEST_ID))
    context.request_id.set(request_id)
    with telemetry.http_request(request.method, _route(request)) as outcome:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            outcome["status"] = error.status
            error.headers[REQUEST_ID] = request_id
            raise
        outcome["status"] = response.status
        if not response.prepared:
            response.headers[REQUEST_ID] = request_id
        return response
