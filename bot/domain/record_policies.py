"""Record-creation policies (PRODUCT.md section 4): when an interaction gets a CRM record.

Per tenant and queue, an admin decides whether call/chat sessions create a record, when
(at assignment, once connected, once the customer sent N messages), what abandoned
calls and chats do, whether a session is appended to the last open record of the same
queue (or one closed within N days, reopened), the record's title and its tags.

Everything here is pure: :func:`decide` says create / wait / skip for one event, the
service does the CRM calls. Transfers never create a second record: once the
interaction has a record, every later event (the next agent's assignment included)
decides ``skip``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator, model_validator

from bot.domain.api_model import ApiModel
from bot.domain.identifiers import Channel
from bot.domain.interactions import Direction, Interaction, LifecycleEvent
from bot.domain.records import TAGGED_KINDS, NewRecord
from bot.i18n import t

TITLE_VARIABLES = ("CALL_TYPE", "CALL_ID", "MENU_PATH", "PHONE_NUMBER", "LANGUAGE", "TIMESTAMP")
TITLE_SAMPLE = {
    "CALL_TYPE": "IVR call",
    "CALL_ID": "4711",
    "MENU_PATH": "",
    "PHONE_NUMBER": "+49 30 901820",
    "LANGUAGE": "de",
    "TIMESTAMP": "2026-12-01 09:30:00 UTC",
}
"""Values for previewing a title template; the empty menu path shows a missing value."""
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PRODUCT_TAG = "crmcard"
DEFAULT_QUEUE = "_default"
"""Policy name of the tenant default, used for queues without a policy of their own."""


class AbandonedChats(StrEnum):
    off = "off"
    all = "all"
    min_messages = "min-messages"


class RecordPolicy(ApiModel):
    model_config = ConfigDict(extra="forbid")

    create_records: bool = Field(
        False, description="off unless switched on: saving an empty policy creates nothing"
    )
    record_type: str = Field("case", pattern=r"^[A-Za-z][A-Za-z0-9_.]{0,99}$")
    settings_id: str | None = Field(None, max_length=64, description="default: first CRM")
    append_to_open: bool = False
    append_closed_within_days: int | None = Field(None, ge=1, le=365)
    reopen_status: str = Field("Open", min_length=1, max_length=50)
    delay_call_until_connected: bool = False
    chat_min_customer_messages: int = Field(0, ge=0, le=1000)
    abandoned_calls: bool = False
    abandoned_chats: AbandonedChats = AbandonedChats.off
    abandoned_chat_min_messages: int = Field(1, ge=1, le=1000)
    short_abandon_seconds: int = Field(
        0, ge=0, le=3600, description="a chat abandoned sooner than this is a short abandon"
    )
    title_template: str = Field("{CALL_TYPE} {PHONE_NUMBER} {TIMESTAMP}", max_length=255)
    session_type_tags: bool = False
    product_tag: bool = False

    @field_validator("title_template")
    @classmethod
    def _known_variables(cls, value: str) -> str:
        unknown = [name for name in _PLACEHOLDER.findall(value) if name not in TITLE_VARIABLES]
        if unknown:
            raise ValueError(
                t(
                    "unknown title variables {unknown}; known: {known}",
                    unknown=", ".join("{" + n + "}" for n in unknown),
                    known=", ".join(TITLE_VARIABLES),
                )
            )
        if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
            raise ValueError(t("unbalanced brace in the title template"))
        if not value.strip():
            raise ValueError(t("the title template is empty"))
        return value

    @model_validator(mode="after")
    def _closed_needs_append(self) -> RecordPolicy:
        if self.append_closed_within_days is not None and not self.append_to_open:
            raise ValueError(t("appending to closed records needs appendToOpen"))
        return self


class Decision(StrEnum):
    create = "create"
    wait = "wait"
    skip = "skip"


@dataclass(frozen=True)
class Facts:
    voice: bool
    event: LifecycleEvent
    has_record: bool
    connected: bool
    customer_messages: int
    seconds_since_assigned: float | None = None


def facts_of(interaction: Interaction, event: LifecycleEvent, has_record: bool) -> Facts:
    assigned = next(
        (r.occurred_at for r in interaction.history if r.event is LifecycleEvent.assigned), None
    )
    last = interaction.history[-1].occurred_at if interaction.history else None
    return Facts(
        voice=interaction.channel.is_voice,
        event=event,
        has_record=has_record,
        connected=interaction.happened(LifecycleEvent.connected),
        customer_messages=max((r.customer_messages or 0 for r in interaction.history), default=0),
        seconds_since_assigned=((last - assigned).total_seconds() if assigned and last else None),
    )


def _decide_call(policy: RecordPolicy, facts: Facts) -> Decision:
    event = facts.event
    if event is LifecycleEvent.assigned:
        return Decision.wait if policy.delay_call_until_connected else Decision.create
    if event is LifecycleEvent.connected:
        return Decision.create
    if event is LifecycleEvent.abandoned:
        # Without the delay the record exists since assignment; with it, a caller who
        # hung up before connection gets a record only if the admin asked for them.
        return Decision.create if policy.abandoned_calls else Decision.skip
    if event is LifecycleEvent.transferred:
        return Decision.wait  # the next agent's assignment decides
    if event is LifecycleEvent.ended:
        return Decision.create if facts.connected else Decision.skip
    return Decision.skip


def _decide_chat(policy: RecordPolicy, facts: Facts) -> Decision:
    event = facts.event
    if event is LifecycleEvent.abandoned:
        if policy.abandoned_chats is AbandonedChats.all:
            return Decision.create
        if policy.abandoned_chats is AbandonedChats.min_messages:
            short = (
                facts.seconds_since_assigned is not None
                and facts.seconds_since_assigned < policy.short_abandon_seconds
            )
            enough = facts.customer_messages >= policy.abandoned_chat_min_messages
            return Decision.create if enough and not short else Decision.skip
        return Decision.skip
    if event is LifecycleEvent.acw_completed:
        return Decision.skip
    enough = facts.customer_messages >= policy.chat_min_customer_messages
    if enough:
        return Decision.create
    if event in (LifecycleEvent.ended, LifecycleEvent.unassigned):
        return Decision.skip  # the customer never said enough: no empty record
    return Decision.wait


def decide(policy: RecordPolicy | None, facts: Facts) -> Decision:
    """Create the interaction's record now, wait for a later event, or never."""
    if policy is None or not policy.create_records or facts.has_record:
        return Decision.skip
    return _decide_call(policy, facts) if facts.voice else _decide_chat(policy, facts)


# --- titles and tags -------------------------------------------------------------------

CALL_TYPES: dict[str, tuple[str, str]] = {
    # session callType -> (CALL_TYPE label, session type)
    "ivr": ("IVR call", "Voice Inbound (IVR)"),
    "inbound-app": ("Inbound call (app)", "Voice Inbound (App)"),
    "inbound-web": ("Inbound call (web)", "Voice Inbound (Web)"),
    "scheduled-app": ("Scheduled voice (app)", "Voice Scheduled (App)"),
    "scheduled-web": ("Scheduled call (web)", "Voice Scheduled (Web)"),
    "outbound": ("Outbound call", "Voice Outbound"),
}
_CHAT_LABELS = {
    Channel.chat: "Web chat",
    Channel.sms: "SMS",
    Channel.whatsapp: "WhatsApp",
    Channel.messenger: "Messenger",
    Channel.teams: "Teams",
    Channel.email: "Email",
}


def call_type(interaction: Interaction, session: dict[str, str]) -> tuple[str, str]:
    """(CALL_TYPE label, session type) of the interaction."""
    given = session.get("callType")
    if given in CALL_TYPES:
        return CALL_TYPES[given]
    if interaction.channel.is_voice:
        key = "outbound" if interaction.direction is Direction.outbound else "ivr"
        return CALL_TYPES[key]
    label = _CHAT_LABELS.get(interaction.channel, interaction.channel.value)
    way = "Outbound" if interaction.direction is Direction.outbound else "Inbound"
    return label, f"Messaging {way} ({label})"


_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
_SEPARATORS = "\\-|,:;/\u00b7\u2013\u2014"  # also the middle dot, en and em dash
_DANGLING = re.compile(f"^[\\s{_SEPARATORS}]+|[\\s{_SEPARATORS}]+$")
_DOUBLED = re.compile(f"\\s*([{_SEPARATORS}])(?:\\s*[{_SEPARATORS}])+\\s*")


def render_title(template: str, values: dict[str, str]) -> str:
    """The title with the interaction's values; a missing value leaves no trace: no empty
    brackets ("()"), no separator left dangling or doubled ("a - - b")."""
    text = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), "").strip(), template)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _DOUBLED.sub(lambda m: f" {m.group(1)} " if m.group(1) != "," else ", ", text)
    text = _DANGLING.sub("", re.sub(r"\s+", " ", text))
    return re.sub(r"\s+([,:;])", r"\1", text).strip()[:255] or "Interaction"


def title_values(
    interaction: Interaction, session: dict[str, str], started: datetime
) -> dict[str, str]:
    phones = [i.identifier.value for i in interaction.identities if i.identifier.kind == "phone"]
    return {
        "CALL_TYPE": call_type(interaction, session)[0],
        "CALL_ID": session.get("callId", interaction.id),
        "MENU_PATH": session.get("menuPath", ""),
        "PHONE_NUMBER": session.get("phoneNumber", phones[0] if phones else ""),
        "LANGUAGE": session.get("language", ""),
        "TIMESTAMP": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def session_tag(kind: str | None, session_type: str) -> str | None:
    """The session type as the CRM's tags spell it; None where the CRM has no tags."""
    if kind == "zendesk":
        return re.sub(r"[^a-z0-9]+", "_", session_type.lower()).strip("_")
    if kind == "kustomer":
        return re.sub(r"\s*\(([^)]*)\)", r" - \1", session_type).strip()
    return session_type if kind in TAGGED_KINDS else None  # Freshdesk, the demo: as it is


NAMED_TYPES = frozenset({"account", "contact", "lead", "opportunity"})
"""Record types whose title is their name; the others' title is their subject."""


def new_record(policy: RecordPolicy, kind: str | None, title: str, session_type: str) -> NewRecord:
    """The record the policy creates, in the card's neutral names, which each CRM adapter
    writes to its own fields: its title as ``name`` or ``subject`` and, where the CRM has
    them, its tags."""
    name = "name" if policy.record_type in NAMED_TYPES else "subject"
    return NewRecord(fields={name: title}, tags=tuple(tags_for(policy, kind, session_type)))


def tags_for(policy: RecordPolicy, kind: str | None, session_type: str) -> list[str]:
    tags: list[str] = []
    if policy.session_type_tags:
        tag = session_tag(kind, session_type)
        if tag:
            tags.append(tag)
    if policy.product_tag and kind in TAGGED_KINDS:
        tags.append(PRODUCT_TAG)
    return tags


# --- open / closed records ----------------------------------------------------------

_CLOSED = frozenset({"closed", "resolved", "solved", "cancelled", "canceled", "completed", "done"})
_CLOSED_BY_KIND = {
    "freshdesk": frozenset({"4", "5"}),  # resolved, closed
    "servicenow": frozenset({"6", "7", "8"}),  # incident: resolved, closed, canceled
    "dynamics": frozenset({"1", "2"}),  # statecode resolved, cancelled
}
_CLOSED_SERVICENOW_CASE = frozenset({"3", "6", "7"})  # closed, resolved, cancelled
"""A customer service case's closed states (its 3 is an incident's On Hold)."""


def _closed_states(kind: str | None, fields: dict[str, str]) -> frozenset[str]:
    if kind == "servicenow" and fields.get("sys_class_name") == "sn_customerservice_case":
        return _CLOSED | _CLOSED_SERVICENOW_CASE
    return _CLOSED | _CLOSED_BY_KIND.get(kind or "", frozenset())


_CLOSED_AT_FIELDS = ("closed_at", "closedAt", "ClosedDate", "closed_date", "resolved_at")


def is_open(kind: str | None, fields: dict[str, str]) -> bool:
    """Open means any non-closed state (New, In progress, Escalated...)."""
    if fields.get("IsClosed", "").lower() == "true":
        return False
    for name in ("status", "Status", "state", "statecode"):
        value = fields.get(name)
        if value is None:
            continue
        return value.strip().lower() not in _closed_states(kind, fields)
    return True


def closed_at(fields: dict[str, str]) -> datetime | None:
    for name in _CLOSED_AT_FIELDS:
        value = fields.get(name)
        if value:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else None
    return None


def reopen_fields(policy: RecordPolicy) -> dict[str, str]:
    """The update that reopens a closed record a session is appended to, in the card's
    neutral names: ``reopen`` with the policy's status, which each CRM adapter writes
    its own way (a status field, or a state that is open again)."""
    return {"reopen": policy.reopen_status}


def appendable(
    policy: RecordPolicy,
    kind: str | None,
    fields: dict[str, str],
    now: datetime,
    last_session: datetime | None = None,
) -> tuple[bool, bool]:
    """(may append, must reopen first) for a record the queue created before.

    When the CRM does not say when the record was closed, the last session appended to
    it stands in: the record was closed after that session, so no earlier than it.
    """
    if not policy.append_to_open:
        return False, False
    if is_open(kind, fields):
        return True, False
    if policy.append_closed_within_days is None:
        return False, False
    closed = closed_at(fields) or last_session
    window = timedelta(days=policy.append_closed_within_days)
    if closed is not None and now - closed <= window:
        return True, True
    return False, False
