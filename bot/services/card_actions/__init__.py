"""What the buttons on a customer card do (Adaptive Card Universal Action verbs).

Teams retries an unanswered invoke, so every verb is idempotent: intents are absolute
("link X", "expand X"), and the answer is always the card as now stored.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bot.domain.interactions import Interaction
from bot.errors import field_errors
from bot.i18n import t
from bot.observability import context
from bot.services import keys, supervisors
from bot.services.card_actions.base import (
    WORKFLOW_INPUT,
    ActionData,
    ActionResult,
    Actor,
    CreateRecordData,
    Data,
    InvalidAction,
    MergeConfirmData,
    MergeDoData,
    MergeSearchData,
    MergeUndoData,
    NotYourInteraction,
    RecordData,
    RunWorkflowData,
    SectionData,
    Verb,
)
from bot.services.card_actions.merging import (
    merge_confirm,
    merge_do,
    merge_search,
    merge_start,
    merge_undo,
)
from bot.services.card_actions.records import (
    collapse,
    create_record,
    expand,
    link,
    refresh,
    show,
    show_more,
    unlink,
)
from bot.services.card_actions.workflows import list_workflows, run_workflow
from bot.services.context import Context
from bot.services.rendering import card_for
from bot.services.store import ReadOnce, read_model

VERBS: dict[str, Verb[Any]] = {
    "workflows": Verb(ActionData, list_workflows),
    "runWorkflow": Verb(RunWorkflowData, run_workflow),
    "link": Verb(RecordData, link),
    "unlink": Verb(RecordData, unlink),
    "refresh": Verb(ActionData, refresh),
    "expand": Verb(RecordData, expand),
    "collapse": Verb(RecordData, collapse),
    "showMore": Verb(SectionData, show_more),
    "createRecord": Verb(CreateRecordData, create_record),
    "refreshCard": Verb(ActionData, show),
    "merge": Verb(ActionData, merge_start),
    "mergeSearch": Verb(MergeSearchData, merge_search),
    "mergeConfirm": Verb(MergeConfirmData, merge_confirm),
    "mergeDo": Verb(MergeDoData, merge_do),
    "mergeUndo": Verb(MergeUndoData, merge_undo),
}
"""Every verb a customer card sends, with the typed data it reads."""


async def execute(
    ctx: Context, tenant_id: str, actor: Actor, verb: str, raw_data: dict[str, Any]
) -> ActionResult:
    """Run one card action and return the card to show in its place.

    Only the interaction's agent acts on it, or a supervisor (:mod:`bot.services.supervisors`),
    whichever door the action comes through; anyone else is refused before anything runs.
    """
    shared = ctx.store
    store = ReadOnce(shared)
    ctx = ctx.for_turn(store, actor.door)
    known = VERBS.get(verb)
    data = _valid_or_none(known.data, raw_data) if known is not None else None
    base = data or _validated(ActionData, raw_data)  # the verb's data is ActionData too
    interaction = await read_model(
        ctx.store, keys.interaction(tenant_id, base.interaction_id), Interaction
    )
    if interaction is None:
        raise InvalidAction(
            t(
                "interaction {interaction} does not exist",
                interaction=repr(base.interaction_id),
            )
        )
    context.bind(tenant_id=tenant_id, interaction_id=interaction.id)
    # Said by the request's access line (and any line logged on the way): one line a click.
    context.note(verb=verb, door=actor.door, actor=actor.user_id)
    await _may_act(ctx, interaction, actor)
    if interaction.card_face is None:  # kept before the interaction carried its card's face
        store.prefetch(keys.card(tenant_id, interaction.card_id))  # read while the verb writes
    if known is None:
        unknown: list[str] = [
            t("This card does not know the action “{verb}”; nothing was changed.", verb=verb)
        ]
        return ActionResult(await card_for(ctx, interaction, unknown), unknown)
    data = data or _validated(known.data, raw_data)  # refused now: after who may act
    outcome = await known.run(ctx, interaction, data, actor.user_id)
    if isinstance(outcome, ActionResult):
        return outcome  # a verb that answers with a card of its own (merge)
    interaction, notices = outcome
    ctx.audit_feed.take(shared, interaction)  # its link changes, to the audit stream
    if isinstance(data, RecordData) and data.record in interaction.shown.records:
        # A verb on one record row: answer on the row the agent clicked, where they look.
        answers = {data.record: notices[0]} if notices else {}
        card = await card_for(ctx, interaction, notices[1:], answers=answers)
        return ActionResult(card, notices)
    return ActionResult(await card_for(ctx, interaction, notices), notices)


def _valid_or_none(model: type[Data], raw_data: dict[str, Any]) -> Data | None:
    try:
        return model.model_validate(raw_data)
    except ValidationError:
        return None


def _validated(model: type[Data], raw_data: dict[str, Any]) -> Data:
    try:
        return model.model_validate(raw_data)
    except ValidationError as error:
        raise InvalidAction(
            t("the card action's data is not valid"), field_errors(error, ("data",))
        ) from None


async def _may_act(ctx: Context, interaction: Interaction, actor: Actor) -> None:
    if actor.user_id == interaction.agent.aad_object_id or actor.supervisor:
        return
    if await supervisors.is_supervisor(
        ctx.store, interaction.tenant_id, actor.user_id, ctx.clock()
    ):
        return
    raise NotYourInteraction(
        t(
            "This card belongs to another agent's interaction; only that agent or a supervisor "
            "can act on it. Nothing was changed."
        )
    )


__all__ = [
    "VERBS",
    "WORKFLOW_INPUT",
    "ActionData",
    "ActionResult",
    "Actor",
    "InvalidAction",
    "NotYourInteraction",
    "execute",
]
