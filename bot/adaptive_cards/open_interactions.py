"""The card listing an agent's open interactions, to choose which customer card to see."""

from __future__ import annotations

from typing import Any

from bot.adaptive_cards.template import load
from bot.domain.api_model import ApiModel


class OpenInteractionView(ApiModel):
    interaction_id: str
    rev: int
    name: str
    line: str


def render_open_interactions(items: list[OpenInteractionView], language: str) -> dict[str, Any]:
    data = {"items": [item.model_dump(by_alias=True) for item in items]}
    card: dict[str, Any] = load("open_interactions", language).render(data)
    return card
