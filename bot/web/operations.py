"""What every route of crmcard reads and answers: the table the OpenAPI document is built from.

One :class:`~bot.web.openapi.Operation` per method and path of the app's router (HEAD
follows GET); ``tests/web/test_openapi.py`` fails when a route has no entry here or an
entry no route. Bodies name the pydantic models the handlers validate with; answers name
the models the handlers dump, or, where a handler builds its answer from several parts,
a model below that describes it (the document-driven test checks each live answer
against it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from bot.adapters.crm.directory import ConnectionTest
from bot.domain.api_model import ApiModel, Model
from bot.domain.crm_config import CrmConfig
from bot.domain.interactions import LifecycleEvent
from bot.domain.memorialization import MemorializationMapping
from bot.domain.record_policies import RecordPolicy
from bot.domain.routing import RoutingConfig
from bot.domain.tenant_settings import TenantSettings
from bot.domain.tickets import Ticket
from bot.domain.workflows import ExecuteRequest, Workflow
from bot.services.caller_lookup import LookupAnswer, LookupRequest
from bot.services.crm_configs import PublicCrmConfig
from bot.services.data_subjects import ErasureReport, SubjectQuery
from bot.services.health import TenantHealth
from bot.services.interactions import InteractionEventIn
from bot.services.outbox import OutboxStatus
from bot.services.platform_keys import NewKey
from bot.services.ticketing.archive import TicketPage
from bot.services.workflows import RecordOut
from bot.web.admin_audit import AuditPage
from bot.web.admin_auth import Me
from bot.web.admin_crm import CrmConfigList, PreviewAnswer, PreviewRequest, SecretRotation
from bot.web.admin_keys import IssuedKey, KeyList, PublicKey
from bot.web.admin_outbox import Outbox, OutboxItemAnswer, Replay, Replayed
from bot.web.admin_tenant import TenantAnswer
from bot.web.openapi import Json, Media, Operation, Param
from bot.web.record_policies import TitlePreview
from bot.web.tickets import SyncRequest, Syncs

ADMIN = ("entra", "adminKey")
PLATFORM = ("apiKey",)
TAB = ("entra",)

HTML = Media(("text/html",))
SCRIPT = Media(("text/javascript",))
ASSET = Media(("text/javascript", "text/css"))
FILE = Media(("*/*",))
ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}


# -- answers that handlers assemble from several parts --------------------------------------


class Health(ApiModel):
    status: Literal["ok"]


class Readiness(ApiModel):
    status: Literal["ready", "unready"]
    store: str = Field(description="ok, or unavailable: <why>")
    crms: list[dict[str, Any]] = Field(description="each CRM connection built: its circuit")


class InteractionAccepted(ApiModel):
    interaction_id: str
    card_id: str | None
    state: LifecycleEvent | None
    revision: int
    writeback_due: bool


class WorkflowList(ApiModel):
    workflows: list[Workflow]


class WorkflowResult(ApiModel):
    workflow_id: str
    type: str
    request_id: str | None
    interaction_id: str | None
    revision: int | None
    status: Literal["ok"]
    records: list[RecordOut]
    replayed: bool | None = Field(None, description="an earlier run's result (same requestId)")


class Policies(ApiModel):
    policies: dict[str, RecordPolicy] = Field(description="queue -> policy; _default for all")


class TitlePreviewAnswer(ApiModel):
    title: str
    variables: list[str]
    values: dict[str, str]


class OpenIn(ApiModel):
    label: str
    url: str


class TicketView(Ticket):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str = Field("", exclude=True)
    open_in: OpenIn


class SyncStarted(ApiModel):
    started: list[str]
    full: bool


class TabAction(Model):
    verb: str = Field(description="a card verb: linkRecord, refreshCard, runWorkflow ...")
    data: dict[str, Any] = Field(description="the verb's data, interactionId and rev at least")


class _TabAnswer(ApiModel):
    mode: Literal["development", "sso"]
    tenant_id: str
    agent_id: str
    interaction_id: str | None
    revision: int | None
    card: dict[str, Any] | None = Field(description="the Adaptive Card; none: no interaction")


class TabCard(_TabAnswer):
    texts: dict[str, str] = Field(description="the page's words in the agent's language")


class TabActionAnswer(_TabAnswer):
    notices: list[Any] = Field(description="what the action adds to say (a toast)")


class SubjectExport(ApiModel):
    """Everything crmcard keeps about one person: whole documents, as they are stored."""

    tenant_id: str
    card_ids: list[str]
    interaction_ids: list[str]
    cards: list[dict[str, Any]]
    interactions: list[dict[str, Any]]
    writebacks: list[dict[str, Any]]
    audit_entries: list[dict[str, Any]]
    other: list[str] = Field(description="shared documents (indexes) that name them")
    tickets: list[Ticket]


# -- the table ------------------------------------------------------------------------------

TAGS = {
    "platform": "The contact-center platform: interaction events, caller lookup, workflows "
    "(X-Api-Key)",
    "admin": "The tenant admin API: who is signed in",
    "tenant": "The tenant's own settings",
    "crms": "CRM connections: credentials, field mappings, tests and previews",
    "memorialization": "What a write-back writes into each CRM",
    "workflows": "Search, create, update and timeline workflows",
    "queue policies": "Record creation per queue",
    "routing": "Routing rules of the IVR lookup",
    "keys": "Platform keys (X-Api-Key) the tenant's admins issue",
    "audit": "Every admin change and card action",
    "outbox": "Write-backs into the CRMs",
    "data subjects": "GDPR export and erasure",
    "tickets": "The ticket archive and its sync",
    "tab": "The Teams tab's API (Teams SSO)",
    "teams": "Bot Framework",
    "operations": "Probes and this document",
    "pages": "Pages and their files",
}

_CRM = "/api/admin/crms/{settings_id}"
_WORKFLOW = "/api/admin/workflows/{workflowId}"
_POLICY = "/api/admin/policies/{queue}"
_ISO = {"type": "string", "description": "ISO 8601 date or date-time"}

OPERATIONS: dict[tuple[str, str], Operation] = {
    # -- the contact-center platform --------------------------------------------------------
    ("POST", "/api/interactions"): Operation(
        "An interaction event (assigned, connected, ended ...) from the platform",
        "platform",
        {202: Json(InteractionAccepted)},
        PLATFORM,
        body=Json(InteractionEventIn),
        problems=(409,),
    ),
    ("POST", "/api/lookup"): Operation(
        "Look the caller up for the IVR: name, records, routing",
        "platform",
        {200: Json(LookupAnswer)},
        PLATFORM,
        body=Json(LookupRequest),
        problems=(502, 503),
    ),
    ("POST", "/api/workflows/{workflowId}/execute"): Operation(
        "Run a workflow from the platform's script",
        "platform",
        {200: Json(WorkflowResult)},
        PLATFORM,
        body=Json(ExecuteRequest),
        problems=(409, 429, 502, 503),
    ),
    ("GET", "/api/tickets"): Operation(
        "Search the tenant's archived tickets",
        "tickets",
        {200: Json(TicketPage)},
        (*PLATFORM, *TAB),
        query=(
            Param("q", "free text over subject and conversation"),
            Param("status", "solved, closed (repeatable or comma separated)"),
            Param("channel", "phone, email, chat ... (repeatable or comma separated)"),
            Param("agent", "agent e-mail (repeatable or comma separated)"),
            Param("crm", "one CRM's settings id"),
            Param("closedFrom", "closed at or after", _ISO),
            Param("closedTo", "closed before", _ISO),
            Param("email", "the requester's e-mail (a contact's past tickets)"),
            Param("phone", "the requester's phone"),
            Param("sort", "relevance or date", {"type": "string", "enum": ["relevance", "date"]}),
            Param("page", "1, 2 ...", {"type": "string", "pattern": "^[0-9]{1,6}$"}),
            Param("pageSize", "tickets per page", {"type": "string", "pattern": "^[0-9]{1,3}$"}),
        ),
        problems=(422,),
    ),
    ("GET", "/api/tickets/{crm_id}/{ticket_id}"): Operation(
        "One archived ticket with its conversation",
        "tickets",
        {200: Json(TicketView)},
        (*PLATFORM, *TAB),
    ),
    # -- Teams ------------------------------------------------------------------------------
    ("POST", "/api/messages"): Operation(
        "Bot Framework activities (Teams, the Agents Playground)",
        "teams",
        {200: Json(ANY_OBJECT), 201: None},
        ("botConnector",),
        body=Json(
            {
                "type": "object",
                "required": ["type", "serviceUrl", "conversation", "from"],
                "properties": {
                    "type": {"type": "string"},
                    "serviceUrl": {"type": "string"},
                    "conversation": {"type": "object"},
                    "from": {"type": "object"},
                },
                "description": "A Bot Framework Activity",
            }
        ),
        description="Invoke activities (adaptiveCard/action ...) answer 200 with the invoke "
        "response; other activities 201.",
    ),
    ("GET", "/api/tab/card"): Operation(
        "The signed-in agent's current customer card (the tab)",
        "tab",
        {200: Json(TabCard)},
        TAB,
        query=(
            Param("locale", "the agent's Teams locale (de-DE ...)"),
            Param("timeZone", "the agent's IANA time zone"),
            Param("tenant", "development mode only: the tenant"),
            Param("agent", "development mode only: the agent"),
        ),
    ),
    ("GET", "/api/tab/events"): Operation(
        "Server-sent events: one card event per change of the agent's card",
        "tab",
        {200: Media(("text/event-stream",))},
        TAB,
        query=(Param("access_token", "the SSO token (EventSource cannot send headers)"),),
    ),
    ("POST", "/api/tab/sign-in"): Operation(
        "The sign-in page hands over the agent's Teams SSO token (kept for delegated CRMs)",
        "tab",
        {200: Json(ANY_OBJECT)},
        TAB,
    ),
    ("POST", "/api/tab/actions"): Operation(
        "A card action from the tab (the same verbs as the bot's Universal Actions)",
        "tab",
        {200: Json(TabActionAnswer)},
        TAB,
        body=Json(TabAction),
        problems=(404, 409, 429, 502),
    ),
    # -- the tenant admin API ---------------------------------------------------------------
    ("GET", "/api/admin/me"): Operation(
        "Who the admin is, of which tenant, and why they are an admin",
        "admin",
        {200: Json(Me)},
        ADMIN,
    ),
    ("GET", "/api/admin/health"): Operation(
        "How crmcard fares for the tenant: consent, each CRM connection's last test, "
        "circuit and recent error rate, the share of recent callers identified",
        "admin",
        {200: Json(TenantHealth)},
        ADMIN,
    ),
    ("GET", "/api/admin/tenant"): Operation(
        "The tenant's settings", "tenant", {200: Json(TenantAnswer)}, ADMIN
    ),
    ("PUT", "/api/admin/tenant"): Operation(
        "Replace the tenant's settings",
        "tenant",
        {200: Json(TenantAnswer)},
        ADMIN,
        body=Json(TenantSettings),
    ),
    ("GET", "/api/admin/crms"): Operation(
        "The tenant's CRM connections (never a secret)", "crms", {200: Json(CrmConfigList)}, ADMIN
    ),
    ("POST", "/api/admin/crms"): Operation(
        "Connect a CRM",
        "crms",
        {201: Json(PublicCrmConfig)},
        ADMIN,
        body=Json(CrmConfig, without=("tenant_id",)),
        problems=(409,),
    ),
    ("GET", _CRM): Operation("One CRM connection", "crms", {200: Json(PublicCrmConfig)}, ADMIN),
    ("PUT", _CRM): Operation(
        "Create or wholly replace a CRM connection",
        "crms",
        {200: Json(PublicCrmConfig), 201: Json(PublicCrmConfig)},
        ADMIN,
        body=Json(CrmConfig, without=("tenant_id",), optional=("settings_id",)),
        problems=(409,),
    ),
    ("PATCH", _CRM): Operation(
        "Change the fields given",
        "crms",
        {200: Json(PublicCrmConfig)},
        ADMIN,
        body=Json(CrmConfig, without=("tenant_id",), partial=True),
        problems=(409,),
    ),
    ("DELETE", _CRM): Operation("Delete a CRM connection", "crms", {204: None}, ADMIN),
    ("POST", f"{_CRM}/test"): Operation(
        "Test the connection: sign in and run a harmless search",
        "crms",
        {200: Json(ConnectionTest)},
        ADMIN,
    ),
    ("POST", f"{_CRM}/preview"): Operation(
        "The records an enabled connection finds for a phone or e-mail, mapped",
        "crms",
        {200: Json(PreviewAnswer)},
        ADMIN,
        body=Json(PreviewRequest),
        problems=(429, 502, 503),
    ),
    ("POST", f"{_CRM}/rotate-secret"): Operation(
        "Replace the connection's secret",
        "crms",
        {200: Json(PublicCrmConfig)},
        ADMIN,
        body=Json(SecretRotation),
        problems=(409,),
    ),
    ("POST", f"{_CRM}/disable"): Operation(
        "Stop using the connection", "crms", {200: Json(PublicCrmConfig)}, ADMIN, problems=(409,)
    ),
    ("POST", f"{_CRM}/enable"): Operation(
        "Use the connection again", "crms", {200: Json(PublicCrmConfig)}, ADMIN, problems=(409,)
    ),
    ("GET", f"{_CRM}/memorialization"): Operation(
        "What a write-back writes into this CRM",
        "memorialization",
        {200: Json(MemorializationMapping)},
        ADMIN,
    ),
    ("PUT", f"{_CRM}/memorialization"): Operation(
        "Replace what a write-back writes into this CRM",
        "memorialization",
        {200: Json(MemorializationMapping)},
        ADMIN,
        body=Json(MemorializationMapping),
    ),
    ("GET", "/api/admin/outbox"): Operation(
        "The tenant's write-backs",
        "outbox",
        {200: Json(Outbox)},
        ADMIN,
        query=(
            Param(
                "status",
                "only these",
                {"type": "string", "enum": [s.value for s in OutboxStatus]},
            ),
        ),
        problems=(422,),
    ),
    ("POST", "/api/admin/outbox/replay"): Operation(
        "Send a parked (or waiting) write-back again now, or every parked one",
        "outbox",
        {202: Json(Replayed | OutboxItemAnswer)},
        ADMIN,
        body=Json(Replay),
        problems=(404, 409),
    ),
    ("GET", "/api/admin/workflows"): Operation(
        "The tenant's workflows", "workflows", {200: Json(WorkflowList)}, ADMIN
    ),
    ("GET", _WORKFLOW): Operation("One workflow", "workflows", {200: Json(Workflow)}, ADMIN),
    ("PUT", _WORKFLOW): Operation(
        "Create or replace a workflow (validated against its CRM)",
        "workflows",
        {200: Json(Workflow)},
        ADMIN,
        body=Json(Workflow, optional=("id",)),
    ),
    ("DELETE", _WORKFLOW): Operation("Delete a workflow", "workflows", {204: None}, ADMIN),
    ("POST", f"{_WORKFLOW}/run"): Operation(
        "Run a workflow on the admin's door, to try it",
        "workflows",
        {200: Json(WorkflowResult)},
        ADMIN,
        body=Json(ExecuteRequest),
        problems=(409, 429, 502),
    ),
    ("GET", "/api/admin/policies"): Operation(
        "Record-creation policies per queue", "queue policies", {200: Json(Policies)}, ADMIN
    ),
    ("POST", "/api/admin/policies/title-preview"): Operation(
        "Render a title template as a record title would be",
        "queue policies",
        {200: Json(TitlePreviewAnswer)},
        ADMIN,
        body=Json(TitlePreview),
    ),
    ("GET", _POLICY): Operation(
        "One queue's policy (_default: the tenant default)",
        "queue policies",
        {200: Json(RecordPolicy)},
        ADMIN,
    ),
    ("PUT", _POLICY): Operation(
        "Set one queue's policy",
        "queue policies",
        {200: Json(RecordPolicy)},
        ADMIN,
        body=Json(RecordPolicy),
    ),
    ("DELETE", _POLICY): Operation(
        "Remove one queue's policy", "queue policies", {204: None}, ADMIN
    ),
    ("GET", "/api/admin/routing"): Operation(
        "The tenant's routing rules", "routing", {200: Json(RoutingConfig)}, ADMIN
    ),
    ("PUT", "/api/admin/routing"): Operation(
        "Replace the tenant's routing rules",
        "routing",
        {200: Json(RoutingConfig)},
        ADMIN,
        body=Json(RoutingConfig),
    ),
    ("POST", "/api/admin/lookup"): Operation(
        "The IVR's lookup on the admin's door, to try the routing rules",
        "routing",
        {200: Json(LookupAnswer)},
        ADMIN,
        body=Json(LookupRequest),
        problems=(502, 503),
    ),
    ("GET", "/api/admin/audit"): Operation(
        "The tenant's audit stream, oldest first",
        "audit",
        {200: Json(AuditPage, also=(Media(("text/csv",)),))},
        ADMIN,
        query=(
            Param("actor", "who"),
            Param("kind", "what, exactly or as a prefix (crm is every crm.*)"),
            Param("door", "api, cli, tab, bot, system ..."),
            Param("target", "what it happened to"),
            Param("from", "inclusive", _ISO),
            Param("to", "exclusive", _ISO),
            Param("limit", "1..10000 (1000)", {"type": "string", "pattern": "^[0-9]{1,5}$"}),
            Param("format", "csv: a CSV download", {"type": "string", "enum": ["json", "csv"]}),
        ),
        problems=(422,),
        description="format=csv (or Accept: text/csv) answers text/csv instead.",
    ),
    ("POST", "/api/admin/keys"): Operation(
        "Issue a platform key (X-Api-Key), shown once",
        "keys",
        {201: Json(IssuedKey)},
        ADMIN,
        body=Json(NewKey),
    ),
    ("GET", "/api/admin/keys"): Operation(
        "The tenant's platform keys, revoked ones too (never a key)",
        "keys",
        {200: Json(KeyList)},
        ADMIN,
    ),
    ("GET", "/api/admin/keys/{keyId}"): Operation(
        "One platform key", "keys", {200: Json(PublicKey)}, ADMIN
    ),
    ("DELETE", "/api/admin/keys/{keyId}"): Operation(
        "Revoke a platform key, at once on every instance", "keys", {204: None}, ADMIN
    ),
    ("POST", "/api/admin/data-subjects/export"): Operation(
        "Everything crmcard keeps about one person (GDPR Art. 15)",
        "data subjects",
        {200: Json(SubjectExport)},
        ADMIN,
        body=Json(SubjectQuery),
        problems=(404,),
    ),
    ("POST", "/api/admin/data-subjects/erase"): Operation(
        "Erase one person (GDPR Art. 17); audited under a pseudonym",
        "data subjects",
        {200: Json(ErasureReport)},
        ADMIN,
        body=Json(SubjectQuery),
        problems=(404,),
    ),
    ("GET", "/api/admin/tickets/sync"): Operation(
        "Each ticketing CRM's last sync", "tickets", {200: Json(Syncs)}, ADMIN
    ),
    ("POST", "/api/admin/tickets/sync"): Operation(
        "Start a ticket sync in the background",
        "tickets",
        {202: Json(SyncStarted)},
        ADMIN,
        body=Json(SyncRequest),
        body_required=False,
        problems=(404,),
    ),
    # -- operations: probes and this document -----------------------------------------------
    ("GET", "/healthz"): Operation(
        "Liveness: the process is up", "operations", {200: Json(Health)}
    ),
    ("GET", "/readyz"): Operation(
        "Readiness: the store answers; each CRM's circuit",
        "operations",
        {200: Json(Readiness), 503: Json(Readiness)},
    ),
    ("GET", "/api/openapi.json"): Operation("This document", "operations", {200: Json(ANY_OBJECT)}),
    ("GET", "/api/docs"): Operation(
        "The API reference page", "operations", {200: HTML}, problems=(404,)
    ),
    ("GET", "/api/docs/{name}"): Operation(
        "The reference page's script and style", "operations", {200: ASSET}
    ),
    # -- pages and their files --------------------------------------------------------------
    ("GET", "/tab"): Operation("The tab's card page", "pages", {200: HTML}),
    ("GET", "/tab/config"): Operation("The tab's configuration page", "pages", {200: HTML}),
    ("GET", "/tab/tickets"): Operation("The tab's ticket search page", "pages", {200: HTML}),
    ("GET", "/tab/sign-in"): Operation(
        "The page the bot's sign-in button opens: hands the Teams SSO token to crmcard",
        "pages",
        {200: HTML},
        query=(Param("locale", "the agent's language (de, fr, en ...)"),),
    ),
    ("GET", "/privacy"): Operation("Privacy statement", "pages", {200: HTML}),
    ("GET", "/terms"): Operation("Terms of use", "pages", {200: HTML}),
    ("GET", "/tab/static/{filename}"): Operation(
        "The tab pages' scripts, styles and images", "pages", {200: FILE}
    ),
    ("GET", "/icons/{filename}"): Operation("The cards' action icons", "pages", {200: FILE}),
    ("GET", "/tab/vendor/{name}"): Operation(
        "Browser libraries of the tab (adaptivecards, teams-js)", "pages", {200: SCRIPT}
    ),
    ("GET", "/admin"): Operation("The admin console", "pages", {200: HTML}),
    ("GET", "/admin/static/{name}"): Operation(
        "The admin console's bundle and stylesheet", "pages", {200: ASSET}
    ),
    ("GET", "/admin/locales/{lang}.json"): Operation(
        "The admin console's strings in one language", "pages", {200: Json(ANY_OBJECT)}
    ),
    ("GET", "/admin/consent"): Operation(
        "The page an Entra administrator grants admin consent from",
        "pages",
        {200: HTML, 400: HTML, 503: HTML},
    ),
    ("GET", "/admin/consent/callback"): Operation(
        "Entra's admin consent callback",
        "pages",
        {200: HTML, 400: HTML},
        query=(
            Param("admin_consent", "True when granted"),
            Param("tenant", "the tenant that granted it"),
            Param("state", "the sealed state the consent page sent"),
            Param("error", "why Entra did not grant it"),
            Param("error_description", "Entra's words"),
        ),
    ),
}
