"""What the buttons on a customer card do (Adaptive Card Universal Action verbs).

Teams retries an unanswered invoke, so every verb is idempotent: intents are absolute
("link X", "expand X"), and the answer is always the card as now stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from bot.adaptive_cards.merge_cards import (
    CandidatesView,
    CandidateView,
    ConfirmView,
    HistoryView,
    render_candidates,
    render_confirm,
    with_undo_banner,
)
from bot.adaptive_cards.workflow_cards import (
    InputView,
    WorkflowsView,
    WorkflowView,
    render_workflows,
)
from bot.domain.cards import CustomerCard
from bot.domain.errors import DomainError, UnknownRecord
from bot.domain.interactions import Interaction
from bot.domain.links import LinkOutcome, pin_record, set_link
from bot.domain.merge import Candidate, MergeState, choose_survivor, reasons
from bot.domain.records import RecordRef
from bot.domain.workflows import CreateWorkflow, ExecuteRequest, SearchWorkflow, Workflow
from bot.services import keys
from bot.services import merge as merge_service
from bot.services import workflows as workflow_service
from bot.services.card_view import DEFAULT_PAGE_SIZE, contact_name
from bot.services.cards import get_card
from bot.services.context import Context
from bot.services.crm import CrmError
from bot.services.crm_lookup import related_of
from bot.services.interactions import lookup_people
from bot.services.rendering import card_for
from bot.services.store import ReadOnce, read_model, update


class InvalidAction(DomainError):
    """The action's verb or data is not something a customer card sends."""


class ActionData(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    interaction_id: str = Field(min_length=1)
    rev: int = Field(ge=0)
    record: str | None = None
    section: str | None = None
    record_type: str | None = None
    subject: str | None = Field(None, max_length=200)
    other_card_id: str | None = Field(None, max_length=200)
    merge_id: str | None = Field(None, max_length=100, pattern=r"^merge-[0-9a-f]{32}$")
    audit_id: str | None = Field(None, max_length=100, pattern=r"^merge-[0-9a-f]{32}$")
    query: str | None = Field(None, max_length=200)
    workflow_id: str | None = Field(None, max_length=64)
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


Handler = Callable[
    [Context, Interaction, ActionData, str],
    Awaitable[tuple[Interaction, list[str]] | ActionResult],
]


def _require_record(data: ActionData) -> str:
    if not data.record:
        raise InvalidAction("this action needs the record it applies to")
    return data.record


async def _change(
    ctx: Context, interaction: Interaction, change: Callable[[Interaction], Interaction]
) -> Interaction:
    return await update(
        ctx.store, keys.interaction(interaction.tenant_id, interaction.id), Interaction, change
    )


def _title(interaction: Interaction, key: str) -> str:
    record = interaction.shown.records.get(key)
    return record.title if record else key


async def _set_link(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str, linked: bool
) -> tuple[Interaction, list[str]]:
    key = _require_record(data)
    outcomes: list[LinkOutcome] = []

    def change(current: Interaction) -> Interaction:
        result = set_link(
            current, key, linked=linked, seen_revision=data.rev, actor=actor, now=ctx.clock()
        )
        outcomes.append(result.outcome)
        return result.interaction

    updated = await _change(ctx, interaction, change)
    notices = {
        LinkOutcome.stale: f"{_title(updated, key)} was changed by someone else after this card "
        "was shown. Here is the current card; nothing was changed.",
        LinkOutcome.closed: "This interaction is finished, so its links can no longer change.",
    }
    notice = notices.get(outcomes[-1])
    return updated, [notice] if notice else []


async def _link(
    ctx: Context, i: Interaction, d: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    return await _set_link(ctx, i, d, actor, linked=True)


async def _unlink(
    ctx: Context, i: Interaction, d: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    return await _set_link(ctx, i, d, actor, linked=False)


async def _refresh(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    """Re-ask the CRMs for the contact's records, then for the records related to them."""
    people = await lookup_people(
        ctx, interaction.tenant_id, interaction.identities, interaction.customer_name
    )
    clients = await ctx.crms.clients(interaction.tenant_id)
    refs = [people.records[key].ref for key in people.person]
    related = await related_of(clients, refs, ctx.crm_deadline)

    def change(current: Interaction) -> Interaction:
        records = {**current.shown.records, **people.records}
        problems = dict(people.problems)
        children: dict[str, list[str]] = dict(current.shown.related)
        for parent, lookup in related.items():
            records.update({r.ref.key: r for r in lookup.records})
            children[parent] = [r.ref.key for r in lookup.records]
            problems.update(lookup.problems)
        shown = current.shown.model_copy(
            update={
                "records": records,
                "person": people.person,
                "related": children,
                "problems": problems,
            }
        )
        view = current.view.model_copy(update={"related_loaded": True})
        return current.bumped(shown=shown, view=view)

    return await _change(ctx, interaction, change), []


async def _expand(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    key = _require_record(data)
    if key not in interaction.shown.records:
        raise UnknownRecord(f"record {key!r} is not on this card")
    loaded = {}
    if key not in interaction.shown.related:
        clients = await ctx.crms.clients(interaction.tenant_id)
        loaded = await related_of(clients, [RecordRef.parse(key)], ctx.crm_deadline)

    def change(current: Interaction) -> Interaction:
        if key in current.view.expanded and key in current.shown.related:
            return current
        shown = current.shown
        if key in loaded:
            lookup = loaded[key]
            shown = shown.model_copy(
                update={
                    "records": {**shown.records, **{r.ref.key: r for r in lookup.records}},
                    "related": {**shown.related, key: [r.ref.key for r in lookup.records]},
                    "problems": {**shown.problems, **lookup.problems},
                }
            )
        view = current.view.model_copy(
            update={"expanded": list(dict.fromkeys([*current.view.expanded, key]))}
        )
        return current.bumped(shown=shown, view=view)

    return await _change(ctx, interaction, change), []


async def _collapse(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    key = _require_record(data)

    def change(current: Interaction) -> Interaction:
        if key not in current.view.expanded:
            return current
        expanded = [k for k in current.view.expanded if k != key]
        return current.bumped(view=current.view.model_copy(update={"expanded": expanded}))

    return await _change(ctx, interaction, change), []


async def _show_more(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    section = data.section
    if section not in ("current", "related"):
        raise InvalidAction(f"unknown card section {section!r}")

    def change(current: Interaction) -> Interaction:
        if current.revision != data.rev:
            return current  # a replay, or the card moved on: show what is there now
        sizes = dict(current.view.page_sizes)
        sizes[section] = sizes.get(section, DEFAULT_PAGE_SIZE) + DEFAULT_PAGE_SIZE
        return current.bumped(view=current.view.model_copy(update={"page_sizes": sizes}))

    return await _change(ctx, interaction, change), []


async def _create_record(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    """Create a record in the contact's CRM and pin it to the interaction."""
    if not data.subject or not data.subject.strip():
        return interaction, ["Give the new record a subject."]
    if interaction.revision != data.rev:
        # A retried invoke of a create that already happened must not create twice.
        return interaction, []
    person = [interaction.shown.records[k].ref for k in interaction.shown.person]
    contact = next((ref for ref in person if ref.type == "contact"), person[0] if person else None)
    clients = await ctx.crms.clients(interaction.tenant_id)
    client = next((c for c in clients if contact and c.settings_id == contact.crm), None)
    client = client or (clients[0] if clients else None)
    if client is None:
        return interaction, ["No CRM is connected, so no record can be created."]
    try:
        record = await client.create(
            data.record_type or "case", {"subject": data.subject.strip()}, contact
        )
    except CrmError as error:
        return interaction, [f"Could not create the record: {error}"]
    updated = await _change(
        ctx, interaction, lambda current: pin_record(current, record, actor=actor, now=ctx.clock())
    )
    return updated, [f"Created {record.title} and linked it to this interaction."]


async def _show(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    return interaction, []


# --- merging cards (PRODUCT.md section 1, issue 3) ------------------------------------
# Each verb is idempotent: showing candidates or a confirmation changes nothing, a
# retried mergeDo carries the same merge id (resumed, never merged twice), and undo of
# an undone merge answers as if it just happened.


async def _open_card(ctx: Context, interaction: Interaction) -> CustomerCard:
    card = await get_card(ctx.store, interaction.tenant_id, interaction.card_id)
    if card is None:
        raise InvalidAction(f"the card of interaction {interaction.id!r} is gone")
    return card


def _candidate_views(found: list[Candidate]) -> list[CandidateView]:
    return [
        CandidateView(
            card_id=c.card_id,
            name=c.name or "Unknown contact",
            reasons=[r.text for r in c.reasons] or ["Found by search"],
        )
        for c in found
    ]


async def _merge_candidates_card(
    ctx: Context, interaction: Interaction, query: str, notices: list[str]
) -> ActionResult:
    card = await _open_card(ctx, interaction)
    tenant = interaction.tenant_id
    if query.strip():
        found = await merge_service.search(ctx, tenant, card, query)
        heading = f"Cards matching “{query.strip()}”"
        empty = "No card matches that search."
    else:
        found = await merge_service.candidates(ctx, tenant, card)
        heading = "Possible duplicates of this contact, best match first"
        empty = "No likely duplicates found. Search for any card below."
    view = CandidatesView(
        interaction_id=interaction.id,
        rev=interaction.revision,
        contact_name=contact_name(card, interaction),
        heading=heading,
        candidates=_candidate_views(found),
        empty_text=empty,
        query=query,
        notices=notices,
        history=[
            HistoryView(
                audit_id=audit.id,
                text=f"{await merge_service.display_name(ctx, tenant, audit.absorbed_before)} · "
                f"{audit.at:%Y-%m-%d %H:%M} UTC",
            )
            for audit in await merge_service.recent_merges(ctx, tenant, card.id)
        ],
    )
    return ActionResult(render_candidates(view), notices)


async def _merge_start(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult:
    return await _merge_candidates_card(ctx, interaction, "", [])


async def _merge_search(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult:
    return await _merge_candidates_card(ctx, interaction, data.query or "", [])


async def _merge_confirm(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult | tuple[Interaction, list[str]]:
    if not data.other_card_id:
        raise InvalidAction("pick the card to merge")
    tenant = interaction.tenant_id
    open_card = await _open_card(ctx, interaction)
    other = await merge_service.live_card(ctx, tenant, data.other_card_id)
    if other is None or other.id == open_card.id:
        notice = "That card no longer exists or was already merged; pick another one."
        return await _merge_candidates_card(ctx, interaction, "", [notice])
    open_facts = await merge_service.card_facts(ctx, tenant, open_card)
    other_facts = await merge_service.card_facts(ctx, tenant, other)
    choice = choose_survivor(open_facts, other_facts)
    survivor, absorbed = (
        (open_facts, other_facts)
        if choice.survivor_id == open_card.id
        else (other_facts, open_facts)
    )
    view = ConfirmView(
        interaction_id=interaction.id,
        rev=interaction.revision,
        other_card_id=other.id,
        merge_id=merge_service.new_merge_id(),
        survivor_text=(
            "The open card is kept and the other card is merged into it."
            if choice.survivor_id == open_card.id
            else "The other card is kept, because it is tied to a CRM contact and the "
            "open card is not; the open card is merged into it."
        ),
        survivor_name=survivor.name or merge_service.label(survivor.card),
        survivor_lines=merge_service.describe(survivor.card),
        absorbed_name=absorbed.name or merge_service.label(absorbed.card),
        absorbed_lines=merge_service.describe(absorbed.card),
        reasons=[r.text for r in reasons(open_facts, other_facts)],
        undo_days=ctx.merge_undo_window.days,
    )
    return ActionResult(render_confirm(view), [])


async def _reread(ctx: Context, interaction: Interaction) -> Interaction:
    key = keys.interaction(interaction.tenant_id, interaction.id)
    return await read_model(ctx.store, key, Interaction) or interaction


async def _merge_do(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult | tuple[Interaction, list[str]]:
    if not data.other_card_id or not data.merge_id:
        raise InvalidAction("this action needs the card to merge and the merge id")
    try:
        audit = await merge_service.merge(
            ctx,
            interaction.tenant_id,
            interaction.card_id,
            data.other_card_id,
            actor,
            data.merge_id,
        )
    except merge_service.MergeRefused as refused:
        # A retry whose merge already moved this interaction lands here too; the audit
        # entry says whether that was this very merge.
        done = await merge_service.merge_of(ctx, interaction.tenant_id, data.merge_id)
        if done is None:
            return interaction, [str(refused)]
        audit = done
    interaction = await _reread(ctx, interaction)
    if audit.state is not MergeState.done:
        return interaction, ["That merge was undone since; the cards are separate."]
    absorbed = await merge_service.display_name(ctx, interaction.tenant_id, audit.absorbed_before)
    text = f"Merged {absorbed} into this card."
    card = await card_for(ctx, interaction, [])
    return ActionResult(
        with_undo_banner(card, text, interaction.id, interaction.revision, audit.id), [text]
    )


async def _merge_undo(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    if not data.audit_id:
        raise InvalidAction("this action needs the merge to undo")
    try:
        await merge_service.undo(ctx, interaction.tenant_id, data.audit_id, actor)
    except merge_service.MergeRefused as refused:
        return await _reread(ctx, interaction), [str(refused)]
    return await _reread(ctx, interaction), [
        "Merge undone: the two cards are separate again, as they were."
    ]


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


async def _workflows(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult:
    """The tenant's search and create workflows, ready to run on this interaction."""
    card = await _open_card(ctx, interaction)
    defined = await workflow_service.list_all(ctx, interaction.tenant_id)
    view = WorkflowsView(
        interaction_id=interaction.id,
        rev=interaction.revision,
        contact_name=contact_name(card, interaction),
        workflows=[v for v in map(_workflow_view, defined) if v is not None],
    )
    return ActionResult(render_workflows(view), [])


async def _run_workflow(
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
        return await _reread(ctx, interaction), [f"{title}: {error}"]
    found = result["records"]
    if creates:
        notice = f"{title}: created {found[0]['title']}, pinned and linked to this interaction."
    else:
        notice = f"{title}: {len(found)} record(s) found, under Related interactions."
    return await _reread(ctx, interaction), [notice]


HANDLERS: dict[str, Handler] = {
    "workflows": _workflows,
    "runWorkflow": _run_workflow,
    "link": _link,
    "unlink": _unlink,
    "refresh": _refresh,
    "expand": _expand,
    "collapse": _collapse,
    "showMore": _show_more,
    "createRecord": _create_record,
    "refreshCard": _show,
    "merge": _merge_start,
    "mergeSearch": _merge_search,
    "mergeConfirm": _merge_confirm,
    "mergeDo": _merge_do,
    "mergeUndo": _merge_undo,
}


async def execute(
    ctx: Context, tenant_id: str, actor: str, verb: str, raw_data: dict[str, Any]
) -> ActionResult:
    """Run one card action and return the card to show in its place."""
    ctx = dataclasses.replace(ctx, store=ReadOnce(ctx.store))
    try:
        data = ActionData.model_validate(raw_data)
    except ValidationError as error:
        raise InvalidAction(
            f"the card action's data is not valid: {error.errors()[0]['msg']}"
        ) from None
    interaction = await read_model(
        ctx.store, keys.interaction(tenant_id, data.interaction_id), Interaction
    )
    if interaction is None:
        raise InvalidAction(f"interaction {data.interaction_id!r} does not exist")
    handler = HANDLERS.get(verb)
    if handler is None:
        notices = [f"This card does not know the action {verb!r}; nothing was changed."]
        return ActionResult(await card_for(ctx, interaction, notices), notices)
    outcome = await handler(ctx, interaction, data, actor)
    if isinstance(outcome, ActionResult):
        return outcome  # a verb that answers with a card of its own (merge)
    interaction, notices = outcome
    return ActionResult(await card_for(ctx, interaction, notices), notices)
