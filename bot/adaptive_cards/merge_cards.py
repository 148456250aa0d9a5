"""The merge cards (candidates + search, confirmation) and the success banner with Undo."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bot.adaptive_cards.interaction_card import InteractionCardView
from bot.adaptive_cards.template import load, render
from bot.domain.api_model import ApiModel
from bot.i18n import ENGLISH, AgentLocale, localize, t


class CandidateView(ApiModel):
    card_id: str
    name: str
    reasons: list[str]
    lines: list[str] = Field(
        default_factory=list, description="channels, identifiers, last interaction"
    )


class HistoryView(ApiModel):
    audit_id: str
    text: str


class CandidatesView(InteractionCardView):
    contact_name: str
    heading: str
    candidates: list[CandidateView]
    empty_text: str
    query: str = ""
    notices: list[str] = Field(default_factory=list)
    history: list[HistoryView] = Field(default_factory=list)

    @property
    def has_candidates(self) -> bool:
        return bool(self.candidates)


class ConfirmView(InteractionCardView):
    other_card_id: str
    merge_id: str
    survivor_text: str
    survivor_name: str
    survivor_lines: list[str]
    absorbed_name: str
    absorbed_lines: list[str]
    reasons: list[str]
    undo_days: int


def render_candidates(view: CandidatesView) -> dict[str, Any]:
    data = {**view.model_dump(by_alias=True), "hasCandidates": view.has_candidates}
    card: dict[str, Any] = render(load("merge_candidates", view.language), data)
    return card


def render_confirm(view: ConfirmView) -> dict[str, Any]:
    card: dict[str, Any] = render(
        load("merge_confirm", view.language), view.model_dump(by_alias=True)
    )
    return card


def with_undo_banner(
    card: dict[str, Any],
    text: str,
    interaction_id: str,
    rev: int,
    audit_id: str,
    locale: AgentLocale = ENGLISH,
    icons: str = "/icons",
) -> dict[str, Any]:
    """``card`` (a rendered customer card) with a success banner offering Undo on top."""
    banner = {
        "type": "Container",
        "style": "good",
        "items": [
            {"type": "TextBlock", "text": localize(text, locale), "wrap": True, "weight": "bolder"},
            {
                "type": "ActionSet",
                "actions": [
                    {
                        "type": "Action.Execute",
                        "title": localize(t("Undo merge"), locale),
                        "verb": "mergeUndo",
                        "data": {"interactionId": interaction_id, "rev": rev, "auditId": audit_id},
                        "iconUrl": f"{icons}/undo.svg",
                    }
                ],
            },
        ],
    }
    return {**card, "body": [banner, *card.get("body", [])]}
