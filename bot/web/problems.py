"""The one place errors become HTTP answers: RFC 9457 ``application/problem+json``.

:func:`problems` is the app's outermost middleware. Routes raise :mod:`bot.errors` and
never build an error response themselves; aiohttp's own refusals (404 for an unknown
path, 405 with ``Allow``, 413 for an oversized body, 415) get the same body; anything
unexpected is logged with its traceback and answers a 500 problem that tells the client
nothing more. The body's fields: ``type``, ``title``, ``status``, ``detail``,
``instance`` (the path), ``errors`` (every refused field: ``loc``, ``pointer``, ``msg``,
``type``) and ``retryAfter`` where a ``Retry-After`` header is sent too.

The title and detail are in the reader's language: the agent's own (:data:`READER_LOCALE`,
set by a route once it knows who asks), else the request's ``locale`` parameter or its
``Accept-Language``; a message raised as ``t(...)`` is translated, any other stays as is.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from pydantic import ConfigDict, Field

from bot.domain.api_model import ApiModel, Model
from bot.errors import (
    PROBLEM_TYPE,
    CrmcardError,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    UnsupportedMediaType,
    problem_for,
)
from bot.i18n import AgentLocale, localize, t

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

READER_LOCALE = web.RequestKey("reader_locale", AgentLocale)
"""Who reads this request's answer, in which language: set by routes that know the agent."""


def reader_locale(request: web.BaseRequest) -> AgentLocale:
    known = request.get(READER_LOCALE)
    if isinstance(known, AgentLocale):
        return known
    tag = request.query.get("locale") or request.headers.get("Accept-Language", "").split(",")[0]
    return AgentLocale.of(tag.split(";")[0].strip()[:64] or None)  # never refuses: any tag


def translated(error: BaseException, request: web.BaseRequest) -> Problem:
    """``error``'s problem, in the language of whoever reads the answer."""
    locale = reader_locale(request)
    return problem_for(error, lambda text: localize(text, locale))


class RefusedField(Model):
    """One refused field of a problem's ``errors``."""

    loc: list[str | int] = Field(description="where, as pydantic names it (body fields, query)")
    pointer: str = Field(description="the same place as an RFC 6901 JSON pointer")
    msg: str
    type: str = Field(description="which rule refused it (missing, string_type, ...)")


class ProblemBody(ApiModel):
    """The body of every 4xx and 5xx answer (RFC 9457); documented, not built, from here."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="urn:crmcard:problem:<kind>, one kind per family of errors")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = Field(None, description="the request's path")
    errors: list[RefusedField] | None = Field(None, description="every refused field")
    retry_after: float | None = Field(
        None, description="seconds to wait, as the Retry-After header says"
    )


def problem_response(problem: Problem, instance: str | None = None) -> web.Response:
    response = web.Response(
        status=problem.status,
        body=orjson.dumps(problem.body(instance)),
        content_type=MEDIA_TYPE,
    )
    if problem.retry_after is not None:
        response.headers["Retry-After"] = str(max(0, math.ceil(problem.retry_after)))
    if problem.challenge:
        response.headers["WWW-Authenticate"] = problem.challenge
    if problem.allowed:
        response.headers["Allow"] = ", ".join(problem.allowed)
    return response


def error_response(error: CrmcardError, request: web.BaseRequest) -> web.Response:
    """The answer to ``error``, raised while serving ``request``."""
    problem = translated(error, request)
    if problem.status >= 500:
        log.warning("%s %s: %s: %s", request.method, request.path, type(error).__name__, error)
    return problem_response(problem, request.path)


def _aiohttp_refusal(error: web.HTTPException, request: web.BaseRequest) -> Problem:
    """aiohttp's own 4xx refusals (router, body size, static files) as problems."""
    known: CrmcardError | None = None
    if isinstance(error, web.HTTPNotFound):
        known = NotFound(t("nothing at {path}", path=request.path))
    elif isinstance(error, web.HTTPMethodNotAllowed):
        known = MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}", allowed=error.allowed_methods
        )
    elif isinstance(error, web.HTTPRequestEntityTooLarge):
        known = PayloadTooLarge(
            f"the body is larger than the {request.client_max_size} bytes this server reads"
        )
    elif isinstance(error, web.HTTPUnsupportedMediaType):
        known = UnsupportedMediaType("unsupported media type")
    elif error.status == 400:
        known = MalformedRequest(error.reason)
    if known is not None:
        return translated(known, request)
    slug = error.reason.lower().replace(" ", "-")
    return Problem(error.status, PROBLEM_TYPE + slug, error.reason, error.reason)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CrmcardError as error:
        return error_response(error, request)
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects and the like are answers, not errors
        if error.status >= 500:
            log.error("%s %s answered %s", request.method, request.path, error.status)
            return problem_response(translated(error, request), request.path)
        return problem_response(_aiohttp_refusal(error, request), request.path)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as error:
        log.exception("%s %s failed", request.method, request.path)
        return problem_response(translated(error, request), request.path)
