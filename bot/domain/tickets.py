"""Imported CRM tickets and the agents who solved them: the rules of PRODUCT section 6.

Agents (users) and solved tickets are mirrored from the ticketing CRMs (Salesforce,
Zendesk), never edited here. The rules are pure and live in this module:

* an agent needs a first and a last name, neither holding an email address, and an email
  address, unique across every CRM of the tenant (:func:`user_problem`; uniqueness is
  checked by the sync against what is already archived);
* a ticket is taken only when solved or closed and when it names its agent
  (:func:`ticket_problem`); it is kept :data:`RETENTION` (90 days) after it was closed;
* the CRM's channel (Zendesk ``via.channel``, Salesforce ``Case.Origin``) is mapped to one
  of the thirteen :class:`TicketChannel`\\ s, per CRM adjustable (:func:`map_channel`);
* text from a CRM is repaired (lone surrogates, NUL) and huge comments are cut visibly
  (:func:`clean_text`, :func:`cut_comment`), so bad input never breaks an import.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field

from bot.domain.api_model import ApiModel, Model

RETENTION = timedelta(days=90)
"""How long an imported ticket is kept after it was solved or closed; then it is purged."""

MAX_COMMENT_CHARS = 16_000
"""A longer comment is cut to this many characters and says so at its end."""

MAX_SUBJECT_CHARS = 500


class TicketChannel(StrEnum):
    """The thirteen channels a ticket came in through (PRODUCT section 6)."""

    email = "email"
    chat = "chat"
    facebook = "facebook"
    forum = "forum"
    in_app = "in_app_messaging"
    slack = "slack"
    sms = "sms"
    voice = "voice"
    whatsapp = "whatsapp"
    telegram = "telegram"
    viber = "viber"
    apple_messages = "apple_messages_for_business"
    teams = "microsoft_teams"


class TicketStatus(StrEnum):
    solved = "solved"
    closed = "closed"


class Language(StrEnum):
    """Languages whose stemming the ticket search knows (PostgreSQL configuration names)."""

    english = "english"
    german = "german"
    french = "french"


def language_of(locale: str | None, default: Language = Language.english) -> Language:
    """``de-CH`` -> german, ``fr`` -> french, ``en-GB`` -> english; anything else: default."""
    prefix = (locale or "").strip().lower()[:2]
    return {"en": Language.english, "de": Language.german, "fr": Language.french}.get(
        prefix, default
    )


# -- channels ----------------------------------------------------------------------------

_C = TicketChannel
ZENDESK_CHANNELS: dict[str, TicketChannel] = {
    "email": _C.email,
    "chat": _C.chat,
    "chat_transcript": _C.chat,
    "facebook": _C.facebook,
    "facebook_post": _C.facebook,
    "facebook_message": _C.facebook,
    "messenger": _C.facebook,
    "sunshine_conversations_facebook_messenger": _C.facebook,
    "forum": _C.forum,
    "topic": _C.forum,
    "community": _C.forum,
    "native_messaging": _C.in_app,
    "mobile_sdk": _C.in_app,
    "web_messaging": _C.in_app,
    "mobile": _C.in_app,
    "slack": _C.slack,
    "slack_connect": _C.slack,
    "business_messaging_slack_connect": _C.slack,
    "sms": _C.sms,
    "text": _C.sms,
    "twilio_sms": _C.sms,
    "messagebird_sms": _C.sms,
    "voice": _C.voice,
    "voicemail": _C.voice,
    "phone_call_inbound": _C.voice,
    "phone_call_outbound": _C.voice,
    "api_voicemail": _C.voice,
    "api_phone_call_inbound": _C.voice,
    "api_phone_call_outbound": _C.voice,
    "whatsapp": _C.whatsapp,
    "telegram": _C.telegram,
    "viber": _C.viber,
    "apple_business_chat": _C.apple_messages,
    "apple_messages_for_business": _C.apple_messages,
    "microsoft_teams": _C.teams,
    "teams": _C.teams,
}
"""Zendesk ``via.channel`` values -> channel (Zendesk's "Via types" reference): the classic
channels' names, and for messaging the via type of the integration (Facebook Messenger is
``sunshine_conversations_facebook_messenger``, Twilio SMS ``twilio_sms``)."""

SALESFORCE_ORIGINS: dict[str, TicketChannel] = {
    "email": _C.email,
    "email-to-case": _C.email,
    "chat": _C.chat,
    "live chat": _C.chat,
    "web chat": _C.chat,
    "facebook": _C.facebook,
    "forum": _C.forum,
    "community": _C.forum,
    "messaging": _C.in_app,
    "in-app": _C.in_app,
    "in-app messaging": _C.in_app,
    "slack": _C.slack,
    "sms": _C.sms,
    "text": _C.sms,
    "phone": _C.voice,
    "voice": _C.voice,
    "whatsapp": _C.whatsapp,
    "telegram": _C.telegram,
    "viber": _C.viber,
    "apple messages for business": _C.apple_messages,
    "apple business chat": _C.apple_messages,
    "microsoft teams": _C.teams,
    "teams": _C.teams,
}
"""Salesforce ``Case.Origin`` picklist values (standard Email/Phone/Web plus the usual
custom ones) -> channel; matched case-insensitively."""


def map_channel(
    raw: str | None,
    defaults: dict[str, TicketChannel],
    overrides: dict[str, TicketChannel] | None = None,
) -> TicketChannel | None:
    """The channel of a CRM's value: the CRM configuration's mapping first, then the
    vendor defaults; None when neither knows it (the ticket is kept, without a channel)."""
    key = (raw or "").strip().lower()
    if not key:
        return None
    for mapping in (overrides or {}, defaults):
        for name, channel in mapping.items():
            if name.strip().lower() == key:
                return channel
    return None


class TicketingSettings(ApiModel):
    """Ticketing switched on for one Salesforce or Zendesk CRM configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    channel_map: dict[str, TicketChannel] = Field(
        default_factory=dict,
        description="CRM channel value (Zendesk via.channel, Salesforce Origin) -> channel; "
        "overrides the built-in mapping",
    )
    language: Language = Field(
        Language.english, description="language of tickets that do not say (stemming)"
    )
    bulk_threshold: int = Field(
        10_000, ge=0, description="Salesforce: a full import of more cases uses Bulk API 2.0"
    )
    export_requests_per_minute: int = Field(
        10,
        ge=1,
        le=1000,
        description="Zendesk: incremental-export requests allowed a minute (10; 30 with the "
        "High Volume add-on)",
    )


# -- text ---------------------------------------------------------------------------------

_NUL = "\x00"


def clean_text(value: str) -> tuple[str, bool]:
    """The text with lone surrogates (broken UTF-8 decoded with escapes) replaced by U+FFFD
    and NUL characters dropped; the flag says whether anything was repaired. A decoder's
    own U+FFFD (bytes that were not UTF-8) counts as repaired too."""
    repaired = _NUL in value or "\ufffd" in value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        repaired = True
    return value.replace(_NUL, ""), repaired


def cut_comment(body: str, limit: int = MAX_COMMENT_CHARS) -> tuple[str, bool]:
    """A comment no longer than ``limit`` characters plus a visible note of what was cut."""
    if len(body) <= limit:
        return body, False
    rest = len(body) - limit
    return f"{body[:limit]}\n[… {rest:,} more characters not imported]", True


# -- users --------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HOLDS_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def normal_email(value: str | None) -> str | None:
    """Lower-cased, trimmed email address, or None when it is not one."""
    email = (value or "").strip().lower()
    return email if _EMAIL.match(email) else None


class CrmUser(Model):
    """A user (agent) as a CRM reports it, before the rules are applied."""

    model_config = ConfigDict(frozen=True)

    crm_id: str
    external_id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    active: bool = True
    deleted: bool = False
    is_agent: bool = True
    """False for a CRM's end users (customers): never imported; an agent who became one
    is deactivated."""


def split_name(full: str) -> tuple[str, str]:
    """Zendesk keeps one ``name``: its last word is the last name, the rest the first."""
    words = full.split()
    if len(words) < 2:
        return (words[0] if words else ""), ""
    return " ".join(words[:-1]), words[-1]


def user_problem(user: CrmUser) -> str | None:
    """Why ``user`` cannot be imported, or None. Uniqueness is the sync's to check."""
    first, last = user.first_name.strip(), user.last_name.strip()
    if not first:
        return "first name is missing"
    if not last:
        return "last name is missing"
    if _HOLDS_EMAIL.search(first):
        return "the first name holds an email address"
    if _HOLDS_EMAIL.search(last):
        return "the last name holds an email address"
    if not user.email.strip():
        return "email address is missing"
    if normal_email(user.email) is None:
        return f"{user.email.strip()!r} is not an email address"
    return None


class Agent(Model):
    """An agent known to crmcard. ``source`` is ``local`` (created in crmcard, never
    overwritten by an import) or the settings id of the CRM it is mirrored from."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    email: str
    first_name: str
    last_name: str
    active: bool = True
    source: str = "local"
    external_id: str | None = None

    @property
    def local(self) -> bool:
        return self.source == "local"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


# -- tickets ------------------------------------------------------------------------------


class Message(ApiModel):
    """One comment or email of a ticket's conversation."""

    model_config = ConfigDict(frozen=True)

    author: str
    at: AwareDatetime
    body: str
    public: bool = True
    from_agent: bool = False


class Ticket(ApiModel):
    """A solved or closed ticket as archived; ``external_id`` is the CRM's record id."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    crm_id: str
    crm_name: str
    external_id: str
    number: str
    subject: str
    status: TicketStatus
    channel: TicketChannel | None = None
    source_channel: str = ""
    agent_email: str
    agent_name: str
    requester_name: str = ""
    requester_email: str | None = None
    requester_phone: str | None = None
    created_at: AwareDatetime
    closed_at: AwareDatetime
    language: Language = Language.english
    url: str
    messages: tuple[Message, ...] = ()

    @property
    def conversation(self) -> str:
        return "\n".join(m.body for m in self.messages)


class CrmTicket(Model):
    """A ticket as a CRM reports it, before the rules are applied."""

    crm_id: str
    external_id: str
    number: str = ""
    subject: str = ""
    status: str = ""
    closed: bool = False
    source_channel: str = ""
    agent_external_id: str | None = None
    requester_name: str = ""
    requester_email: str | None = None
    requester_phone: str | None = None
    created_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    locale: str | None = None
    url: str = ""
    messages: list[Message] = Field(default_factory=list)


def out_of_scope(ticket: CrmTicket, now: datetime) -> str | None:
    """Why a sound ticket is not (or no longer) one to import: open, or past retention."""
    if not ticket.closed:
        return "not solved or closed"
    if ticket.closed_at is not None and ticket.closed_at < now - RETENTION:
        return "closed more than 90 days ago"
    return None


def ticket_problem(ticket: CrmTicket) -> str | None:
    """What a solved ticket lacks to be imported (listed in the report), or None."""
    if not ticket.agent_external_id:
        return "no agent (assignee) on the ticket"
    if ticket.closed_at is None:
        return "no solved or closed date"
    return None


def purge_cutoff(now: datetime) -> datetime:
    """Tickets closed before this are past their retention and are purged."""
    return now - RETENTION


# -- the import report --------------------------------------------------------------------


class Rejection(ApiModel):
    """One user or ticket the import did not take (or took repaired), and why."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["user", "ticket"]
    external_id: str
    reason: str


class ImportReport(ApiModel):
    """What one sync of one CRM did: counts and every rejected user and ticket."""

    crm_id: str
    started_at: datetime
    finished_at: datetime | None = None
    full: bool = False
    users_imported: int = 0
    users_deactivated: int = 0
    users_deleted: int = 0
    tickets_imported: int = 0
    tickets_removed: int = Field(0, description="imported before, reopened in the CRM since")
    tickets_skipped: dict[str, int] = Field(
        default_factory=dict, description="reason -> how many tickets were not imported"
    )
    rejected: list[Rejection] = Field(default_factory=list)
    notices: list[Rejection] = Field(
        default_factory=list, description="imported, but repaired: broken text, cut comments"
    )
    error: str | None = Field(None, description="why the sync stopped early, if it did")

    def skip(self, reason: str) -> None:
        self.tickets_skipped[reason] = self.tickets_skipped.get(reason, 0) + 1

    def reject(self, kind: Literal["user", "ticket"], external_id: str, reason: str) -> None:
        self.rejected.append(Rejection(kind=kind, external_id=external_id, reason=reason))
        if kind == "ticket":
            self.skip("rejected")

    def notice(self, kind: Literal["user", "ticket"], external_id: str, reason: str) -> None:
        self.notices.append(Rejection(kind=kind, external_id=external_id, reason=reason))

    @property
    def skipped(self) -> int:
        return sum(self.tickets_skipped.values())
