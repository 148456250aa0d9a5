"""The vocabulary every card verb shares: its data, its answer, its errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import ConfigDict, Field, model_validator

from bot.domain.api_model import ApiModel
from bot.domain.cards import CustomerCard
from bot.domain.errors import DomainError
from bot.domain.interactions import Interaction
from bot.errors import Forbidden
from bot.i18n import t
from bot.services import keys, name_index
from bot.services.audit import Door
from bot.services.cards import get_card
from bot.services.context import Context
from bot.services.store import read_model


class InvalidAction(DomainError):
    """The action's verb or data is not something a customer card sends."""


class NotYourInteraction(Forbidden, DomainError):
    """The acting user is neither the interaction's agent nor a supervisor."""


@dataclass(frozen=True)
class Actor:
    """Who clicked, and through which door (``teams``: the bot; ``tab``: the tab's API)."""

    user_id: str
    door: Door
    supervisor: bool = False
    """Known to hold ``crmcard.Supervisor`` (the tab reads it from the SSO token)."""


MERGE_ID = r"^merge-[0-9a-f]{32}$"


class ActionData(ApiModel):
    """What every card action carries: its interaction, and the revision the card showed.

    Each verb reads its own subclass (:data:`bot.services.card_actions.VERBS`); fields a
    card sends that its verb does not read are ignored.
    """

    model_config = ConfigDict(extra="ignore")

    interaction_id: str = Field(min_length=1)
    rev: int = Field(ge=0)


class RecordData(ActionData):
    """``link``, ``unlink``, ``expand``, ``collapse``: the record (``crm:type:id``)."""

    record: str = Field(min_length=1, max_length=500)


class SectionData(ActionData):
    """``showMore``: the card section to show more of."""

    section: Literal["current", "related"]


class CreateRecordData(ActionData):
    """``createRecord``: the new record's subject (asked again when empty) and type."""

    subject: str | None = Field(None, max_length=200)
    record_type: str | None = Field(None, max_length=100)


class MergeSearchData(ActionData):
    """``mergeSearch``: what the agent typed to find the other card."""

    query: str | None = Field(None, max_length=200)


class MergeConfirmData(ActionData):
    """``mergeConfirm``: the card picked to merge with the open one."""

    other_card_id: str = Field(min_length=1, max_length=200)


class MergeDoData(MergeConfirmData):
    """``mergeDo``: the confirmed merge, under the id the confirmation card minted."""

    merge_id: str = Field(max_length=100, pattern=MERGE_ID)


class MergeUndoData(ActionData):
    """``mergeUndo``: the merge to undo (its audit id)."""

    audit_id: str = Field(max_length=100, pattern=MERGE_ID)


class RunWorkflowData(ActionData):
    """``runWorkflow``: the workflow, and the workflow card's inputs."""

    workflow_id: str = Field(min_length=1, max_length=64)
    workflow_inputs: dict[str, str] = Field(
        default_factory=dict, description="the workflow card's inputs, ids 'wf.<workflow>.<name>'"
    )

    @model_validator(mode="before")
    @classmethod
    def _collect_workflow_inputs(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            inputs = {k: str(v) for k, v in raw.items() if k.startswith(WORKFLOW_INPUT)}
            if inputs:
                raw = {**raw, "workflowInputs": inputs}
        return raw


WORKFLOW_INPUT = "wf."


@dataclass
class ActionResult:
    card: dict[str, Any]
    notices: list[str] = field(default_factory=list)


Outcome = tuple[Interaction, list[str]] | ActionResult
"""A verb's answer: the changed interaction and notices, or a card of its own."""

Data = TypeVar("Data", bound=ActionData)


@dataclass(frozen=True)
class Verb(Generic[Data]):
    """A card verb: the data it reads, and what it does."""

    data: type[Data]
    run: Callable[[Context, Interaction, Data, str], Awaitable[Outcome]]


async def change_interaction(
    ctx: Context, interaction: Interaction, change: Callable[[Interaction], Interaction]
) -> Interaction:
    """Apply ``change`` under compare-and-swap; a write also drops the link changes the
    audit feed has copied (:meth:`bot.services.audit_feed.AuditFeed.trimmed`)."""

    def changed(current: Interaction) -> Interaction:
        new = change(current)
        return new if new is current else ctx.audit_feed.trimmed(new)

    return await name_index.update_interaction(
        ctx.store, interaction.tenant_id, interaction.id, changed
    )


def record_title(interaction: Interaction, key: str) -> str:
    record = interaction.shown.records.get(key)
    return record.title if record else key


async def open_card(ctx: Context, interaction: Interaction) -> CustomerCard:
    card = await get_card(ctx.store, interaction.tenant_id, interaction.card_id)
    if card is None:
        raise InvalidAction(
            t("the card of interaction {interaction} is gone", interaction=repr(interaction.id))
        )
    return card


async def reread(ctx: Context, interaction: Interaction) -> Interaction:
    key = keys.interaction(interaction.tenant_id, interaction.id)
    return await read_model(ctx.store, key, Interaction) or interaction
