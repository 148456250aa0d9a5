"""The card listing the workflows an agent may run on the open interaction."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bot.adaptive_cards.interaction_card import InteractionCardView
from bot.adaptive_cards.template import load
from bot.domain.api_model import ApiModel


class InputView(ApiModel):
    id: str
    label: str
    value: str = ""
    required: bool = False


class WorkflowView(ApiModel):
    workflow_id: str
    title: str
    description: str
    run_title: str
    icon: Literal["search", "add"] = Field(description="the run button's icon")
    inputs: list[InputView]


class WorkflowsView(InteractionCardView):
    contact_name: str
    workflows: list[WorkflowView]


def render_workflows(view: WorkflowsView) -> dict[str, Any]:
    card: dict[str, Any] = load("workflows", view.language).render(view.model_dump(by_alias=True))
    return card
