"""Caller lookup for the IVR (routing and screen pop).

The IVR gives one identifier (phone, email, account number or case number); every
connected CRM is asked at once, within the CRM deadline. An identified caller gets a
name to greet, record references and a routing decision (queue, up to five skills); the
lookup is kept for an hour under a ``lookupId`` the platform passes back with the
interaction's first event, so the agent's card opens on that record (screen pop).

Account and case numbers are only asked of CRMs that can answer them: a client offering
``find_by_number(record_type, number)``, or the demo CRM, whose record ids are the
numbers (``A-1001``, ``CS-4001``). Other CRMs are skipped and the answer says so.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from bot.domain import identifiers
from bot.domain.api_model import ApiModel
from bot.domain.interactions import Interaction
from bot.domain.links import pin_record
from bot.domain.records import CrmRecord, RecordRef
from bot.domain.routing import RoutingConfig, RoutingDecision, route
from bot.errors import InvalidInput
from bot.i18n import ENGLISH, AgentLocale, localize, t
from bot.observability import telemetry
from bot.services import acting_agent, audit, keys, tenant_settings
from bot.services.audit import Actor
from bot.services.context import Context
from bot.services.crm import AgentNotSignedIn, CrmClient, RecordNotFound, SearchCriteria
from bot.services.crm_fan_out import fan_out
from bot.services.store import create_model, read_model

log = logging.getLogger(__name__)

LOOKUP_TTL = timedelta(hours=1)
"""Interaction.details key holding the screen pop's "queue · skills · tier" line."""
ACTOR = "ivr-lookup"
_GREETED_TYPES = ("contact", "lead", "account")


class CallerKey(StrEnum):
    """What an IVR caller may key in to be looked up; phones and e-mails are read as
    :class:`bot.domain.identifiers.IdentifierKind` identifiers, numbers as record ids."""

    phone = "phone"
    email = "email"
    account_number = "accountNumber"
    case_number = "caseNumber"


_NUMBER_TYPES = {CallerKey.account_number: "account", CallerKey.case_number: "case"}
_CANNOT_LOOK_UP = {
    CallerKey.account_number: t("{crm} cannot look up account numbers"),
    CallerKey.case_number: t("{crm} cannot look up case numbers"),
}
_ASK_ORDER = (
    CallerKey.account_number,
    CallerKey.email,
    CallerKey.case_number,
    CallerKey.phone,
)


class _Camel(ApiModel):
    model_config = ConfigDict(extra="forbid")


class LookupAgent(_Camel):
    aad_object_id: str = Field(min_length=1, max_length=100)


class LookupRequest(_Camel):
    """Exactly one identifier, as the caller gave it; and, for CRMs connected with each
    agent's own access, who the call is for: the agent, or the platform's interaction."""

    phone: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=320)
    account_number: str | None = Field(None, max_length=100)
    case_number: str | None = Field(None, max_length=100)
    agent: LookupAgent | None = Field(
        None, description="the agent the call goes to: delegated CRMs are asked as them"
    )
    interaction_id: str | None = Field(
        None,
        max_length=200,
        description="the platform's interaction the call is: delegated CRMs are asked as "
        "the agent it is assigned to",
    )

    @model_validator(mode="after")
    def _one(self) -> LookupRequest:
        given = [kind.value for kind in CallerKey if getattr(self, _attr(kind))]
        if len(given) != 1:
            raise ValueError(
                t(
                    "give exactly one of phone, email, accountNumber, caseNumber (got {given})",
                    given=", ".join(given),
                )
                if given
                else t("give exactly one of phone, email, accountNumber, caseNumber")
            )
        return self

    @property
    def kind(self) -> CallerKey:
        for kind in CallerKey:
            if getattr(self, _attr(kind)):
                return kind
        raise AssertionError("validated to hold one identifier")

    @property
    def value(self) -> str:
        return str(getattr(self, _attr(self.kind))).strip()


def _attr(kind: CallerKey) -> str:
    return {"accountNumber": "account_number", "caseNumber": "case_number"}.get(kind, kind)


class RecordRefOut(_Camel):
    key: str
    type: str
    title: str


class StoredLookup(_Camel):
    id: str
    tenant_id: str
    created_at: datetime
    expires_at: datetime
    kind: CallerKey
    records: list[CrmRecord] = Field(default_factory=list)
    primary: str | None = Field(None, description="key of the record the card opens on")
    routing: RoutingDecision


class LookupAnswer(_Camel):
    identified: bool
    name: str | None = None
    records: list[RecordRefOut] = Field(default_factory=list)
    routing: RoutingDecision
    lookup_id: str | None = None
    ask: list[CallerKey] = Field(
        default_factory=list, description="not identified: identifiers to ask the caller for"
    )
    skipped: dict[str, str] = Field(
        default_factory=dict,
        description="CRM settings id -> why it was not asked, in the reader's language",
    )
    problems: dict[str, str] = Field(
        default_factory=dict,
        description="CRM settings id -> why it did not answer, in the reader's language",
    )

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def can_find_numbers(client: CrmClient) -> bool:
    """Whether ``client`` can look up account / case numbers."""
    if callable(getattr(client, "find_by_number", None)):
        return True
    inner: Any = client
    for _ in range(3):  # wrappers (dynamic data mappings) keep the adapter as ``inner``
        if type(inner).__name__ == "DemoCrm":
            return True
        inner = getattr(inner, "inner", None)
        if inner is None:
            break
    return False


async def by_number(client: CrmClient, record_type: str, number: str) -> list[CrmRecord]:
    finder = getattr(client, "find_by_number", None)
    if callable(finder):
        found: list[CrmRecord] = await finder(record_type, number)
        return found
    try:
        record = await client.get(RecordRef(crm=client.settings_id, type=record_type, id=number))
    except RecordNotFound:
        return []
    if record_type == "account":
        return [record]
    # a case: its contact and account too, to greet the caller and route on them
    people = [r for r in await client.related(record.ref) if r.ref.type in _GREETED_TYPES]
    return [*people, record]


async def get_routing(ctx: Context, tenant_id: str) -> RoutingConfig:
    stored = await read_model(ctx.store, keys.routing(tenant_id), RoutingConfig)
    return stored or RoutingConfig()


async def put_routing(ctx: Context, tenant_id: str, config: RoutingConfig, actor: Actor) -> None:
    await audit.write_audited(
        ctx.store,
        tenant_id,
        keys.routing(tenant_id),
        RoutingConfig,
        config,
        actor,
        "routing.put",
        at=ctx.clock(),
        target=None,
    )


def _primary(records: list[CrmRecord]) -> CrmRecord | None:
    for record_type in _GREETED_TYPES:
        for record in records:
            if record.ref.type == record_type:
                return record
    return records[0] if records else None


class AgentNeeded(InvalidInput):
    """Every CRM that could answer is connected with each agent's own access, and the
    lookup names no agent to act as."""


async def _agent_of(ctx: Context, tenant_id: str, request: LookupRequest) -> str | None:
    if request.agent is not None:
        return request.agent.aad_object_id
    if request.interaction_id:
        key = keys.interaction(tenant_id, request.interaction_id)
        interaction = await read_model(ctx.store, key, Interaction)
        if interaction is not None and interaction.agent.aad_object_id:
            return interaction.agent.aad_object_id
    return None


async def lookup(
    ctx: Context, tenant_id: str, request: LookupRequest, reader: AgentLocale = ENGLISH
) -> LookupAnswer:
    """Find the caller in every connected CRM at once (raises InvalidIdentifier, and
    AgentNeeded when only CRMs with delegated access could answer and no agent is named).

    CRMs connected with delegated access are asked as the request's agent, or the agent of
    its interaction; without one they are skipped, saying why. Why a CRM was skipped or
    did not answer is told in the ``reader``'s language."""
    kind, value = request.kind, request.value
    agent = await _agent_of(ctx, tenant_id, request)
    if agent is not None:
        acting_agent.act_as(tenant_id, agent)
    clients = await ctx.crms.clients(tenant_id)
    skipped: dict[str, str] = {}
    if kind is CallerKey.phone:
        region = await tenant_settings.region_of(ctx, tenant_id)
        criteria = SearchCriteria(phones=[identifiers.phone(value, region).value], region=region)
        asked = clients
    elif kind is CallerKey.email:
        criteria = SearchCriteria(emails=identifiers.search_forms(identifiers.email(value)))
        asked = clients
    else:
        criteria = None
        asked = [c for c in clients if can_find_numbers(c)]
        for client in clients:
            if client not in asked:
                skipped[client.settings_id] = _CANNOT_LOOK_UP[kind].fill(crm=client.display_name)

    need_agent: dict[str, str] = {}

    async def call(client: CrmClient) -> list[CrmRecord]:
        try:
            if criteria is not None:
                return await client.search(criteria)
            return await by_number(client, _NUMBER_TYPES[kind], value)
        except AgentNotSignedIn:
            if agent is not None:
                raise
            need_agent[client.settings_id] = t(
                "{crm} is connected with each agent's own access: name the agent "
                "(agent.aadObjectId) or the interaction (interactionId) the call is for",
                crm=client.display_name,
            )
            return []

    found = await fan_out(asked, call, ctx.crm_deadline)
    if need_agent and len(need_agent) == len(asked):
        raise AgentNeeded(
            t(
                "delegated CRM access needs an agent: name the agent (agent.aadObjectId) or the "
                "interaction (interactionId) this lookup is for"
            ),
            [
                {"loc": ["agent"], "msg": reason, "type": "delegated_access"}
                for reason in need_agent.values()
            ],
        )
    skipped.update(need_agent)
    records = list({record.ref.key: record for record in found.records}.values())
    config = await get_routing(ctx, tenant_id)
    decision = route(config, records)
    primary = _primary(records)
    telemetry.lookup_done(identified=primary is not None)
    log.info(
        "caller lookup",
        extra={"event": "lookup", "identified": primary is not None, "records": len(records)},
    )
    answer = LookupAnswer(
        identified=primary is not None,
        name=primary.title if primary is not None else None,
        records=[RecordRefOut(key=r.ref.key, type=r.ref.type, title=r.title) for r in records],
        routing=decision,
        skipped={crm: localize(why, reader) for crm, why in skipped.items()},
        problems={crm: localize(why, reader) for crm, why in found.problems.items()},
    )
    if primary is None:
        numbers_possible = any(can_find_numbers(c) for c in clients)
        answer.ask = [
            k for k in _ASK_ORDER if k is not kind and (k not in _NUMBER_TYPES or numbers_possible)
        ]
        return answer
    now = ctx.clock()
    stored = StoredLookup(
        id=secrets.token_urlsafe(16),
        tenant_id=tenant_id,
        created_at=now,
        expires_at=now + LOOKUP_TTL,
        kind=kind,
        records=records,
        primary=primary.ref.key,
        routing=decision,
    )
    await create_model(ctx.store, keys.caller_lookup(tenant_id, stored.id), stored)
    answer.lookup_id = stored.id
    return answer


async def find_lookup(ctx: Context, tenant_id: str, lookup_id: str) -> StoredLookup | None:
    """The tenant's lookup, unless unknown or expired."""
    stored = await read_model(ctx.store, keys.caller_lookup(tenant_id, lookup_id), StoredLookup)
    if stored is None or stored.tenant_id != tenant_id or stored.expires_at <= ctx.clock():
        return None
    return stored


async def screen_pop(
    ctx: Context, tenant_id: str, lookup_id: str, interaction: Interaction, now: datetime
) -> Interaction:
    """``interaction`` with the looked-up record pinned (so linked) and the routing line.

    An unknown or expired ``lookup_id`` leaves it as it is: the card still opens, found
    by the customer's identifiers as usual."""
    stored = await find_lookup(ctx, tenant_id, lookup_id)
    if stored is None:
        log.info(
            "lookup %s of tenant %s is unknown or expired; no screen pop", lookup_id, tenant_id
        )
        return interaction
    by_key = {record.ref.key: record for record in stored.records}
    record = by_key.get(stored.primary or "")
    if record is not None:
        interaction = pin_record(interaction, record, actor=ACTOR, now=now)
    return interaction.model_copy(update={"routing": stored.routing.line()})
