"""Which language, formatting locale and time zone an agent sees crmcard in."""

from __future__ import annotations

from datetime import tzinfo
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import BaseModel, ConfigDict

from bot.i18n.catalogues import LANGUAGES

_DEFAULT_FORMATS = {"en": "en_US", "de": "de_DE", "fr": "fr_FR"}


def negotiate(tag: str | None) -> str:
    """The crmcard language for a BCP 47 tag such as ``de-AT`` or ``fr_CH``; English
    when crmcard does not speak it."""
    language = (tag or "").replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else "en"


def _babel_locale(tag: str | None, language: str) -> str:
    """The formatting locale: the agent's own (``de-CH``) when it is of their language."""
    try:
        parsed = Locale.parse((tag or "").replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return _DEFAULT_FORMATS[language]
    return str(parsed) if parsed.language == language else _DEFAULT_FORMATS[language]


def _zone(name: str | None) -> str:
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


class AgentLocale(BaseModel):
    """``language`` picks the catalogue; ``formats`` (a Babel locale) numbers and dates."""

    model_config = ConfigDict(frozen=True)

    language: str = "en"
    formats: str = "en_US"
    time_zone: str = "UTC"

    @classmethod
    def of(cls, tag: str | None, time_zone: str | None = None) -> AgentLocale:
        """From a client's locale tag (Teams ``activity.locale``, tab context) and
        IANA time zone; anything unknown falls back to English and UTC."""
        language = negotiate(tag)
        return cls(
            language=language, formats=_babel_locale(tag, language), time_zone=_zone(time_zone)
        )

    @cached_property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.time_zone)


ENGLISH = AgentLocale()
