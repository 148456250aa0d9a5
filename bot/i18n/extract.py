"""Every message id crmcard shows: the code (``t``/``nt``), card templates, Teams manifest,
the error families' titles.

``python -m bot.i18n.extract`` prints the ids a catalogue lacks, as ``.po`` entries to
translate; the tests fail while any is missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n.card_texts import messages
from bot.i18n.catalogues import LANGUAGES, po_path
from bot.i18n.manifest import localizable

PACKAGE = Path(__file__).resolve().parents[1]
CARDS = PACKAGE.parent / "cards"
KEYWORDS = {"t": None, "nt": (1, 2)}


def code_messages() -> dict[str, str | None]:
    """msgid -> plural msgid (None: no plural) of every ``t``/``nt`` call in ``bot/``."""
    found: dict[str, str | None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        PACKAGE, method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        if isinstance(message, tuple):
            found[message[0]] = message[1]
        elif message:
            found.setdefault(message, None)
    return found


def template_messages() -> dict[str, str | None]:
    """The card templates' texts (``cards/*.json``)."""
    return {
        m: None
        for path in sorted(CARDS.glob("*.json"))
        for m in messages(json.loads(path.read_text()))
    }


def manifest_messages() -> dict[str, str | None]:
    """The Teams manifest template's names, descriptions and commands."""
    template = json.loads(
        (PACKAGE.parent / "teams_manifest" / "manifest.template.json").read_text()
    )
    return {text: None for text in localizable(template).values() if "${{" not in text}


def error_messages() -> dict[str, str | None]:
    """The error families' titles, the detail of every 500 and how a detail names its
    refused fields (shown to the reader)."""
    from bot.errors import (
        _FAMILIES,
        FIELD_PROBLEM,
        FIELD_PROBLEMS,
        FIELD_SEPARATOR,
        FIELDS,
        FIELDS_AND_MORE,
        INTERNAL_DETAIL,
    )

    titles: dict[str, str | None] = {title: None for _, _, title in _FAMILIES.values()}
    frames = (
        INTERNAL_DETAIL,
        FIELDS,
        FIELDS_AND_MORE,
        FIELD_PROBLEM,
        FIELD_SEPARATOR,
        *FIELD_PROBLEMS.values(),
    )
    return {**titles, **dict.fromkeys(frames)}


def all_messages() -> dict[str, str | None]:
    return {**template_messages(), **code_messages(), **manifest_messages(), **error_messages()}


def missing(language: str) -> dict[str, str | None]:
    """The message ids ``language``'s catalogue does not translate (or only fuzzily)."""
    with po_path(language).open("rb") as source:
        catalog = read_po(source, locale=language)
    lacking = {}
    for msgid, plural in all_messages().items():
        entry = catalog.get(msgid)
        strings = entry.string if entry is not None else ""
        values = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(values):
            lacking[msgid] = plural
    return lacking


def _po_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> int:
    status = 0
    for language in LANGUAGES[1:]:
        for msgid, plural in missing(language).items():
            status = 1
            print(f"# {language}\nmsgid {_po_string(msgid)}")
            if plural is None:
                print('msgstr ""\n')
            else:
                print(f'msgid_plural {_po_string(plural)}\nmsgstr[0] ""\nmsgstr[1] ""\n')
    return status


if __name__ == "__main__":
    sys.exit(main())
