"""Running workflows for a contact-center script, and keeping their definitions.

A run resolves the workflow's CRM among the tenant's connected ones, calls it, puts the
normalised result on the agent's card (search results under Related interactions,
created records pinned under Current interaction) and returns it. With a request id a
retried call answers the first run's result instead of running again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from bot.domain.api_model import Model
from bot.domain.errors import DomainError
from bot.domain.interactions import Direction, Interaction
from bot.domain.links import pin_record
from bot.domain.records import CrmRecord, RecordRef
from bot.domain.workflows import (
    CreateWorkflow,
    ExecuteRequest,
    InvalidInputs,
    SearchWorkflow,
    StoredWorkflow,
    TimelineWorkflow,
    UpdateNotSupported,
    UpdateWorkflow,
    Workflow,
    WorkflowInvalid,
    check_kind,
    create_record,
    parse_record_key,
    parse_workflow,
    search_plan,
    update_target,
)
from bot.errors import Conflict, NotFound, UpstreamError
from bot.i18n import t
from bot.services import audit, keys, name_index, outbox, tenant_settings
from bot.services.audit import Actor
from bot.services.context import Context
from bot.services.crm import CrmClient, CrmError, NotSupported, SearchCriteria, adapter_of
from bot.services.rendering import publish
from bot.services.store import (
    AlreadyExists,
    PreconditionFailed,
    create_model,
    read_model,
    update,
)

log = logging.getLogger(__name__)

STALE_RUN = timedelta(minutes=2)
"""A run still pending after this is taken to have died with its process."""

_KIND_BY_CLASS = {
    "DemoCrm": "demo",
    "SalesforceClient": "salesforce",
    "DynamicsClient": "dynamics",
    "ZendeskCrm": "zendesk",
    "ServiceNowCrm": "servicenow",
    "KustomerCrm": "kustomer",
    "FreshdeskCrm": "freshdesk",
    "OracleCrm": "oracle",
    "RestCrm": "rest",
}


class UnknownWorkflow(NotFound, DomainError):
    """No workflow with that id in the tenant's configuration."""


class UnknownInteraction(NotFound, DomainError):
    """The request names an interaction the tenant does not have."""


class NoCrm(DomainError):
    """The workflow's CRM configuration is not connected."""


class RunInProgress(Conflict, DomainError):
    """A run with the same request id has not finished yet."""


class RequestIdReused(Conflict, DomainError):
    """The request id was used before for a different request."""


class WorkflowFailed(UpstreamError, DomainError):
    """The CRM refused or failed the workflow's call."""


def crm_kind(client: CrmClient) -> str | None:
    """The vendor kind of a client ("salesforce", "zendesk", ..., "demo"), through the
    wrappers the directory puts around it (data mappings)."""
    adapter = adapter_of(client)
    kind = getattr(adapter, "kind", None)
    if isinstance(kind, str):
        return kind.lower()
    for cls in type(adapter).__mro__:
        if cls.__name__ in _KIND_BY_CLASS:
            return _KIND_BY_CLASS[cls.__name__]
    return None


class WorkflowRun(Model):
    fingerprint: str
    started_at: datetime
    done: bool = False
    result: dict[str, Any] | None = None


class RecordOut(Model):
    key: str
    crm: str
    type: str
    id: str
    title: str
    subtitle: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    url: str | None = None

    @classmethod
    def of(cls, record: CrmRecord) -> RecordOut:
        return cls(
            key=record.ref.key,
            crm=record.ref.crm,
            type=record.ref.type,
            id=record.ref.id,
            title=record.title,
            subtitle=record.subtitle,
            fields=record.fields,
            url=record.url,
        )


# --- definitions ------------------------------------------------------------------------


async def client_for(ctx: Context, tenant_id: str, settings_id: str | None) -> CrmClient:
    clients = await ctx.crms.clients(tenant_id)
    if settings_id is None:
        if not clients:
            raise NoCrm(t("no CRM is connected for this tenant"))
        return clients[0]
    for client in clients:
        if client.settings_id == settings_id:
            return client
    raise NoCrm(
        t(
            "CRM configuration {settings} is not connected for this tenant",
            settings=repr(settings_id),
        )
    )


async def save(ctx: Context, tenant_id: str, raw: dict[str, Any], actor: Actor) -> Workflow:
    """Validate and store a definition (audited); raises WorkflowInvalid / UpdateNotSupported."""
    workflow = parse_workflow(raw)
    try:
        client = await client_for(ctx, tenant_id, workflow.settings_id)
    except NoCrm as error:
        raise WorkflowInvalid(error.message) from None
    check_kind(workflow, crm_kind(client))
    stored = StoredWorkflow(definition=workflow.model_dump(mode="json", by_alias=True))
    await _write(ctx, tenant_id, workflow.id, stored, actor)
    return workflow


async def _write(
    ctx: Context, tenant_id: str, workflow_id: str, stored: StoredWorkflow | None, actor: Actor
) -> StoredWorkflow | None:
    kind = "workflow.put" if stored is not None else "workflow.delete"
    key = keys.workflow(tenant_id, workflow_id)
    before = await audit.write_audited(
        ctx.store,
        tenant_id,
        key,
        StoredWorkflow,
        stored,
        actor,
        kind,
        at=ctx.clock(),
        target=workflow_id,
    )
    ctx.workflows_defined.forget(tenant_id)
    return before


async def get(ctx: Context, tenant_id: str, workflow_id: str) -> Workflow | None:
    stored = await read_model(ctx.store, keys.workflow(tenant_id, workflow_id), StoredWorkflow)
    return None if stored is None else parse_workflow(stored.definition)


async def list_all(ctx: Context, tenant_id: str) -> list[Workflow]:
    found: list[Workflow] = []
    async for key in ctx.store.keys(keys.workflows_prefix(tenant_id)):
        stored = await read_model(ctx.store, key, StoredWorkflow)
        if stored is not None:
            found.append(parse_workflow(stored.definition))
    return sorted(found, key=lambda w: w.id)


async def delete(ctx: Context, tenant_id: str, workflow_id: str, actor: Actor) -> bool:
    return await _write(ctx, tenant_id, workflow_id, None, actor) is not None


def dump(workflow: Workflow) -> dict[str, Any]:
    return workflow.model_dump(mode="json", by_alias=True)


# --- running ----------------------------------------------------------------------------


async def execute(
    ctx: Context, tenant_id: str, workflow_id: str, request: ExecuteRequest
) -> dict[str, Any]:
    """Run the workflow once per request id; the normalised result."""
    workflow = await get(ctx, tenant_id, workflow_id)
    if workflow is None:
        raise UnknownWorkflow(t("no workflow {workflow}", workflow=repr(workflow_id)))
    if request.request_id is None:
        return await _run(ctx, tenant_id, workflow, request)
    key = keys.workflow_run(tenant_id, workflow_id, request.request_id)
    fingerprint = request.fingerprint(workflow_id)
    claim = WorkflowRun(fingerprint=fingerprint, started_at=ctx.clock())
    try:
        await create_model(ctx.store, key, claim)
    except AlreadyExists:
        replay = await _claim_existing(ctx, key, claim)
        if replay is not None:
            return {**replay, "replayed": True}
    try:
        result = await _run(ctx, tenant_id, workflow, request)
    except BaseException:
        await _release(ctx, key)
        raise
    await update(
        ctx.store,
        key,
        WorkflowRun,
        lambda run: run.model_copy(update={"done": True, "result": result}),
    )
    return result


async def _claim_existing(ctx: Context, key: str, claim: WorkflowRun) -> dict[str, Any] | None:
    """The earlier run's result, or None once this call took over a dead run."""
    document = await ctx.store.read(key)
    if document is None:
        await create_model(ctx.store, key, claim)  # released meanwhile: ours now
        return None
    run = WorkflowRun.model_validate_json(document.data)
    if run.fingerprint != claim.fingerprint:
        raise RequestIdReused(t("this requestId was already used for a different request"))
    if run.done and run.result is not None:
        return run.result
    if claim.started_at - run.started_at < STALE_RUN:
        raise RunInProgress(t("a run with this requestId is still in progress; retry shortly"))
    try:
        await ctx.store.replace(key, claim.model_dump_json().encode(), document.etag)
    except PreconditionFailed:
        raise RunInProgress(
            t("a run with this requestId is still in progress; retry shortly")
        ) from None
    return None


async def _release(ctx: Context, key: str) -> None:
    try:
        await ctx.store.delete(key)
    except Exception:
        log.exception("could not release workflow run %s", key)


async def _interaction(ctx: Context, tenant_id: str, request: ExecuteRequest) -> Interaction | None:
    if request.interaction_id is None:
        return None
    found = await read_model(
        ctx.store, keys.interaction(tenant_id, request.interaction_id), Interaction
    )
    if found is None:
        raise UnknownInteraction(
            t("interaction {interaction} does not exist", interaction=repr(request.interaction_id))
        )
    return found


async def _run(
    ctx: Context, tenant_id: str, workflow: Workflow, request: ExecuteRequest
) -> dict[str, Any]:
    interaction = await _interaction(ctx, tenant_id, request)
    client = await client_for(ctx, tenant_id, workflow.settings_id)
    check_kind(workflow, crm_kind(client))
    try:
        if isinstance(workflow, SearchWorkflow):
            region = await tenant_settings.region_of(ctx, tenant_id)
            records, change = await _search(client, workflow, request, region)
        elif isinstance(workflow, CreateWorkflow):
            records, change = await _create(ctx, client, workflow, request, interaction)
        elif isinstance(workflow, UpdateWorkflow):
            records, change = await _update(client, workflow, request)
        else:
            records, change = await _timeline(client, workflow, request, interaction)
    except NotSupported as error:
        raise UpdateNotSupported(str(error)) from None
    except DomainError:
        raise
    except Exception as error:  # CrmError and vendor surprises alike reach the script
        if not isinstance(error, CrmError):
            log.exception("workflow %s failed", workflow.id)
        raise WorkflowFailed(f"{client.display_name}: {error}") from None
    revision = None
    if interaction is not None:
        updated = await name_index.update_interaction(ctx.store, tenant_id, interaction.id, change)
        if updated.writeback_due:  # written back already: a record pinned now is written too
            await outbox.enqueue(ctx.store, ctx.crms, updated, ctx.clock())
        await publish(ctx, updated)
        revision = updated.revision
    return {
        "workflowId": workflow.id,
        "type": workflow.type,
        "requestId": request.request_id,
        "interactionId": request.interaction_id,
        "revision": revision,
        "status": "ok",
        "records": [RecordOut.of(r).model_dump(mode="json") for r in records],
    }


Change = Callable[[Interaction], Interaction]


def _with_records(interaction: Interaction, records: list[CrmRecord], **more: Any) -> Interaction:
    shown = interaction.shown.model_copy(
        update={"records": {**interaction.shown.records, **{r.ref.key: r for r in records}}, **more}
    )
    return interaction.bumped(shown=shown)


async def _search(
    client: CrmClient, workflow: SearchWorkflow, request: ExecuteRequest, region: str
) -> tuple[list[CrmRecord], Change]:
    plan = search_plan(workflow, request, region)
    found = await client.search(
        SearchCriteria(
            phones=plan.phones,
            emails=plan.emails,
            name=plan.name,
            record_types=workflow.record_types,
            region=region,
        )
    )
    found = [r for r in found if all(r.fields.get(f) == v for f, v in plan.custom.items())][
        : workflow.limit
    ]

    def change(current: Interaction) -> Interaction:
        keys_found = [r.ref.key for r in found]
        merged = list(dict.fromkeys([*keys_found, *current.shown.found]))
        if merged == current.shown.found and all(k in current.shown.records for k in keys_found):
            return current
        return _with_records(current, found, found=merged)

    return found, change


async def _create(
    ctx: Context,
    client: CrmClient,
    workflow: CreateWorkflow,
    request: ExecuteRequest,
    interaction: Interaction | None,
) -> tuple[list[CrmRecord], Change]:
    new = create_record(workflow, request, crm_kind(client))
    related: RecordRef | None = None
    if request.record_key:
        related = parse_record_key(request.record_key, client.settings_id)
    elif (
        workflow.relate_to_contact
        and interaction is not None
        and workflow.record_type
        not in (
            "account",
            "contact",
            "lead",
        )
    ):
        people = [interaction.shown.records[k].ref for k in interaction.shown.person]
        mine = [ref for ref in people if ref.crm == client.settings_id]
        related = next((r for r in mine if r.type == "contact"), mine[0] if mine else None)
    record = await client.create(workflow.record_type, new, related)
    actor = f"workflow:{workflow.id}"

    def change(current: Interaction) -> Interaction:
        if workflow.pin:
            return pin_record(current, record, actor=actor, now=ctx.clock())
        return _with_records(current, [record])

    return [record], change


async def _update(
    client: CrmClient, workflow: UpdateWorkflow, request: ExecuteRequest
) -> tuple[list[CrmRecord], Change]:
    ref, fields = update_target(workflow, request, client.settings_id)
    record = await client.update(ref, fields)

    def change(current: Interaction) -> Interaction:
        if record.ref.key not in current.shown.records:
            return current
        return _with_records(current, [record])

    return [record], change


async def _timeline(
    client: CrmClient,
    workflow: TimelineWorkflow,
    request: ExecuteRequest,
    interaction: Interaction | None,
) -> tuple[list[CrmRecord], Change]:
    if request.record_key:
        targets = [parse_record_key(request.record_key, client.settings_id)]
    elif interaction is not None:
        targets = [
            RecordRef.parse(k)
            for k in interaction.linked_keys()
            if RecordRef.parse(k).crm == client.settings_id
        ]
    else:
        targets = []
    if not targets:
        raise InvalidInputs(t("give the recordKey, or link a record to the interaction first"))
    subject = request.inputs.get("subject") or workflow.subject
    description = request.inputs.get("description", "")
    created = [
        await client.create_timeline_activity(
            ref,
            subject,
            description,
            activity_type=workflow.activity_type,
            outbound=interaction is not None and interaction.direction is Direction.outbound,
        )
        for ref in targets
    ]

    def change(current: Interaction) -> Interaction:
        related = dict(current.shown.related)
        for ref, activity in zip(targets, created, strict=True):
            if ref.key in related:
                related[ref.key] = list(dict.fromkeys([*related[ref.key], activity.ref.key]))
        return _with_records(current, created, related=related)

    return created, change
