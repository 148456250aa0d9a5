"""The customer card as Adaptive Card JSON, always small enough for Teams.

Teams refuses messages over 28 KB; the card is rendered, measured, and paged further
("show more") until it fits well under that, whatever the contact's record count.
"""

from __future__ import annotations

from typing import Any

import orjson

from bot.adaptive_cards.template import load
from bot.services.card_view import CustomerCardView, SectionView

MAX_CARD_BYTES = 24_000


def card_size(card: Any) -> int:
    """Bytes of the card as sent: compact UTF-8 JSON."""
    return len(orjson.dumps(card))


def _shown(view: CustomerCardView) -> int:
    return sum(len(s.records) + sum(len(r.children) for r in s.records) for s in view.sections)


def _shrink(view: CustomerCardView, count: int) -> bool:
    """Move ``count`` records (expanded children first) out of sight; False if none left."""
    moved = 0
    while moved < count:
        expanded = [r for s in view.sections for r in s.records if r.children]
        if expanded:
            record = max(expanded, key=lambda r: len(r.children))
            record.children.pop()
            record.more_children += 1
        else:
            sections: list[SectionView] = [s for s in view.sections if s.records]
            if not sections:
                return moved > 0
            section = max(sections, key=lambda s: len(s.records))
            section.records.pop()
            section.hidden += 1
        moved += 1
    return True


def render_customer_card(view: CustomerCardView) -> dict[str, Any]:
    paged = view
    while True:
        card: dict[str, Any] = load("customer_card").render(paged.model_dump(by_alias=True))
        size = card_size(card)
        if size <= MAX_CARD_BYTES:
            return card
        if paged is view:
            paged = view.model_copy(deep=True)  # paging changes the view: work on a copy
        per_record = size / max(1, _shown(paged))
        if not _shrink(paged, max(1, int((size - MAX_CARD_BYTES) / per_record) + 1)):
            return card


def render_welcome(*, demo: bool) -> dict[str, Any]:
    card: dict[str, Any] = load("welcome").render({"demo": demo})
    return card


def render_message(title: str, text: str) -> dict[str, Any]:
    card: dict[str, Any] = load("message").render({"title": title, "text": text})
    return card
