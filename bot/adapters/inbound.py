"""Reading an HTTP request: the one JSON body reader and the one header reader.

Every route reads its body and its credentials' headers through here, so whatever a
client sends (invalid UTF-8, an unknown charset, JSON nested 100,000 levels deep, a body
over the size limit, header bytes outside ASCII, fields of the wrong type or unknown to
the model) ends as one of :mod:`bot.errors`' 4xx errors, never as an exception that
would answer 500.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.errors import (
    FieldError,
    InvalidInput,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    field_errors,
)

Model = TypeVar("Model", bound=BaseModel)

JSON_TYPES = ("application/json",)
"""Media types a JSON body may be sent as, besides any ``application/<name>+json``."""


def header(request: web.BaseRequest, name: str) -> str:
    """The header's value ('' when absent); printable ASCII only, as HTTP credentials are.

    aiohttp hands bytes outside ASCII through as text, which ``hmac.compare_digest`` and
    ``str.encode`` then refuse with an exception: they are refused here instead.
    """
    value = request.headers.get(name, "")
    if value and not (value.isascii() and value.isprintable()):
        raise MalformedRequest(
            f"the {name} header holds characters outside printable ASCII",
            [FieldError(loc=["header", name], msg="must be printable ASCII", type="header")],
        )
    return value


def _check_media_type(request: web.BaseRequest) -> None:
    if "Content-Type" not in request.headers:
        return  # curl -d and friends: read it as JSON all the same
    media = request.content_type
    if media not in JSON_TYPES and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnsupportedMediaType(f"the body must be application/json, not {media}")


async def body_bytes(request: web.BaseRequest) -> bytes:
    """The raw body, within the app's ``client_max_size`` (413 beyond it)."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(
            f"the body is larger than the {request.client_max_size} bytes this server reads"
        ) from None


async def json_body(request: web.BaseRequest) -> Any:
    """The request's JSON document: any JSON value, read safely.

    Refuses (as :class:`MalformedRequest` and its kinds): a media type other than JSON,
    an unknown charset, bytes that are not text in the declared charset, text that is not
    JSON, JSON nested deeper than 1024 levels, a body over the size limit.
    """
    _check_media_type(request)
    raw = await body_bytes(request)
    charset = (request.charset or "utf-8").lower()
    try:
        text: str | bytes = raw if charset in ("utf-8", "utf8") else raw.decode(charset)
        return orjson.loads(text)  # orjson: UTF-8 checked, nesting limited, no recursion
    except LookupError:
        raise UnsupportedMediaType(f"unknown charset {charset!r}") from None
    except UnicodeDecodeError as error:
        raise MalformedRequest(f"the body is not {charset} text: {error.reason}") from None
    except orjson.JSONDecodeError as error:
        raise MalformedRequest(f"body is not JSON: {error}") from None
    except RecursionError:  # pragma: no cover - orjson limits depth first
        raise MalformedRequest("the JSON body is nested too deeply") from None


async def json_object(request: web.BaseRequest) -> dict[str, Any]:
    """The request's JSON document, which must be an object."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput(
            "the body must be a JSON object",
            [FieldError(loc=[], msg="must be a JSON object", type="dict_type")],
        )
    return body


async def json_model(request: web.BaseRequest, model: type[Model], message: str) -> Model:
    """The body validated as ``model``: every field error listed, none echoed back."""
    return validated(model, await json_body(request), message)


def validated(model: type[Model], data: Any, message: str) -> Model:
    """``data`` validated as ``model``; :class:`InvalidInput` with every field error.

    Only the API's names count (the camelCase aliases, where a model has them): the
    Python field names a model also accepts from the store are unknown fields here."""
    try:
        return model.model_validate(data, by_name=False)
    except ValidationError as error:
        raise InvalidInput(message, field_errors(error)) from None
    except RecursionError:
        raise MalformedRequest("the JSON body is nested too deeply") from None
