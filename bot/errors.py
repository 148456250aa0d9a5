"""Every error crmcard raises on purpose, in one tree, and what each kind of error means.

Code that refuses something raises one of these; it never picks an HTTP status. How an
error answers is decided once, by family, in :func:`problem_for`: the web middleware
(``bot.web.problems``) renders that as an RFC 9457 ``application/problem+json`` body and
the Teams invoke mapping (``bot.adapters.teams.invoke``) as an ``application/vnd.microsoft
.error`` body, so the same kind of error has the same status on every door.

This module imports nothing of crmcard's: every layer may raise from it.

    CrmcardError
    ├── InvalidInput              422  the request is understood, its content is refused
    │   └── MalformedRequest      400  the request cannot be read (body, header bytes)
    │       ├── PayloadTooLarge   413
    │       └── UnsupportedMediaType 415
    ├── Unauthorized              401  who is asking is not proven
    ├── Forbidden                 403  who is asking may not do this
    ├── NotFound                  404
    ├── MethodNotAllowed          405
    ├── Conflict                  409  the current state does not allow it (stale, taken)
    ├── Throttled                 429  slow down; ``retry_after`` seconds
    ├── Unavailable               503  try again later; ``retry_after`` seconds
    ├── UpstreamError             502  a system crmcard depends on (a CRM) failed
    └── ServerError               500  crmcard itself is broken or misconfigured

A subclass may join a family and a module's own base at once (``class ConfigInvalid(
InvalidInput, ConfigError)``): the first family in its method resolution order decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from pydantic import ValidationError


class FieldError(TypedDict):
    """One refused field: where (``loc``, as pydantic names it), what is wrong, which rule."""

    loc: list[str | int]
    msg: str
    type: str


def field_errors(error: ValidationError, prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """pydantic's errors as field errors, without echoing the input (it may hold secrets).

    A validator's own refusal (``raise ValueError(t(...))``) keeps its message as raised,
    translatable and without pydantic's "Value error, " in front."""
    return [
        FieldError(loc=[*prefix, *e["loc"]], msg=_message(e), type=e["type"])
        for e in error.errors(include_url=False, include_input=False)
    ]


def _message(error: Any) -> str:
    cause = error.get("ctx", {}).get("error") if error["type"] == "value_error" else None
    if isinstance(cause, ValueError) and cause.args and isinstance(cause.args[0], str):
        return cause.args[0]
    return str(error["msg"])


class CrmcardError(Exception):
    """The root: an error crmcard raises knowingly, with a message fit to show the caller."""

    def __init__(self, message: str = "", **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        """The message as raised: a translatable ``bot.i18n.t(...)`` keeps its message id
        and parameters, so each door can show it in the reader's language."""
        self.extensions: dict[str, Any] = extensions
        """Extra members of the problem body (e.g. ``workflowId``); never a secret."""


class InvalidInput(CrmcardError):
    """The request's content is refused; ``field_errors`` lists every refused field."""

    def __init__(
        self,
        message: str = "invalid input",
        field_errors: Sequence[FieldError] = (),
        **extensions: Any,
    ) -> None:
        super().__init__(message, **extensions)
        self.field_errors: list[FieldError] = list(field_errors)


class MalformedRequest(InvalidInput):
    """The request cannot be read: not JSON, bad encoding, too deep, bytes outside ASCII."""


class PayloadTooLarge(MalformedRequest):
    """The body is larger than the route accepts."""


class UnsupportedMediaType(MalformedRequest):
    """The body's media type or charset is not one the route reads."""


class Unauthorized(CrmcardError):
    """The request does not prove who is asking (no key, unknown key, no consent)."""

    def __init__(self, message: str, *, challenge: str | None = None, **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.challenge = challenge
        """The ``WWW-Authenticate`` challenge, for doors with a standard scheme (Bearer)."""


class Forbidden(CrmcardError):
    """Who is asking is known, and may not do this."""


class NotFound(CrmcardError):
    """What the request names does not exist (for this tenant)."""


class MethodNotAllowed(CrmcardError):
    """The resource exists; the method does not apply to it."""

    def __init__(self, message: str, allowed: Iterable[str] = (), **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.allowed = sorted(set(allowed))


class Conflict(CrmcardError):
    """The current state does not allow it: a stale revision, a taken id, a run in progress."""


class Throttled(CrmcardError):
    """Too many requests: try again after ``retry_after`` seconds (None: unknown)."""

    def __init__(self, message: str, retry_after: float | None = None, **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.retry_after = retry_after


class Unavailable(CrmcardError):
    """Cannot be done now, may work later: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None, **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.retry_after = retry_after


class UpstreamError(CrmcardError):
    """A system crmcard depends on (a CRM, Microsoft Entra ID) failed or refused."""


class ServerError(CrmcardError):
    """crmcard itself is broken or misconfigured; the caller is told nothing more."""


# -- How each family answers, on every door ------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """An error as RFC 9457 problem details; rendered by each door in its own format."""

    status: int
    type: str
    title: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    retry_after: float | None = None
    challenge: str | None = None
    allowed: list[str] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The ``application/problem+json`` document."""
        body: dict[str, Any] = {
            **self.extensions,
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [{**e, "pointer": json_pointer(e["loc"])} for e in self.errors]
        if self.retry_after is not None:
            body["retryAfter"] = self.retry_after
        return body


PROBLEM_TYPE = "urn:crmcard:problem:"
"""Problem ``type`` URIs are ``urn:crmcard:problem:<slug>``, one slug per family."""

_FAMILIES: dict[type[CrmcardError], tuple[int, str, str]] = {
    PayloadTooLarge: (413, "payload-too-large", "The body is too large"),
    UnsupportedMediaType: (415, "unsupported-media-type", "Unsupported media type"),
    MalformedRequest: (400, "malformed-request", "The request cannot be read"),
    InvalidInput: (422, "invalid-input", "The input is refused"),
    Unauthorized: (401, "unauthorized", "Not authenticated"),
    Forbidden: (403, "forbidden", "Not allowed"),
    NotFound: (404, "not-found", "Not found"),
    MethodNotAllowed: (405, "method-not-allowed", "Method not allowed"),
    Conflict: (409, "conflict", "Conflict with the current state"),
    Throttled: (429, "throttled", "Too many requests"),
    Unavailable: (503, "unavailable", "Unavailable; try again later"),
    UpstreamError: (502, "upstream-error", "A connected system failed"),
    ServerError: (500, "server-error", "Internal error"),
    CrmcardError: (500, "server-error", "Internal error"),
}

INTERNAL_DETAIL = "crmcard could not do that just now; try again."


def _family(kind: type[BaseException]) -> tuple[int, str, str] | None:
    for cls in kind.__mro__:
        if cls in _FAMILIES:
            return _FAMILIES[cls]
    return None


Translate = Callable[[str], str]
"""Turns a message (a translatable one keeps its id) into the reader's language."""


def _as_given(message: str) -> str:
    return message


def problem_for(error: BaseException, translate: Translate = _as_given) -> Problem:
    """The one mapping from an error to its answer; anything outside the tree is a 500.

    A 500 never tells the caller more than :data:`INTERNAL_DETAIL`: what went wrong is
    logged by the door, not sent. ``translate`` puts the title and detail in the reader's
    language (the door knows who reads it), and each refused field's ``msg`` too; the
    ``type`` and the fields' ``loc`` and ``type`` stay as they are.
    """
    family = _family(type(error))
    if family is None:
        status, slug, title = _FAMILIES[ServerError]
        return Problem(status, PROBLEM_TYPE + slug, translate(title), translate(INTERNAL_DETAIL))
    status, slug, title = family
    assert isinstance(error, CrmcardError)
    errors = list(error.field_errors) if isinstance(error, InvalidInput) else []
    detail = INTERNAL_DETAIL if status == 500 else (error.message or title)
    return Problem(
        status=status,
        type=PROBLEM_TYPE + slug,
        title=translate(title),
        detail=_with_fields(translate(detail), errors, translate),
        errors=[{**e, "msg": _problem(e, translate)} for e in errors],
        retry_after=getattr(error, "retry_after", None)
        if isinstance(error, Throttled | Unavailable)
        else None,
        challenge=error.challenge if isinstance(error, Unauthorized) else None,
        allowed=error.allowed if isinstance(error, MethodNotAllowed) else [],
        extensions=dict(error.extensions) if status != 500 else {},
    )


SUMMARISED_FIELDS = 3

FIELDS = "{detail} ({fields})"
FIELDS_AND_MORE = "{detail} ({fields}; and {count} more)"
FIELD_PROBLEM = "{field}: {problem}"
FIELD_SEPARATOR = "; "
"""How a detail names its refused fields (and separates them: French sets a space before
the semicolon); message ids, translated per reader."""

FIELD_PROBLEMS: dict[str, str] = {
    "missing": "Field required",
    "extra_forbidden": "Extra inputs are not permitted",
    "string_type": "Input should be a valid string",
    "int_type": "Input should be a valid integer",
    "int_parsing": "Input should be a valid integer",
    "float_type": "Input should be a valid number",
    "float_parsing": "Input should be a valid number",
    "bool_type": "Input should be a valid boolean",
    "bool_parsing": "Input should be a valid boolean",
    "list_type": "Input should be a valid list",
    "dict_type": "Input should be an object",
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "literal_error": "Input should be one of the allowed values",
    "enum": "Input should be one of the allowed values",
    "string_too_short": "Text is too short",
    "string_too_long": "Text is too long",
    "string_pattern_mismatch": "Text does not have the expected form",
    "too_short": "Too few items",
    "too_long": "Too many items",
    "greater_than": "Number is too small",
    "greater_than_equal": "Number is too small",
    "less_than": "Number is too large",
    "less_than_equal": "Number is too large",
    "url_parsing": "Input should be a valid URL",
    "url_scheme": "URL scheme is not allowed",
    "datetime_type": "Input should be a valid date and time",
    "datetime_parsing": "Input should be a valid date and time",
    "date_parsing": "Input should be a valid date",
    "uuid_parsing": "Input should be a valid UUID",
    "json_invalid": "Invalid JSON",
}
"""What each common pydantic rule (a field error's ``type``) says, as a message id. A
reader whose language does not translate it (English) reads pydantic's own message,
which names the limit; a rule not listed here is shown as pydantic words it."""


def _problem(error: FieldError, translate: Translate) -> str:
    """What is wrong with the field, in the reader's language where a translation exists."""
    known = FIELD_PROBLEMS.get(error["type"])
    if known is None:
        return translate(error["msg"])  # a validator's own message (``t(...)``) or as raised
    translated = translate(known)
    return translated if translated != known else error["msg"]


def _field_problem(error: FieldError, translate: Translate) -> str:
    problem = _problem(error, translate)
    if not error["loc"]:
        return problem
    where = ".".join(str(p) for p in error["loc"])
    return translate(FIELD_PROBLEM).format(field=where, problem=problem)


def _with_fields(detail: str, errors: list[FieldError], translate: Translate) -> str:
    """The detail, naming the first refused fields: readable where only text is shown."""
    if not errors:
        return detail
    shown = errors[:SUMMARISED_FIELDS]
    fields = translate(FIELD_SEPARATOR).join(_field_problem(e, translate) for e in shown)
    more = len(errors) - SUMMARISED_FIELDS
    frame = translate(FIELDS_AND_MORE if more > 0 else FIELDS)
    return frame.format(detail=detail, fields=fields, count=more)


def json_pointer(loc: Sequence[str | int]) -> str:
    """RFC 6901 pointer for a pydantic ``loc`` (``["agent", "name"]`` -> ``/agent/name``)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)
