"""Bodies of ``adaptiveCard/action`` invoke responses.

Teams expects HTTP 200 with a typed body for every Universal Action: a card, a message or
an ``application/vnd.microsoft.error`` carrying the real status code. Plain dicts are
returned so nothing is serialized twice on the way out (:func:`encoded`: a customer card
goes out as the bytes its size was checked on).

:func:`error_for` is the one place an error becomes an invoke answer: the status is the
one :func:`bot.errors.problem_for` gives every door, so a refusal answers the same on
the tab's HTTP route and on the bot's invoke.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from botbuilder.core import InvokeResponse

from bot.adapters.teams.activity_json import json_value
from bot.errors import CrmcardError, problem_for
from bot.i18n import ENGLISH, AgentLocale, localize

log = logging.getLogger(__name__)


def card(value: dict[str, Any]) -> InvokeResponse:
    return _ok({"type": "application/vnd.microsoft.card.adaptive", "value": value})


def message(text: str) -> InvokeResponse:
    return _ok({"type": "application/vnd.microsoft.activity.message", "value": text})


def error_for(error: BaseException, locale: AgentLocale = ENGLISH) -> InvokeResponse:
    """The invoke answer to ``error``, in the agent's language (Teams shows its message
    to them); anything outside the tree is logged and a 500."""
    if not isinstance(error, CrmcardError):
        log.error("card action failed", exc_info=(type(error), error, error.__traceback__))
    problem = problem_for(error, lambda text: localize(text, locale))
    body = {
        "statusCode": problem.status,
        "type": "application/vnd.microsoft.error",
        "value": {
            "code": HTTPStatus(problem.status).phrase.replace(" ", ""),
            "message": problem.detail,
            **({"errors": problem.errors} if problem.errors else {}),
        },
    }
    return InvokeResponse(status=int(HTTPStatus.OK), body=body)


def encoded(body: Any) -> bytes:
    """An invoke answer's body as sent: a customer card in it is written as the bytes it
    was measured as when rendered, as in every activity sent (:func:`json_value`)."""
    if isinstance(body, dict) and "value" in body:
        return orjson.dumps({**body, "value": json_value(body["value"])})
    return orjson.dumps(body)


def _ok(body: dict[str, Any]) -> InvokeResponse:
    return InvokeResponse(status=int(HTTPStatus.OK), body={"statusCode": 200, **body})
