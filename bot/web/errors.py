"""JSON error responses with one shape across every route."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from bot.services.validation import validation_details


def problem(status: int, message: str, **details: object) -> web.Response:
    return web.json_response(
        {"error": {"status": status, "message": message, **details}}, status=status
    )


def invalid_input(error: ValidationError, message: str, status: int = 400) -> web.Response:
    """A refused payload, with every field error so the caller can fix them all at once."""
    return problem(status, message, details=validation_details(error))
