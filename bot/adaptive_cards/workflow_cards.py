"""The card listing the workflows an agent may run on the open interaction."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from bot.adaptive_cards.template import load


class _View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class InputView(_View):
    id: str
    label: str
    value: str = ""
    required: bool = False


class WorkflowView(_View):
    workflow_id: str
    title: str
    description: str
    run_title: str
    icon: Literal["search", "add"] = Field(description="the run button's icon")
    inputs: list[InputView]


class WorkflowsView(_View):
    language: str = "en"
    icons: str = Field("/icons", description="base URL of the action icons crmcard serves")
    interaction_id: str
    rev: int
    contact_name: str
    workflows: list[WorkflowView]


def render_workflows(view: WorkflowsView) -> dict[str, Any]:
    card: dict[str, Any] = load("workflows", view.language).render(view.model_dump(by_alias=True))
    return card
