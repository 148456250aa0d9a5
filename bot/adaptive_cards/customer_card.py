"""The customer card as Adaptive Card JSON, always small enough for Teams.

Teams refuses messages over 28 KB; the card is rendered, measured, and paged further
("show more") until it fits well under that, whatever the contact's record count.
"""

from __future__ import annotations

from typing import Any

import orjson

from bot.adaptive_cards.template import load
from bot.i18n import ENGLISH, AgentLocale, localize
from bot.services.card_view import (
    CustomerCardView,
    SectionView,
    more_children_text,
    show_more_text,
)

MAX_CARD_BYTES = 24_000


def card_size(card: Any) -> int:
    """Bytes of the card as sent: compact UTF-8 JSON."""
    return len(orjson.dumps(card))


def _shown(view: CustomerCardView) -> int:
    return sum(len(s.records) + sum(len(r.children) for r in s.records) for s in view.sections)


def _shrink(view: CustomerCardView, count: int) -> bool:
    """Move ``count`` records (expanded children first) out of sight; False if none left."""
    locale = AgentLocale.of(view.language)
    moved = 0
    while moved < count:
        expanded = [r for s in view.sections for r in s.records if r.children]
        if expanded:
            record = max(expanded, key=lambda r: len(r.children))
            record.children.pop()
            record.more_children += 1
            record.more_children_text = more_children_text(record.more_children, locale)
        else:
            sections: list[SectionView] = [s for s in view.sections if s.records]
            if not sections:
                return moved > 0
            section = max(sections, key=lambda s: len(s.records))
            section.records.pop()
            section.hidden += 1
            section.show_more_text = show_more_text(section.hidden, locale)
        moved += 1
    return True


def render_customer_card(view: CustomerCardView) -> dict[str, Any]:
    paged = view
    while True:
        card: dict[str, Any] = load("customer_card", view.language).render(
            paged.model_dump(by_alias=True)
        )
        size = card_size(card)
        if size <= MAX_CARD_BYTES:
            return card
        if paged is view:
            paged = view.model_copy(deep=True)  # paging changes the view: work on a copy
        per_record = size / max(1, _shown(paged))
        if not _shrink(paged, max(1, int((size - MAX_CARD_BYTES) / per_record) + 1)):
            return card


def render_welcome(
    *, demo: bool, personal: bool = True, locale: AgentLocale = ENGLISH
) -> dict[str, Any]:
    """The welcome card; in a group chat or channel it says that commands need an @mention
    and that customer cards come in the personal chat."""
    data = {"demo": demo and personal, "personal": personal, "group": not personal}
    card: dict[str, Any] = load("welcome", locale.language).render(data)
    return card


def render_message(title: str, text: str, locale: AgentLocale = ENGLISH) -> dict[str, Any]:
    data = {"title": localize(title, locale), "text": localize(text, locale)}
    card: dict[str, Any] = load("message", locale.language).render(data)
    return card
