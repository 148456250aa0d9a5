"""Text for a person, kept as its English message id and parameters until it is shown.

A :class:`Text` *is* its English rendering (a ``str``), so logs, stored notices and
English callers need nothing else; :func:`bot.i18n.localize` renders it in another
language from the message id.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator


class Text(str):
    """An English message that knows its gettext id, plural form and parameters."""

    msgid: str
    plural: str | None
    number: int | None
    params: dict[str, Any]

    def __new__(
        cls,
        msgid: str,
        params: dict[str, Any] | None = None,
        plural: str | None = None,
        count: int | None = None,
    ) -> Text:
        values = params or {}
        pattern = plural if plural is not None and count != 1 else msgid
        text = super().__new__(cls, fill(pattern, values))
        text.msgid, text.plural, text.number, text.params = msgid, plural, count, values
        return text

    def fill(self, **params: Any) -> Text:
        """This message with (more) parameters; ``count`` also picks the plural form."""
        merged = {**self.params, **params}
        number = merged.get("count") if self.plural is not None else None
        return Text(self.msgid, merged, self.plural, number if isinstance(number, int) else None)


class _Unfilled(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(pattern: str, params: dict[str, Any]) -> str:
    """``pattern`` with its ``{name}`` placeholders filled (a list as ``a, b``); a
    parameter not given yet stays a placeholder (filled later with :meth:`Text.fill`)."""
    if not params:
        return pattern
    values = {
        key: ", ".join(map(str, value)) if isinstance(value, list) else value
        for key, value in params.items()
    }
    return pattern.format_map(_Unfilled(values))


def t(msgid: str, **params: Any) -> Text:
    """A translatable message; ``{name}`` placeholders are filled from ``params``."""
    return Text(msgid, params)


def nt(singular: str, plural: str, count: int, **params: Any) -> Text:
    """A translatable message with plural forms; ``{count}`` is the number."""
    return Text(singular, {"count": count, **params}, plural, count)


def dump(value: Any) -> Any:
    """A message as JSON: a :class:`Text` keeps its id, plural form and parameters."""
    if isinstance(value, Text):
        found: dict[str, Any] = {"msgid": value.msgid, "params": dump(value.params)}
        if value.plural is not None:
            found.update(plural=value.plural, count=value.number)
        return found
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [dump(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # an exception or the like: kept as it reads


def load(raw: Any) -> Any:
    """What :func:`dump` wrote, back as :class:`Text` (plain strings stay strings)."""
    if isinstance(raw, dict) and isinstance(raw.get("msgid"), str):
        params = raw.get("params")
        count = raw.get("count")
        return Text(
            raw["msgid"],
            {k: load(v) for k, v in params.items()} if isinstance(params, dict) else {},
            raw.get("plural") if isinstance(raw.get("plural"), str) else None,
            count if isinstance(count, int) else None,
        )
    if isinstance(raw, list):
        return [load(item) for item in raw]
    return raw


def _stored(raw: Any) -> str:
    value = load(raw)
    if not isinstance(value, str):
        raise ValueError("expected a string or a stored message")
    return value


StoredText = Annotated[str, PlainValidator(_stored), PlainSerializer(dump)]
"""A model field holding text for a person: stored with its message id and parameters
(a plain string as itself), so it is shown in each reader's language when read back."""
