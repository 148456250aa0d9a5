"""Text for a person, kept as its English message id and parameters until it is shown.

A :class:`Text` *is* its English rendering (a ``str``), so logs, stored notices and
English callers need nothing else; :func:`bot.i18n.localize` renders it in another
language from the message id.
"""

from __future__ import annotations

from typing import Any


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
