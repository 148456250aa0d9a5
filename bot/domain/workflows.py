"""Workflows: admin-defined CRM operations a contact-center script runs by workflow ID.

Four types (PRODUCT.md section 3): **Search** by configured criteria, **Create**
(standard record types with their standard fields, or custom: any record type and
field), **Update** (Salesforce and Dynamics only) and **Timeline** (a completed activity
on a record). Definitions are validated when saved; the inputs a script sends are
checked against the definition when it runs. Everything here is pure.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, model_validator

from bot.domain import identifiers
from bot.domain.api_model import ApiModel, Model
from bot.domain.errors import DomainError, InvalidIdentifier
from bot.domain.identifiers import DEFAULT_REGION
from bot.domain.records import TAGGED_KINDS, NewRecord, RecordRef
from bot.errors import field_errors
from bot.i18n import t

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.]{0,99}$"
"""Record types and field names: API names such as ``case``, ``Custom__c``, ``new_x``."""

UPDATE_KINDS = frozenset({"salesforce", "dynamics", "demo", "rest"})
"""CRM kinds whose records workflows may update (the demo CRM stands in for both; a
generic REST CRM when its configuration has update / timeline calls)."""
TIMELINE_KINDS = UPDATE_KINDS

STANDARD_FIELDS: dict[str, frozenset[str]] = {
    "account": frozenset({"name", "phone", "email", "website", "industry", "city", "description"}),
    "contact": frozenset(
        {"name", "first_name", "last_name", "email", "phone", "title", "city", "language"}
    ),
    "case": frozenset({"subject", "description", "status", "priority", "origin"}),
    "lead": frozenset({"name", "first_name", "last_name", "company", "email", "phone", "status"}),
}


class WorkflowInvalid(DomainError):
    """The workflow definition cannot be saved (or no longer fits its CRM)."""


class InvalidInputs(DomainError):
    """The inputs of an execute request do not fit the workflow."""


class UpdateNotSupported(DomainError):
    """Update and Timeline workflows only run against Salesforce and Dynamics."""


class _Model(ApiModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkflowType(StrEnum):
    search = "search"
    create = "create"
    update = "update"
    timeline = "timeline"


class SearchBy(StrEnum):
    phone = "phone"
    email = "email"
    name = "name"
    custom = "custom"


class SearchCriterion(_Model):
    by: SearchBy
    input: str = Field(min_length=1, max_length=100, description="input holding the value")
    field: str | None = Field(
        None, pattern=NAME_PATTERN, description="CRM field compared (custom criteria only)"
    )

    @model_validator(mode="after")
    def _field_for_custom(self) -> SearchCriterion:
        if (self.by is SearchBy.custom) != (self.field is not None):
            raise ValueError(t("a custom criterion names its CRM field; the others do not"))
        return self


class _Workflow(_Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field("", max_length=200)
    settings_id: str | None = Field(
        None, max_length=64, description="CRM configuration it runs on; default the first one"
    )


class SearchWorkflow(_Workflow):
    type: Literal["search"] = "search"
    criteria: list[SearchCriterion] = Field(min_length=1, max_length=10)
    record_types: list[Annotated[str, Field(pattern=NAME_PATTERN)]] | None = None
    limit: int = Field(20, ge=1, le=100)

    @model_validator(mode="after")
    def _queryable(self) -> SearchWorkflow:
        if all(c.by is SearchBy.custom for c in self.criteria):
            raise ValueError(
                t("custom criteria narrow a search by phone, email or name: add one of those")
            )
        return self


class CreateWorkflow(_Workflow):
    type: Literal["create"] = "create"
    variant: Literal["standard", "custom"] = "standard"
    record_type: str = Field(pattern=NAME_PATTERN)
    fields: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        min_length=1, max_length=100, description="fields the script may set"
    )
    required: list[str] = Field(default_factory=list)
    defaults: dict[str, str] = Field(default_factory=dict)
    relate_to_contact: bool = True
    pin: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> CreateWorkflow:
        allowed = set(self.fields)
        if self.variant == "standard":
            standard = STANDARD_FIELDS.get(self.record_type)
            if standard is None:
                raise ValueError(
                    t(
                        "standard create workflows make {types} records; use a custom create "
                        "workflow for {record_type}",
                        types=sorted(STANDARD_FIELDS),
                        record_type=repr(self.record_type),
                    )
                )
            extra = sorted(allowed - standard)
            if extra:
                raise ValueError(
                    t(
                        "{fields} not standard {record_type} fields; use a custom create workflow",
                        fields=extra,
                        record_type=self.record_type,
                    )
                )
        unknown = sorted((set(self.required) | set(self.defaults)) - allowed)
        if unknown:
            raise ValueError(
                t("required/default fields not among the fields: {fields}", fields=unknown)
            )
        return self


class UpdateWorkflow(_Workflow):
    type: Literal["update"] = "update"
    record_type: str = Field(pattern=NAME_PATTERN)
    fields: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(min_length=1, max_length=100)


class TimelineWorkflow(_Workflow):
    type: Literal["timeline"] = "timeline"
    activity_type: Literal["task", "phonecall"] = "task"
    subject: str = Field("Interaction", min_length=1, max_length=200)


Workflow = Annotated[
    SearchWorkflow | CreateWorkflow | UpdateWorkflow | TimelineWorkflow,
    Field(discriminator="type"),
]
WORKFLOW = TypeAdapter[Workflow](Workflow, config=ConfigDict(defer_build=True))
"""Built when a workflow is first parsed, like the models (:mod:`bot.domain.api_model`)."""


class StoredWorkflow(Model):
    """A workflow as the store keeps it: the admin's definition, parsed when read."""

    definition: dict[str, Any]


CARD_WORKFLOWS = (SearchWorkflow, CreateWorkflow)
"""The kinds an agent runs from the card's Workflows button; update and timeline
workflows run on a record or at write-back, never from there."""


def runs_from_card(workflow: Workflow) -> bool:
    return isinstance(workflow, CARD_WORKFLOWS)


def parse_workflow(raw: Any) -> Workflow:
    """A workflow from admin JSON; raises WorkflowInvalid with the first problem."""
    from pydantic import ValidationError

    try:
        return WORKFLOW.validate_python(raw)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        cause = first.get("ctx", {}).get("error")
        if not isinstance(cause, ValueError) or not cause.args:  # a field's rule: named by type
            raise WorkflowInvalid(t("the workflow is not valid"), field_errors(error)) from None
        where = ".".join(str(p) for p in first["loc"])
        problem = cause.args[0]  # the rule's own message, translatable
        raise WorkflowInvalid(
            t("{field}: {problem}", field=where, problem=problem) if where else problem
        ) from None


def check_kind(workflow: Workflow, kind: str | None) -> None:
    """Refuse Update/Timeline workflows on CRMs that have no such operation."""
    if isinstance(workflow, UpdateWorkflow | TimelineWorkflow) and kind not in UPDATE_KINDS:
        raise UpdateNotSupported(
            t(
                "{type} workflows run on Salesforce and Dynamics only (or a generic REST CRM "
                "with an update / timeline call); CRM configuration {settings} is {kind}",
                type=workflow.type,
                settings=workflow.settings_id or "(default)",
                kind=kind or "unknown",
            )
        )


class ExecuteRequest(_Model):
    """What a contact-center script posts to run a workflow."""

    interaction_id: str | None = Field(None, min_length=1, max_length=200)
    request_id: str | None = Field(
        None, min_length=1, max_length=200, description="the same id on a retry: runs once"
    )
    inputs: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)
    record_id: str | None = Field(None, min_length=1, max_length=200)
    record_key: str | None = Field(None, min_length=3, max_length=400)

    def fingerprint(self, workflow_id: str) -> str:
        body = self.model_dump(mode="json", exclude={"request_id"})
        raw = json.dumps([workflow_id, body], sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()


class SearchPlan(Model):
    phones: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    name: str | None = None
    custom: dict[str, str] = Field(default_factory=dict)


def search_plan(
    workflow: SearchWorkflow, request: ExecuteRequest, default_region: str = DEFAULT_REGION
) -> SearchPlan:
    plan = SearchPlan()
    for criterion in workflow.criteria:
        value = request.inputs.get(criterion.input, "").strip()
        if not value:
            continue
        try:
            if criterion.by is SearchBy.phone:
                plan.phones.append(identifiers.phone(value, default_region).value)
            elif criterion.by is SearchBy.email:
                plan.emails.extend(identifiers.search_forms(identifiers.email(value)))
            elif criterion.by is SearchBy.name:
                plan.name = value
            else:
                assert criterion.field is not None
                plan.custom[criterion.field] = value
        except InvalidIdentifier as error:
            raise InvalidInputs(
                t("input {input}: {error}", input=repr(criterion.input), error=error.message)
            ) from None
    if not (plan.phones or plan.emails or plan.name):
        names = sorted({c.input for c in workflow.criteria if c.by is not SearchBy.custom})
        raise InvalidInputs(t("give at least one of the inputs {inputs}", inputs=names))
    return plan


def create_record(workflow: CreateWorkflow, request: ExecuteRequest, kind: str | None) -> NewRecord:
    """The record a create workflow makes from the agent's inputs and its defaults.

    In a CRM with tags (:data:`~bot.domain.records.TAGGED_KINDS`) a field named ``tags`` is
    the record's tags, typed as a person writes a list ("billing, refunds"); elsewhere it
    is a field like any other."""
    unknown = sorted(set(request.fields) - set(workflow.fields))
    if unknown:
        raise InvalidInputs(
            t(
                "workflow {workflow} does not set {fields}",
                workflow=repr(workflow.id),
                fields=unknown,
            )
        )
    fields = {**workflow.defaults, **request.fields}
    missing = [name for name in workflow.required if not fields.get(name, "").strip()]
    if missing:
        raise InvalidInputs(
            t("workflow {workflow} needs {fields}", workflow=repr(workflow.id), fields=missing)
        )
    if not fields:
        raise InvalidInputs(t("give the fields of the new record"))
    if kind in TAGGED_KINDS and "tags" in fields:
        typed = fields.pop("tags").split(",")
        return NewRecord(fields=fields, tags=tuple(tag.strip() for tag in typed if tag.strip()))
    return NewRecord(fields=fields)


def update_target(
    workflow: UpdateWorkflow, request: ExecuteRequest, settings_id: str
) -> tuple[RecordRef, dict[str, str]]:
    if not request.record_id:
        raise InvalidInputs(t("give the recordId of the record to update"))
    unknown = sorted(set(request.fields) - set(workflow.fields))
    if unknown:
        raise InvalidInputs(
            t(
                "workflow {id} does not change {fields}",
                id=repr(workflow.id),
                fields=", ".join(unknown),
            )
        )
    if not request.fields:
        raise InvalidInputs(t("give the fields to change"))
    ref = RecordRef(crm=settings_id, type=workflow.record_type, id=request.record_id)
    return ref, dict(request.fields)


def parse_record_key(key: str, settings_id: str) -> RecordRef:
    try:
        ref = RecordRef.parse(key)
    except ValueError:
        raise InvalidInputs(t("recordKey {key} is not 'settings:type:id'", key=repr(key))) from None
    if ref.crm != settings_id:
        raise InvalidInputs(
            t("recordKey {key} is not a record of {crm}", key=repr(key), crm=repr(settings_id))
        )
    return ref
