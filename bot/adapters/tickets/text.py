"""Text analysis for the embedded engine: words, stop words and Snowball stems.

SQLite's FTS5 has no German or French stemmer, so tickets are analysed here before they
are indexed: lower-cased words, the stop words of the ticket's language dropped and the
rest reduced by the Snowball stemmer of that language -- the same stop-word lists and
stemmers PostgreSQL's ``english``, ``german`` and ``french`` configurations use, so both
engines find the same tickets. A query is analysed in all three languages; a ticket
matches when every query word matches in one of them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import Stemmer

from bot.domain.tickets import Language

_WORD = re.compile(r"\w+")
_STOPWORDS = Path(__file__).resolve().parent / "stopwords"


@functools.cache
def _stopwords(language: Language) -> frozenset[str]:
    text = (_STOPWORDS / f"{language.value}.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


@functools.cache
def _stemmer(language: Language) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language.value)


def stems(text: str, language: Language) -> list[str]:
    """The indexable stems of ``text`` in ``language``, in order, stop words dropped."""
    stop = _stopwords(language)
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return list(_stemmer(language).stemWords(words))


def indexed(text: str, language: Language) -> str:
    """What the FTS5 column holds for ``text``: its stems, space separated."""
    return " ".join(stems(text, language))


def match_expression(text: str) -> str | None:
    """An FTS5 MATCH expression for a user's words, or None when nothing is searchable.

    Every stem is a quoted FTS5 string (stems hold word characters only, so the user
    cannot inject operators); one AND-group per language, the groups OR-ed.
    """
    groups: list[str] = []
    for language in Language:
        found = list(dict.fromkeys(stems(text, language)))
        if found:
            groups.append("(" + " AND ".join(f'"{stem}"' for stem in found) + ")")
    unique = list(dict.fromkeys(groups))
    return " OR ".join(unique) if unique else None
