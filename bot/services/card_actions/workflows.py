"""Verbs that let agents run the admin's search and create workflows from the card."""

from __future__ import annotations

from pydantic import ValidationError

from bot.adaptive_cards.workflow_cards import (
    InputView,
    WorkflowsView,
    WorkflowView,
    render_workflows,
)
from bot.domain.errors import DomainError
from bot.domain.interactions import Interaction
from bot.domain.workflows import CreateWorkflow, ExecuteRequest, SearchWorkflow, Workflow
from bot.services import workflows as workflow_service
from bot.services.card_actions.base import (
    WORKFLOW_INPUT,
    ActionData,
    ActionResult,
    InvalidAction,
    open_card,
    reread,
)
from bot.services.card_view import contact_name
from bot.services.context import Context


def _workflow_view(workflow: Workflow) -> WorkflowView | None:
    """What the agent fills in to run ``workflow``; None for kinds run on one record."""
    prefix = f"{WORKFLOW_INPUT}{workflow.id}."
    if isinstance(workflow, SearchWorkflow):
        inputs = [
            InputView(
                id=prefix + c.input,
                label=f"{c.field} ({c.by})" if c.field else c.by.value.capitalize(),
            )
            for c in workflow.criteria
        ]
        return WorkflowView(
            workflow_id=workflow.id,
            title=workflow.name or workflow.id,
            description="Search: results appear under Related interactions.",
            run_title="🔎 Search",
            inputs=inputs,
        )
    if isinstance(workflow, CreateWorkflow):
        inputs = [
            InputView(
                id=prefix + name,
                label=name.replace("_", " ").capitalize(),
                value=workflow.defaults.get(name, ""),
                required=name in workflow.required,
            )
            for name in workflow.fields
        ]
        return WorkflowView(
            workflow_id=workflow.id,
            title=workflow.name or workflow.id,
            description=f"Create a {workflow.record_type}, pinned to this interaction.",
            run_title="📝 Create",
            inputs=inputs,
        )
    return None


async def list_workflows(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult:
    """The tenant's search and create workflows, ready to run on this interaction."""
    card = await open_card(ctx, interaction)
    defined = await workflow_service.list_all(ctx, interaction.tenant_id)
    view = WorkflowsView(
        interaction_id=interaction.id,
        rev=interaction.revision,
        contact_name=contact_name(card, interaction),
        workflows=[v for v in map(_workflow_view, defined) if v is not None],
    )
    return ActionResult(render_workflows(view), [])


async def run_workflow(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    workflow = await workflow_service.get(ctx, interaction.tenant_id, data.workflow_id or "")
    if workflow is None or _workflow_view(workflow) is None:
        raise InvalidAction(f"no workflow {data.workflow_id!r} an agent can run here")
    prefix = f"{WORKFLOW_INPUT}{workflow.id}."
    values = {
        key[len(prefix) :]: value.strip()
        for key, value in data.workflow_inputs.items()
        if key.startswith(prefix) and value.strip()
    }
    creates = isinstance(workflow, CreateWorkflow)
    title = workflow.name or workflow.id
    try:
        request = ExecuteRequest(
            interaction_id=interaction.id,
            # The card's revision makes a retried invoke the same request: it runs once.
            request_id=f"card-{interaction.id}-{data.rev}-{workflow.id}",
            inputs={} if creates else values,
            fields=values if creates else {},
        )
        result = await workflow_service.execute(ctx, interaction.tenant_id, workflow.id, request)
    except (DomainError, ValidationError) as error:
        return await reread(ctx, interaction), [f"{title}: {error}"]
    found = result["records"]
    if creates:
        notice = f"{title}: created {found[0]['title']}, pinned and linked to this interaction."
    else:
        notice = f"{title}: {len(found)} record(s) found, under Related interactions."
    return await reread(ctx, interaction), [notice]
