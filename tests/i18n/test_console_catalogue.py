"""The admin console's German and French catalogues: every key, every placeholder."""

from __future__ import annotations

import json
import re

import pytest

from bot.i18n.catalogues import LOCALES_DIR

PLACEHOLDER = re.compile(r"\{\w+\}")
SAME = {  # product names, units and words that read the same in German and French
    "crm.kind.dynamics",
    "crm.kind.oracle",
    "overview.seconds",
    "overview.minutes",
    "wf.edit",
    "policy.productTag",
    "wb.interaction",
}


def _catalogue(language: str) -> dict[str, str]:
    texts: dict[str, str] = json.loads((LOCALES_DIR / language / "admin.json").read_text())
    return texts


@pytest.mark.parametrize("language", ["de", "fr"])
def test_console_catalogue_is_complete_and_keeps_placeholders(language: str) -> None:
    english, translated = _catalogue("en"), _catalogue(language)
    assert translated.keys() == english.keys()
    for key, text in english.items():
        assert sorted(PLACEHOLDER.findall(translated[key])) == sorted(PLACEHOLDER.findall(text))
        assert translated[key].strip(), key
    same = [k for k, text in english.items() if translated[k] == text and " " in text]
    same = [key for key in same if key not in SAME]
    assert same == [], f"{language}: left in English"
