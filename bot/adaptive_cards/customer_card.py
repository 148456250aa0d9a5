"""The customer card as Adaptive Card JSON, always small enough for Teams.

:class:`CustomerCardView` is the typed data the ``customer_card`` template is filled
from (built from an interaction by :mod:`bot.services.card_view`). Teams refuses messages
over 28 KB; the card is rendered, measured, and paged further ("show more") until it fits
well under that, whatever the contact's record count.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from pydantic import Field

from bot.adaptive_cards.interaction_card import InteractionCardView
from bot.adaptive_cards.template import load
from bot.domain.api_model import ApiModel
from bot.i18n import ENGLISH, AgentLocale, localize, nt

MAX_CARD_BYTES = 24_000


class FieldView(ApiModel):
    label: str
    value: str


class RecordView(ApiModel):
    key: str
    title: str
    type_line: str = Field(
        "", description="record type, its CRM when several are connected, the CRM's subtitle"
    )
    url: str | None = None
    open_text: str = Field("", description="'Open in <CRM>'")
    linked: bool
    can_expand: bool = Field(description="may be expanded: key fields and related records")
    expanded: bool = False
    details: list[FieldView] = Field(default_factory=list, description="key fields (expanded)")
    children: list[RecordView] = Field(default_factory=list)
    more_children: int = 0
    more_children_text: str = ""
    answer: str = Field("", description="the answer to the agent's click on this record")
    actions: bool = Field(True, description="link/unlink offered (the interaction is open)")


class SectionView(ApiModel):
    id: str
    title: str
    records: list[RecordView]
    hidden: int = Field(0, description="records left out by paging ('show more')")
    show_more_text: str = ""
    empty_text: str
    refreshable: bool = False


class CustomerCardView(InteractionCardView):
    card_id: str
    contact_name: str
    channel: str
    state: str
    queue: str
    contact_fields: list[FieldView]
    sections: list[SectionView]
    related_loaded: bool
    is_open: bool
    notices: list[str]
    problems: list[str]
    crm_connected: bool
    refresh_user_ids: list[str]
    writeback: list[str] = Field(
        default_factory=list, description="write-back outcome that went well: written, writing"
    )
    writeback_failed: list[str] = Field(
        default_factory=list, description="write-back outcome that did not: not written, retrying"
    )
    completed_text: str = Field("", description="read-only card: 'Completed, written to ...'")
    routed: str = Field("", description="IVR routing: queue · skills · tier (screen pop)")
    has_workflows: bool = True
    can_create: bool = False
    unknown_caller: bool = Field(False, description="no person found: offer a contact or lead")
    merged_text: str = Field("", description="this interaction's card was merged into another")
    merged_audit_id: str = Field("", description="the merge to undo from here")
    past_tickets_url: str = Field(
        "", description="the Tickets tab narrowed to the caller (ticketing CRMs); none: hidden"
    )
    create_types: list[FieldView] = Field(
        default_factory=list, description="record types the agent may create (value: type)"
    )


# Every card shows both counts for each section and record, on every click: each is
# translated and its number formatted once per count and language.
@lru_cache(maxsize=1024)
def more_children_text(count: int, locale: AgentLocale) -> str:
    return localize(nt("and {count} more", "and {count} more", count), locale)


@lru_cache(maxsize=1024)
def show_more_text(count: int, locale: AgentLocale) -> str:
    return localize(nt("Show {count} more", "Show {count} more", count), locale)


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
