"""JSON error responses with one shape across every route."""

from __future__ import annotations

from aiohttp import web


def problem(status: int, message: str, **details: object) -> web.Response:
    return web.json_response(
        {"error": {"status": status, "message": message, **details}}, status=status
    )
