"""The customer card as Adaptive Card JSON, always small enough for Teams.

:class:`CustomerCardData` is the typed data the ``customer_card`` template is filled from
(built from an interaction by :mod:`bot.services.card_view`): plain dicts under the
template's own (camelCase) names, typed for mypy only. It never leaves the process; the
card is built on every click and every CRM answer, so it is not validated or dumped by a
model on the way. Teams refuses messages over 28 KB; the card is rendered, measured, and
paged further ("show more") until it fits well under that, whatever the contact's record
count.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypedDict

import orjson

from bot.adaptive_cards.template import load
from bot.i18n import ENGLISH, AgentLocale, localize, nt

MAX_CARD_BYTES = 24_000


class Fact(TypedDict):
    label: str
    value: str


class RecordRow(TypedDict):
    key: str
    title: str
    typeLine: str
    """Record type, its CRM when several are connected, the CRM's subtitle."""
    url: str | None
    openText: str
    """'Open in <CRM>'."""
    linked: bool
    canExpand: bool
    """May be expanded: key fields and related records."""
    expanded: bool
    details: list[Fact]
    """Key fields (expanded)."""
    children: list[RecordRow]
    moreChildren: int
    moreChildrenText: str
    answer: str
    """The answer to the agent's click on this record."""
    actions: bool
    """Link/unlink offered (the interaction is open)."""


class Section(TypedDict):
    id: str
    title: str
    records: list[RecordRow]
    hidden: int
    """Records left out by paging ('show more')."""
    showMoreText: str
    emptyText: str
    refreshable: bool


class CustomerCardData(TypedDict):
    language: str
    """The agent's language (texts are in it already): the template's labels follow it."""
    icons: str
    """Base URL of the action icons crmcard serves."""
    interactionId: str
    rev: int
    """The interaction's revision the card's actions act on."""
    contactName: str
    channel: str
    state: str
    queue: str
    contactFields: list[Fact]
    sections: list[Section]
    isOpen: bool
    notices: list[str]
    problems: list[str]
    crmConnected: bool
    refreshUserIds: list[str]
    writeback: list[str]
    """Write-back outcome that went well: written, writing."""
    writebackFailed: list[str]
    """Write-back outcome that did not: not written, retrying."""
    completedText: str
    """Read-only card: 'Completed, written to ...'."""
    routed: str
    """IVR routing: queue · skills · tier (screen pop)."""
    hasWorkflows: bool
    canCreate: bool
    unknownCaller: bool
    """No person found: offer a contact or lead."""
    mergedText: str
    """This interaction's card was merged into another."""
    mergedAuditId: str
    """The merge to undo from here."""
    pastTicketsUrl: str
    """The Tickets tab narrowed to the caller (ticketing CRMs); none: hidden."""
    createTypes: list[Fact]
    """Record types the agent may create (value: type)."""


# Every card shows both counts for each section and record, on every click: each is
# translated and its number formatted once per count and language.
@lru_cache(maxsize=1024)
def more_children_text(count: int, locale: AgentLocale) -> str:
    return localize(nt("and {count} more", "and {count} more", count), locale)


@lru_cache(maxsize=1024)
def show_more_text(count: int, locale: AgentLocale) -> str:
    return localize(nt("Show {count} more", "Show {count} more", count), locale)


class RenderedCard(dict[str, Any]):
    """A customer card with the compact JSON it was measured as, sent as those bytes instead
    of being serialized again (:func:`bot.adapters.teams.invoke.encoded`). Never changed in
    place: a card with more on it is a new dict (``{**card, ...}``) and is serialized anew."""

    def __init__(self, card: dict[str, Any], encoded: bytes) -> None:
        super().__init__(card)
        self.encoded = encoded


def _shown(view: CustomerCardData) -> int:
    return sum(
        len(s["records"]) + sum(len(r["children"]) for r in s["records"]) for s in view["sections"]
    )


def _copied(view: CustomerCardData) -> CustomerCardData:
    """A copy that paging may change: its sections, their rows and the rows' children."""
    sections: list[Section] = [
        {
            **section,
            "records": [{**row, "children": [*row["children"]]} for row in section["records"]],
        }
        for section in view["sections"]
    ]
    return {**view, "sections": sections}


def _shrink(view: CustomerCardData, count: int) -> bool:
    """Move ``count`` records (expanded children first) out of sight; False if none left."""
    locale = AgentLocale.of(view["language"])
    moved = 0
    while moved < count:
        expanded = [r for s in view["sections"] for r in s["records"] if r["children"]]
        if expanded:
            record = max(expanded, key=lambda r: len(r["children"]))
            record["children"].pop()
            record["moreChildren"] += 1
            record["moreChildrenText"] = more_children_text(record["moreChildren"], locale)
        else:
            sections = [s for s in view["sections"] if s["records"]]
            if not sections:
                return moved > 0
            section = max(sections, key=lambda s: len(s["records"]))
            section["records"].pop()
            section["hidden"] += 1
            section["showMoreText"] = show_more_text(section["hidden"], locale)
        moved += 1
    return True


def render_customer_card(view: CustomerCardData) -> RenderedCard:
    template = load("customer_card", view["language"])
    paged = view
    while True:
        card: dict[str, Any] = template.render(paged)
        encoded = orjson.dumps(card)  # measured, and sent as it is
        size = len(encoded)
        if size <= MAX_CARD_BYTES:
            return RenderedCard(card, encoded)
        if paged is view:
            paged = _copied(view)  # paging changes the data: work on a copy
        per_record = size / max(1, _shown(paged))
        if not _shrink(paged, max(1, int((size - MAX_CARD_BYTES) / per_record) + 1)):
            return RenderedCard(card, encoded)


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
