"""A data subject (GDPR): what identifies one person in crmcard's data, and how to scrub it.

Erasing a person removes the documents that are theirs (cards, interactions, write-back
recovery copies, index entries) and scrubs what is left elsewhere (audit entries, name
blocks, caller lookups...): every text that identifies them becomes their pseudonym,
every reference to one of their cards or interactions is dropped. Pure functions over
JSON values, so the same rule serves every document kind, including ones added later.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

MIN_TEXT = 3
"""Shorter texts (initials, a two-letter name) are too common to be taken as the person."""

_NOT_PART_OF_MORE = (r"(?:(?<![\w@.+-])|(?<=\\[nrt]))", r"(?![\w@-]|\.\w)")
"""Around one of their texts or ids: no letter, digit or address character joining it to
a longer identifier, name or id of someone else ("bob@" in "jimbob@", "mail-1" in
"mail-10", "+4930123456" in "+49301234567"); a line break written as JSON writes it
("\\nEdward") parts words too."""


@dataclass
class DataSubject:
    """Everything that points at one person in one tenant."""

    tenant_id: str
    card_ids: set[str] = field(default_factory=set)
    interaction_ids: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    """Identifier values as stored and as written, names: what is replaced."""

    def add_text(self, *values: str | None) -> None:
        for value in values:
            if value and len(value.strip()) >= MIN_TEXT:
                self.texts.add(value.strip())

    @property
    def ids(self) -> set[str]:
        return self.card_ids | self.interaction_ids

    @property
    def pseudonym(self) -> str:
        """Stable for the same person: the audit trail still tells their events apart."""
        seed = "\n".join([self.tenant_id, *sorted(self.texts), *sorted(self.card_ids)])
        return "subject-" + hashlib.sha256(seed.encode()).hexdigest()[:16]


@lru_cache(maxsize=16)
def _whole_words(values: frozenset[str]) -> re.Pattern[str]:
    """Any of ``values`` standing on its own, the longest first."""
    if not values:
        return re.compile(r"(?!)")
    alternatives = "|".join(map(re.escape, sorted(values, key=lambda v: (-len(v), v))))
    before, after = _NOT_PART_OF_MORE
    return re.compile(f"{before}(?:{alternatives}){after}")


def names_in(subject: DataSubject, text: str, *, ids: bool = True) -> bool:
    """Does ``text`` hold one of the subject's texts (and, with ``ids``, of their card or
    interaction ids) on its own, not as part of a longer one?"""
    values = subject.texts | subject.ids if ids else subject.texts
    return _whole_words(frozenset(values)).search(text) is not None


def mentions(subject: DataSubject, text: str) -> bool:
    """Does ``text`` (a document or a store key, percent-encoded or not) name the subject?"""
    return names_in(subject, unquote(text))


def scrub(subject: DataSubject, value: Any) -> Any:
    """``value`` with the subject's texts pseudonymized and references to them dropped.

    Dictionary entries keyed by one of their card or interaction ids, and list items that
    are such an id, are removed; any other string has each of their texts (and ids)
    replaced by the pseudonym where it stands on its own (:func:`names_in`).
    """
    if isinstance(value, dict):
        return {
            scrub(subject, key): scrub(subject, item)
            for key, item in value.items()
            if key not in subject.ids
        }
    if isinstance(value, list):
        return [
            scrub(subject, item)
            for item in value
            if not (isinstance(item, str) and item in subject.ids)
        ]
    if isinstance(value, str):
        found = _whole_words(frozenset(subject.texts | subject.ids))
        return found.sub(subject.pseudonym, value)
    return value
