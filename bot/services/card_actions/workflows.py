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
from bot.domain.identifiers import IdentifierKind
from bot.domain.interactions import Interaction
from bot.domain.workflows import (
    CreateWorkflow,
    ExecuteRequest,
    SearchBy,
    SearchWorkflow,
    Workflow,
    runs_from_card,
)
from bot.i18n import AgentLocale, localize, nt, t
from bot.services import agent_locale
from bot.services import workflows as workflow_service
from bot.services.card_actions.base import (
    WORKFLOW_INPUT,
    ActionData,
    ActionResult,
    InvalidAction,
    RunWorkflowData,
    open_card,
    reread,
)
from bot.services.card_view import contact_name, own_label, record_type_text
from bot.services.context import Context


def _prefill(interaction: Interaction, name: str, card_name: str) -> str:
    """What the interaction already knows for an input named ``name`` (phone, email, name)."""
    key = name.lower().replace("_", "")
    for kind, names in (
        (IdentifierKind.phone, ("phone", "mobilephone", "phonenumber", "mobile")),
        (IdentifierKind.email, ("email", "emailaddress", "mail")),
    ):
        if key in names:
            values = [
                i.identifier.value for i in interaction.identities if i.identifier.kind is kind
            ]
            return values[0] if values else ""
    if key in ("name", "fullname", "contactname", "customername"):
        return card_name
    return ""


def _workflow_view(
    workflow: Workflow, interaction: Interaction, card_name: str, locale: AgentLocale
) -> WorkflowView | None:
    """What the agent fills in to run ``workflow``; None for kinds run on one record."""
    prefix = f"{WORKFLOW_INPUT}{workflow.id}."
    if isinstance(workflow, SearchWorkflow):
        inputs = [
            InputView(
                id=prefix + c.input,
                label=localize(
                    t("{field} (custom)", field=c.field) if c.field else _SEARCH_BY[c.by], locale
                ),
                value=_prefill(
                    interaction, c.by.value if c.by is not SearchBy.custom else c.input, card_name
                ),
            )
            for c in workflow.criteria
        ]
        return WorkflowView(
            workflow_id=workflow.id,
            title=workflow.name or workflow.id,
            description=localize(t("Search: results appear under Related interactions."), locale),
            run_title=localize(t("Search"), locale),
            icon="search",
            inputs=inputs,
        )
    if isinstance(workflow, CreateWorkflow):
        inputs = [
            InputView(
                id=prefix + name,
                label=own_label(name, locale),
                value=workflow.defaults.get(name) or _prefill(interaction, name, card_name),
                required=name in workflow.required,
            )
            for name in workflow.fields
        ]
        return WorkflowView(
            workflow_id=workflow.id,
            title=workflow.name or workflow.id,
            description=localize(
                t(
                    "Create a {type}, pinned to this interaction.",
                    type=record_type_text(workflow.record_type),
                ),
                locale,
            ),
            run_title=localize(t("Create"), locale),
            icon="add",
            inputs=inputs,
        )
    return None


_SEARCH_BY = {
    SearchBy.phone: t("Phone"),
    SearchBy.email: t("Email"),
    SearchBy.name: t("Name"),
    SearchBy.custom: t("Value"),
}


async def list_workflows(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult:
    """The tenant's search and create workflows, ready to run on this interaction."""
    card = await open_card(ctx, interaction)
    defined = await workflow_service.list_all(ctx, interaction.tenant_id)
    locale = await agent_locale.of_interaction(ctx.store, interaction)
    name = contact_name(card, interaction)
    views = [_workflow_view(w, interaction, name, locale) for w in defined]
    view = WorkflowsView(
        language=locale.language,
        icons=ctx.icons,
        interaction_id=interaction.id,
        rev=interaction.revision,
        contact_name=localize(name, locale),
        workflows=[v for v in views if v is not None],
    )
    return ActionResult(render_workflows(view), [])


async def run_workflow(
    ctx: Context, interaction: Interaction, data: RunWorkflowData, actor: str
) -> tuple[Interaction, list[str]]:
    workflow = await workflow_service.get(ctx, interaction.tenant_id, data.workflow_id)
    if workflow is None or not runs_from_card(workflow):
        raise InvalidAction(
            t("no workflow {workflow_id} an agent can run here", workflow_id=repr(data.workflow_id))
        )
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
        return await reread(ctx, interaction), [
            t(
                "{workflow}: {error}",
                workflow=title,
                error=error.message if isinstance(error, DomainError) else str(error),
            )
        ]
    found = result["records"]
    if creates:
        notice = t(
            "{workflow}: created “{title}”, pinned and linked to this interaction.",
            workflow=title,
            title=found[0]["title"],
        )
    else:
        notice = nt(
            "{workflow}: {count} record found, under Related interactions.",
            "{workflow}: {count} records found, under Related interactions.",
            len(found),
            workflow=title,
        )
    return await reread(ctx, interaction), [notice]
