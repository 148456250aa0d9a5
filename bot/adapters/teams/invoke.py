"""Bodies of ``adaptiveCard/action`` invoke responses.

Teams expects HTTP 200 with a typed body for every Universal Action: a card, a message or
an ``application/vnd.microsoft.error`` carrying the real status code. Plain dicts are
returned so nothing is serialized twice on the way out.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from botbuilder.core import InvokeResponse


def card(value: dict[str, Any]) -> InvokeResponse:
    return _ok({"type": "application/vnd.microsoft.card.adaptive", "value": value})


def message(text: str) -> InvokeResponse:
    return _ok({"type": "application/vnd.microsoft.activity.message", "value": text})


def error(status: HTTPStatus, message_text: str) -> InvokeResponse:
    code = "BadRequest" if status < 500 else "InternalServerError"
    body = {
        "statusCode": int(status),
        "type": "application/vnd.microsoft.error",
        "value": {"code": code, "message": message_text},
    }
    return InvokeResponse(status=int(HTTPStatus.OK), body=body)


def _ok(body: dict[str, Any]) -> InvokeResponse:
    return InvokeResponse(status=int(HTTPStatus.OK), body={"statusCode": 200, **body})
