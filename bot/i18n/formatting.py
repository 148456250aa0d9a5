"""Showing text, numbers, dates and phone numbers the way the agent reads them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import phonenumbers
from babel import dates, numbers

from bot.i18n.catalogues import translations
from bot.i18n.locale import AgentLocale
from bot.i18n.text import Text, fill, t


def format_datetime(value: datetime, locale: AgentLocale, *, width: str = "short") -> str:
    """``value`` in the agent's time zone and locale (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return dates.format_datetime(value, width, tzinfo=locale.zone, locale=locale.formats)


def format_date(value: date, locale: AgentLocale) -> str:
    return dates.format_date(value, "medium", locale=locale.formats)


def format_number(value: int | float | Decimal, locale: AgentLocale) -> str:
    return _decimal(value, locale.formats)


@lru_cache(maxsize=2048, typed=True)  # typed: 1 and 1.0 are cached apart
def _decimal(value: int | float | Decimal, formats: str) -> str:
    """Formatted once per number and locale: the counts in a card's texts ("3 CRMs still
    answering") repeat on every card, and Babel parses its pattern on every call."""
    return numbers.format_decimal(value, locale=formats)


@lru_cache(maxsize=4096)
def format_phone(value: str) -> str:
    """An E.164 number in international format (``+1 555-0100``); anything else as given.
    Parsed once per number: every click shows its card's numbers."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


SEPARATOR = t("; ")
"""Between the items of a list whose items may hold commas (French: `` ; ``)."""


def separated(items: Iterable[str], locale: AgentLocale) -> str:
    """``items`` one after the other, set apart the way the agent's language does it."""
    return localize(SEPARATOR, locale).join(items)


def _parameter(value: Any, locale: AgentLocale) -> Any:
    if isinstance(value, str):
        return localize(value, locale)
    if isinstance(value, list):
        return [_parameter(item, locale) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return format_number(value, locale)
    if isinstance(value, datetime):
        return format_datetime(value, locale)
    if isinstance(value, date):
        return format_date(value, locale)
    return value


def localize(text: str, locale: AgentLocale) -> str:
    """``text`` in the agent's language: a :class:`Text` from its message id, a plain
    string when it is itself a message id (a fixed label), otherwise as given."""
    if not isinstance(text, Text):
        return translations(locale.language).gettext(text) if text else text
    if text.plural is None and not text.params:
        return _label(text.msgid, locale.language)
    catalogue = translations(locale.language)
    if text.plural is not None:
        pattern = catalogue.ngettext(text.msgid, text.plural, text.number or 0)
    else:
        pattern = catalogue.gettext(text.msgid)
    if not text.params:
        return pattern
    return fill(pattern, {key: _parameter(v, locale) for key, v in text.params.items()})


@lru_cache(maxsize=4096)
def _label(msgid: str, language: str) -> str:
    """A message without parameters in ``language``: looked up once per language (a card
    shows some twenty, section titles and labels, on every click)."""
    return translations(language).gettext(msgid)
