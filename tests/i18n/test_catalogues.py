"""The German and French catalogues: complete, faithful to their placeholders, in use."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
from babel.messages.pofile import read_po

from bot.i18n import AgentLocale, formatting, localize, negotiate, nt, t, translations
from bot.i18n.card_texts import TRANSLATED_KEYS
from bot.i18n.catalogues import po_path
from bot.i18n.extract import all_messages, missing

PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\{[a-z_]+\}")
SAME_IN = {  # words that are the same in that language (checked, not copied English)
    "de": {
        "crmcard",
        "Tickets",
        "call",
        "live",
        "offline",
        "Details",
        "Workflows",
        "Status",
        "Chat",
        "SMS",
        "WhatsApp",
        "Messenger",
        "Teams",
        "Lead",
        "Ticket",
        "Name",
        "{title}: {reason}",
        "{name} · {at}",
        "{workflow}: {error}",
        "{crm}: {reason}",
        "{reason} ({limit})",
        "{detail} ({fields})",
        "{field}: {problem}",
        "; ",
        "{host} {reason}",
        "crmcard — Tickets",
        "Agent",
        "Text",
        "Forum",
    },
    "fr": {
        "Tickets",
        "crmcard",
        "call",
        "Contact",
        "Contact ▾",
        "Workflows",
        "Chat",
        "SMS",
        "WhatsApp",
        "Messenger",
        "Teams",
        "Ticket",
        "Conversation",
        "Description",
        "{name} · {at}",
        "{count} interaction",
        "{reason} ({limit})",
        "{detail} ({fields})",
        "crmcard — Tickets",
        "Agent",
        "Forum",
        "page {page}",
        "agent {name}",
        "{host} {reason}",
        "multicast",
    },
}


@cache
def _english() -> frozenset[str]:
    return frozenset(all_messages())


def english_shown(card: Any, language: str) -> list[str]:
    """Fixed English texts of ``card`` that ``language``'s catalogue translates otherwise."""
    gettext = translations(language).gettext
    english = _english()
    found: list[str] = []
    if isinstance(card, dict):
        for key, value in card.items():
            if key in TRANSLATED_KEYS and isinstance(value, str):
                if value in english and gettext(value) != value:
                    found.append(value)
            else:
                found.extend(english_shown(value, language))
    elif isinstance(card, list):
        for item in card:
            found.extend(english_shown(item, language))
    return found


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_message_is_translated(language: str) -> None:
    assert missing(language) == {}


@pytest.mark.parametrize("language", ["de", "fr"])
def test_translations_keep_their_placeholders_and_are_not_copies(language: str) -> None:
    with po_path(language).open("rb") as source:
        catalog = read_po(source, locale=language)
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert sorted(PLACEHOLDER.findall(string)) == wanted, (message.id, string)
        if ids[0] in strings and ids[0] not in SAME_IN[language]:
            pytest.fail(f"{language}: {ids[0]!r} is left in English")


def test_plural_forms_and_numbers_follow_the_language() -> None:
    def written(count: int, tag: str) -> str:
        return localize(
            nt("Written to {count} record ✓", "Written to {count} records ✓", count),
            AgentLocale.of(tag),
        )

    assert written(1, "de") == "In 1 Datensatz geschrieben ✓"
    assert written(1234, "de-DE") == "In 1.234 Datensätze geschrieben ✓"
    assert written(0, "fr") == "Écrite dans 0 fiche ✓"  # French: 0 is singular
    assert written(2, "fr-FR") == "Écrite dans 2 fiches ✓"
    assert written(2, "en-US") == "Written to 2 records ✓"


def test_numbers_formatted_once_stay_apart_by_locale_and_type() -> None:
    from decimal import Decimal

    from bot.i18n.formatting import format_number

    de, fr, en = AgentLocale.of("de-DE"), AgentLocale.of("fr-FR"), AgentLocale.of("en-US")
    for _ in range(2):  # the second pass is answered from the cache
        assert format_number(1234, de) == "1.234"
        assert format_number(1234, fr) == "1\u202f234"
        assert format_number(1234, en) == "1,234"
        assert format_number(1.5, de) == "1,5"
        assert format_number(Decimal("1.5"), en) == "1.5"


def test_locale_negotiation_and_fallbacks() -> None:
    assert AgentLocale.of("de-AT", "Europe/Vienna").model_dump() == {
        "language": "de",
        "formats": "de_AT",
        "time_zone": "Europe/Vienna",
    }
    assert AgentLocale.of("fr-CA").formats == "fr_CA"
    assert AgentLocale.of("es-ES").language == "en"  # not spoken: English
    assert AgentLocale.of("de", "Mars/Olympus").time_zone == "UTC"
    assert negotiate(None) == negotiate("") == negotiate("xx") == "en"
    quoted = t("Created “{title}” and linked it to this interaction.", title="Printer")
    assert localize(quoted, AgentLocale.of("de")).startswith("„Printer“ angelegt")
    assert localize(quoted, AgentLocale.of("fr")).startswith("« Printer » créée")


def test_a_label_is_looked_up_once_per_language(monkeypatch: pytest.MonkeyPatch) -> None:
    """A message without parameters reads its catalogue once per language; one with
    parameters or plural forms is translated anew each time."""
    label = t("Current interaction")
    german = AgentLocale.of("de")
    assert localize(label, german) == translations("de").gettext("Current interaction")
    monkeypatch.setattr(formatting, "translations", None)  # a second lookup would fail
    assert localize(label, AgentLocale.of("de-AT")) == localize(label, german) != str(label)
    with pytest.raises(TypeError):
        localize(t("Open in {crm}", crm="Salesforce"), german)
