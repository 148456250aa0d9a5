"""The customer card as Adaptive Card JSON, always small enough for Teams.

Teams refuses messages over 28 KB; the card is rendered, measured, and paged further
("show more") until it fits well under that, whatever the contact's record count.
"""

from __future__ import annotations

import json
from typing import Any

from bot.adaptive_cards.template import load, render
from bot.services.card_view import CustomerCardView, SectionView

MAX_CARD_BYTES = 24_000


def card_size(card: Any) -> int:
    return len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode())


def _shrink(view: CustomerCardView) -> bool:
    """Move one record (or expanded child) out of sight; False when nothing is left."""
    expanded = [r for s in view.sections for r in s.records if r.children]
    if expanded:
        record = max(expanded, key=lambda r: len(r.children))
        record.children.pop()
        record.more_children += 1
        return True
    sections: list[SectionView] = [s for s in view.sections if s.records]
    if not sections:
        return False
    section = max(sections, key=lambda s: len(s.records))
    section.records.pop()
    section.hidden += 1
    return True


def render_customer_card(view: CustomerCardView) -> dict[str, Any]:
    view = view.model_copy(deep=True)
    while True:
        card: dict[str, Any] = render(load("customer_card"), view.model_dump(by_alias=True))
        if card_size(card) <= MAX_CARD_BYTES or not _shrink(view):
            return card


def render_welcome(*, demo: bool) -> dict[str, Any]:
    card: dict[str, Any] = render(load("welcome"), {"demo": demo})
    return card


def render_message(title: str, text: str) -> dict[str, Any]:
    card: dict[str, Any] = render(load("message"), {"title": title, "text": text})
    return card
