"""What the customer card shows, as typed data built from the card and its interaction.

Presentation (Adaptive Card JSON) is derived from this data only, so the bot message,
the tab and the tests all see the same thing. Every string in it is already in the agent's
language (:mod:`bot.i18n`); the template adds only its own fixed labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from bot.adaptive_cards.customer_card import (
    CustomerCardData,
    Fact,
    RecordRow,
    Section,
    more_children_text,
    show_more_text,
)
from bot.domain.cards import CardFace
from bot.domain.identifiers import Identifier, IdentifierKind
from bot.domain.interactions import Interaction, LifecycleEvent
from bot.domain.links import is_linked
from bot.domain.records import CrmRecord
from bot.i18n import ENGLISH, AgentLocale, Text, format_phone, localize, t
from bot.i18n.formatting import format_date, format_datetime, format_number
from bot.services.outbox import is_failure, is_written

DEFAULT_PAGE_SIZE = 8
CHILDREN_SHOWN = 6

_STATE_LABELS = {
    None: t("New"),
    LifecycleEvent.assigned: t("Assigned"),
    LifecycleEvent.connected: t("Connected"),
    LifecycleEvent.ended: t("Ended · after-call work"),
    LifecycleEvent.acw_completed: t("Completed"),
    LifecycleEvent.transferred: t("Transferred"),
    LifecycleEvent.unassigned: t("Unassigned"),
    LifecycleEvent.abandoned: t("Abandoned"),
}
_CHANNEL_LABELS = {
    "voice": t("Voice"),
    "email": t("Email"),
    "chat": t("Chat"),
    "sms": t("SMS"),
    "whatsapp": t("WhatsApp"),
    "messenger": t("Messenger"),
    "teams": t("Teams"),
}
_RECORD_TYPES = {
    "account": t("Account"),
    "contact": t("Contact"),
    "lead": t("Lead"),
    "case": t("Case"),
    "incident": t("Case"),
    "ticket": t("Ticket"),
    "conversation": t("Conversation"),
    "opportunity": t("Opportunity"),
    "task": t("Task"),
    "order": t("Order"),
    "quote": t("Quote"),
}


_KEY_FIELDS: dict[str, Text] = {
    # normalised CRM field name (lower case, no "_") -> label; first match per label wins
    "number": t("Number"),
    "casenumber": t("Number"),
    "ticketnumber": t("Number"),
    "status": t("Status"),
    "stagename": t("Status"),
    "state": t("Status"),
    "priority": t("Priority"),
    "owner": t("Owner"),
    "ownername": t("Owner"),
    "assignee": t("Owner"),
    "created": t("Created"),
    "createddate": t("Created"),
    "createdat": t("Created"),
    "createdon": t("Created"),
    "updated": t("Updated"),
    "lastmodifieddate": t("Updated"),
    "updatedat": t("Updated"),
    "modifiedon": t("Updated"),
    "closedate": t("Close date"),
    "duedate": t("Due date"),
    "activitydate": t("Due date"),
    "amount": t("Amount"),
    "estimatedvalue": t("Amount"),
    "description": t("Description"),
}
_OWN_FIELDS = {
    "phone": t("Phone"),
    "email": t("Email"),
    "city": t("City"),
    "language": t("Language"),
    "tier": t("Tier"),
    "subject": t("Subject"),
}
OWN_FIELDS_SHOWN = 4
_PHONE, _EMAIL, _HANDLE = t("Phone"), t("Email"), t("Handle")
_CURRENT = t("Current interaction")
_CURRENT_EMPTY = t("Records created or pinned during this interaction appear here.")
_RELATED = t("Related interactions")
_RELATED_EMPTY = t("No CRM records found for this contact.")
_DATE_LABELS = {"Created", "Updated", "Close date", "Due date"}
DESCRIPTION_EXCERPT = 160


class Render:
    """What every part of the view needs to speak the agent's language."""

    def __init__(
        self, interaction: Interaction, locale: AgentLocale, crm_names: dict[str, str]
    ) -> None:
        self.interaction, self.locale, self.crm_names = interaction, locale, crm_names
        self.is_open = interaction.is_open  # asked by every row: looked up once

    def text(self, text: str) -> str:
        return localize(text, self.locale)

    def type_line(self, record: CrmRecord) -> str:
        """``Case · Salesforce · Open``: type, CRM when several, the CRM's own subtitle."""
        kind = record.ref.type
        parts = [self.text(record_type_text(kind))]
        if len(self.crm_names) > 1:
            parts.append(self.crm_names.get(record.ref.crm, record.ref.crm))
        if record.subtitle:
            parts.append(record.subtitle)
        return " · ".join(parts)


def _value(label: Text, raw: str, render: Render) -> str:
    if label.msgid in _DATE_LABELS:
        try:  # a day ("2026-03-01": a close or due date) has no time nor time zone
            return format_date(date.fromisoformat(raw), render.locale)
        except ValueError:
            pass
        try:
            return format_datetime(
                datetime.fromisoformat(raw.replace("Z", "+00:00")), render.locale
            )
        except ValueError:
            return raw
    if label.msgid == "Amount":
        try:
            return format_number(Decimal(raw), render.locale)
        except ArithmeticError:
            return raw
    if label.msgid == "Description" and len(raw) > DESCRIPTION_EXCERPT:
        return raw[:DESCRIPTION_EXCERPT].rstrip() + "…"
    return raw


def record_type_text(kind: str) -> Text:
    """A record type's name (``Case``), translated where crmcard knows the type."""
    return _RECORD_TYPES.get(kind.lower()) or t(kind.capitalize())


def own_label(name: str, locale: AgentLocale) -> str:
    """A CRM field's own name as a label (translated where crmcard knows the field)."""
    known = _OWN_FIELDS.get(name.lower()) or _KEY_FIELDS.get(name.lower().replace("_", ""))
    return localize(known or t(name.replace("_", " ").capitalize()), locale)


def key_fields(record: CrmRecord, render: Render) -> list[Fact]:
    """The record's key fields: the admin's card-field mappings, else the well-known ones."""
    if record.card_fields:
        return [{"label": k, "value": v} for k, v in record.card_fields.items() if v]
    chosen: dict[str, Fact] = {}
    for name, raw in record.fields.items():
        label = _KEY_FIELDS.get(name.lower().replace("_", ""))
        if label is None or label.msgid in chosen or not raw.strip():
            continue
        chosen[label.msgid] = {"label": render.text(label), "value": _value(label, raw, render)}
    order = list(dict.fromkeys(label.msgid for label in _KEY_FIELDS.values()))
    if chosen:
        return [chosen[m] for m in order if m in chosen]
    return [  # none of the well-known ones (a person): the record's first own fields
        {
            "label": own_label(name, render.locale),
            "value": format_phone(raw) if name == "phone" else raw,
        }
        for name, raw in list(record.fields.items())[:OWN_FIELDS_SHOWN]
        if raw.strip() and not name.endswith(("_id", "Id"))
    ]


@lru_cache(maxsize=256)
def _open_in(crm: str, locale: AgentLocale) -> str:
    """``Open in Salesforce``: on every record row of every card, made once per CRM name."""
    return localize(t("Open in {crm}", crm=crm), locale)


def _record_row(
    render: Render, key: str, expandable: bool, shown_keys: set[str], answer: str = ""
) -> RecordRow:
    interaction = render.interaction
    record = interaction.shown.records[key]
    expanded = expandable and key in interaction.view.expanded
    crm = render.crm_names.get(record.ref.crm, "CRM")
    row: RecordRow = {
        "key": key,
        "title": record.title,
        "typeLine": render.type_line(record),
        "url": record.url,
        "openText": _open_in(crm, render.locale),
        "linked": is_linked(interaction, key),
        "canExpand": expandable and not expanded,
        "expanded": expanded,
        "details": [],
        "children": [],
        "moreChildren": 0,
        "moreChildrenText": "",
        "answer": answer,
        "actions": render.is_open,
    }
    if expanded:
        row["details"] = key_fields(record, render)
        child_keys = [k for k in interaction.shown.related.get(key, []) if k not in shown_keys]
        row["children"] = [
            _record_row(render, child, expandable=False, shown_keys=shown_keys)
            for child in child_keys[:CHILDREN_SHOWN]
        ]
        row["moreChildren"] = more = max(0, len(child_keys) - CHILDREN_SHOWN)
        row["moreChildrenText"] = more_children_text(more, render.locale)
    return row


def _section(
    render: Render,
    section_id: str,
    title: Text,
    record_keys: list[str],
    empty: Text,
    shown_keys: set[str],
    answers: dict[str, str],
    refreshable: bool = False,
) -> Section:
    size = render.interaction.view.page_sizes.get(section_id, DEFAULT_PAGE_SIZE)
    hidden = max(0, len(record_keys) - size)
    return {
        "id": section_id,
        "title": render.text(title),
        "records": [
            _record_row(render, key, True, shown_keys, answers.get(key, ""))
            for key in record_keys[:size]
        ],
        "hidden": hidden,
        "showMoreText": show_more_text(hidden, render.locale),
        "emptyText": render.text(empty),
        "refreshable": refreshable and render.is_open,
    }


def _related_keys(interaction: Interaction) -> list[str]:
    """Person-level records first; after Refresh, the records related to them."""
    shown = interaction.shown
    keys = [*shown.person, *shown.found]
    if interaction.view.related_loaded:
        for person in shown.person:
            keys.extend(shown.related.get(person, []))
    current = set(shown.current)
    return [key for key in dict.fromkeys(keys) if key not in current]


def identifier_text(identifier: Identifier) -> str:
    """As agents read it: phones in international format, addresses as written; a value
    crmcard could not read says so (it was kept, not refused), a message translated where
    it is shown."""
    if not identifier.readable:
        return t("{value} (unreadable)", value=identifier.shown)
    if identifier.kind is IdentifierKind.phone:
        return format_phone(identifier.value)
    return identifier.shown


def shown_identifier(identifier: Identifier, locale: AgentLocale) -> str:
    """:func:`identifier_text` in the agent's language."""
    return localize(identifier_text(identifier), locale)


def _contact_fields(card: CardFace, interaction: Interaction, render: Render) -> list[Fact]:
    fields: list[Fact] = [
        {
            "label": render.text(label),
            "value": ", ".join(shown_identifier(i, render.locale) for i in values),
        }
        for label, values in (
            (_PHONE, card.readings(IdentifierKind.phone)),
            (_EMAIL, card.readings(IdentifierKind.email)),
            (_HANDLE, card.readings(IdentifierKind.handle)),
        )
        if values
    ]
    contacts = [
        interaction.shown.records[key]
        for key in interaction.shown.person
        if interaction.shown.records[key].ref.type == "contact"
    ]
    mapped: dict[str, str] = {}  # dynamic data mappings: each CRM's first contact, in order
    seen_crms: set[str] = set()
    for record in contacts:
        if record.ref.crm not in seen_crms:
            seen_crms.add(record.ref.crm)
            for label, value in record.card_fields.items():
                mapped.setdefault(label, value)
    if mapped:
        fields.extend({"label": label, "value": value} for label, value in mapped.items())
    elif contacts:  # no mappings: the first contact's own fields
        fields.extend(
            {"label": own_label(name, render.locale), "value": value}
            for name, value in contacts[0].fields.items()
            if name not in ("phone", "email")
        )
    return fields


def contact_name(card: CardFace, interaction: Interaction) -> str:
    for key in interaction.shown.person:
        record = interaction.shown.records[key]
        if record.ref.type in ("contact", "lead"):
            return record.title
    if interaction.customer_name or card.display_name:
        return interaction.customer_name or card.display_name or ""
    if not card.identities:
        return t("Unknown contact")
    first = identifier_text(card.identities[0].identifier)
    return t("Unknown contact {identifier}", identifier=first)


def channel_text(channel: str) -> Text:
    return _CHANNEL_LABELS.get(channel) or t(channel.capitalize())


def channel_label(interaction: Interaction) -> Text:
    return channel_text(interaction.channel.value)


def state_label(interaction: Interaction) -> Text:
    return _STATE_LABELS[interaction.state]


@dataclass(frozen=True)
class MergedInto:
    """The merge that moved an interaction off its card: to undo, and whose card it joined."""

    audit_id: str
    name: str


def _merged_text(card: CardFace, name: str) -> Text:
    channels = [channel_text(c) for c in dict.fromkeys(i.channel.value for i in card.identities)]
    return t("Merged into the card of {name} (Channels: {channels}).", name=name, channels=channels)


def _completed(interaction: Interaction, writeback: list[str]) -> Text:
    """The read-only card's headline: finished, and where it was written."""
    if not interaction.writeback_due:
        return _STATE_LABELS[interaction.state]
    titles: list[str] = [
        t("“{title}”", title=interaction.shown.records[k].title)
        for k in interaction.linked_keys()
        if k in interaction.shown.records
    ]
    if not titles:
        return t("Completed: nothing was linked, so nothing was written.")
    if any(is_failure(line) for line in writeback):
        return t("Completed, not everything was written (see below).")
    if any(is_written(line) for line in writeback):
        return t("Completed, written to {records}", records=titles)
    return t("Completed, writing to {records}…", records=titles)


def build_view(
    card: CardFace,
    interaction: Interaction,
    *,
    crm_connected: bool,
    notices: list[str] | None = None,
    refresh_user_ids: list[str] | None = None,
    writeback: list[str] | None = None,
    locale: AgentLocale = ENGLISH,
    crm_names: dict[str, str] | None = None,
    answers: dict[str, str] | None = None,
    has_workflows: bool = True,
    merged_into: MergedInto | None = None,
    icons: str = "/icons",
    creatable: Sequence[str] = ("contact", "lead", "case"),
    past_tickets_url: str = "",
) -> CustomerCardData:
    """``answers``: record key -> the answer to the agent's click, shown on that row
    (notices not about one record are shown on top); ``creatable``: the record types the
    CRM an unknown caller's record goes to can create, offered in that order."""
    render = Render(interaction, locale, crm_names or {})
    answers = {key: render.text(text) for key, text in (answers or {}).items()}
    current = interaction.shown.current
    related = _related_keys(interaction)
    sizes = interaction.view.page_sizes
    shown_keys = {
        *current[: sizes.get("current", DEFAULT_PAGE_SIZE)],
        *related[: sizes.get("related", DEFAULT_PAGE_SIZE)],
    }
    lines = writeback or []
    failed = [render.text(line) for line in lines if is_failure(line)]
    written = [render.text(line) for line in lines if not is_failure(line)]
    is_open = render.is_open
    completed = render.text(_completed(interaction, lines)) if not is_open else ""
    return {
        "language": locale.language,
        "icons": icons,
        "interactionId": interaction.id,
        "rev": interaction.revision,
        "contactName": render.text(contact_name(card, interaction)),
        "channel": render.text(channel_label(interaction)),
        "state": render.text(state_label(interaction)),
        "queue": interaction.queue or "",
        "contactFields": _contact_fields(card, interaction, render),
        "sections": [
            _section(
                render,
                "current",
                _CURRENT,
                current,
                _CURRENT_EMPTY,
                shown_keys,
                answers,
            ),
            _section(
                render,
                "related",
                _RELATED,
                related,
                _RELATED_EMPTY,
                shown_keys,
                answers,
                refreshable=True,
            ),
        ],
        "isOpen": is_open,
        "notices": [render.text(n) for n in notices or []],
        "problems": [render.text(p) for p in interaction.shown.problems.values()],
        "crmConnected": crm_connected,
        "refreshUserIds": list(refresh_user_ids or ()),  # the card's own: sent as it is
        "writeback": written,
        "writebackFailed": failed,
        "completedText": completed,
        "routed": interaction.routing or "",
        "hasWorkflows": has_workflows and is_open and crm_connected,
        "canCreate": crm_connected and is_open and bool(interaction.shown.person),
        "unknownCaller": crm_connected and is_open and not interaction.shown.person,
        "mergedText": render.text(_merged_text(card, merged_into.name)) if merged_into else "",
        "mergedAuditId": merged_into.audit_id if merged_into else "",
        "createTypes": [
            {"label": render.text(_RECORD_TYPES[kind]), "value": kind} for kind in creatable
        ],
        "pastTicketsUrl": past_tickets_url,
    }
