"""crmcard in the agent's language: English, German and French.

English message ids live in the code and the card templates; ``locales/<lang>/LC_MESSAGES/
crmcard.po`` (gettext, with plural forms) hold their translations. Text meant for a
person is written ``t("Linked {title}", title=...)`` where it is decided and turned into
the agent's language by :func:`localize` where it is shown, with numbers and dates
formatted by Babel in the agent's locale and time zone.
"""

from bot.i18n.catalogues import LANGUAGES, translations
from bot.i18n.formatting import (
    format_datetime,
    format_phone,
    localize,
    separated,
)
from bot.i18n.locale import ENGLISH, AgentLocale, negotiate
from bot.i18n.text import StoredText, Text, nt, t

__all__ = [
    "ENGLISH",
    "LANGUAGES",
    "AgentLocale",
    "StoredText",
    "Text",
    "format_datetime",
    "format_phone",
    "localize",
    "negotiate",
    "nt",
    "separated",
    "t",
    "translations",
]
