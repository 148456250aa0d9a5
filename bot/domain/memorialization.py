"""Data memorialization: what crmcard writes into the linked CRM records, and when.

Pure rules, no I/O: the admin's mapping (crmcard interaction field -> CRM field, with
an optional per-target maximum length) per CRM configuration, the values an interaction
offers, the visible truncation of long values (to the mapping's lengths, crmcard's own
and the CRM's :class:`TextLimits`, once, where the payload is built, so its ``truncated``
names every cut), the trigger and the target records, and one idempotency key per
(interaction, record, kind of write).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cache

from pydantic import ConfigDict, Field, field_validator

from bot.domain.api_model import ApiModel, Model
from bot.domain.identifiers import IdentifierKind
from bot.domain.interactions import Direction, Interaction, LifecycleEvent
from bot.domain.records import RecordRef
from bot.i18n import Text, t

TRUNCATION_MARKER = "…[truncated]"
TIMELINE_SUBJECT_MAX = 255
TIMELINE_DESCRIPTION_MAX = 32_000
"""The longest timeline activity description, its reference line included (a Salesforce
Task's Description holds 32,000 characters)."""


@dataclass(frozen=True)
class TextLimits:
    """The longest texts one CRM record takes where its CRM documents a limit of its own
    (a Dataverse task's description holds 2,000 characters): the record's fields by the
    names a write-back gives them (the mapping's targets), a timeline activity's subject
    and description, its reference line included. None, or no entry: crmcard's own limits
    only (:data:`TIMELINE_SUBJECT_MAX`, :data:`TIMELINE_DESCRIPTION_MAX`, a rule's
    ``max_length``)."""

    fields: Mapping[str, int] = field(default_factory=dict)
    timeline_subject: int | None = None
    timeline_description: int | None = None


NO_LIMITS = TextLimits()
"""A CRM that takes whatever crmcard's own limits let through."""


def _shortest(*limits: int | None) -> int | None:
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None


class SourceField(StrEnum):
    """The interaction fields crmcard can write into a CRM record."""

    contact_name = "contactName"
    phone = "phone"
    email = "email"
    channel = "channel"
    direction = "direction"
    queue = "queue"
    start = "start"
    end = "end"
    duration = "duration"
    agent = "agent"
    disposition = "disposition"
    notes = "notes"
    transcript = "transcript"
    call_id = "callId"
    menu_path = "menuPath"
    language = "language"


SOURCE_LABELS: dict[SourceField, Text] = {
    SourceField.contact_name: t("Contact"),
    SourceField.phone: t("Phone"),
    SourceField.email: t("Email"),
    SourceField.channel: t("Channel"),
    SourceField.direction: t("Direction"),
    SourceField.queue: t("Queue"),
    SourceField.start: t("Start"),
    SourceField.end: t("End"),
    SourceField.duration: t("Duration"),
    SourceField.agent: t("Agent"),
    SourceField.disposition: t("Disposition"),
    SourceField.notes: t("Notes"),
    SourceField.transcript: t("Transcript"),
    SourceField.call_id: t("Call ID"),
    SourceField.menu_path: t("Menu path"),
    SourceField.language: t("Language"),
}
"""Each field's name: in English in the timeline activity's description (the CRM's text),
in the reader's language where the card names what was cut (:func:`cut_labels`)."""

# Wrap-up data the platform may send with an event (Interaction.details keys); call id,
# menu path and language come from the events' session details.
DETAIL_FIELDS = (SourceField.disposition, SourceField.notes, SourceField.transcript)


class WriteKind(StrEnum):
    fields = "fields"
    timeline = "timeline"


class _Config(ApiModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMapping(_Config):
    source: SourceField
    target: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    max_length: int | None = Field(
        None, ge=len(TRUNCATION_MARKER) + 1, le=1_000_000, description="the target's limit"
    )


class TimelineSettings(_Config):
    enabled: bool = True
    activity_type: str = Field("task", pattern=r"^(task|phonecall)$")


class MemorializationMapping(_Config):
    """One CRM configuration's mapping, as its admin saved it."""

    fields: list[FieldMapping] = Field(default_factory=list, max_length=100)
    timeline: TimelineSettings = Field(default_factory=TimelineSettings)

    @field_validator("fields")
    @classmethod
    def _one_source_per_target(cls, fields: list[FieldMapping]) -> list[FieldMapping]:
        targets = [f.target for f in fields]
        duplicates = sorted({t for t in targets if targets.count(t) > 1})
        if duplicates:
            raise ValueError(
                t("each CRM field may be mapped once; repeated: {fields}", fields=str(duplicates))
            )
        return fields


@cache
def default_mapping() -> MemorializationMapping:
    """Unconfigured CRMs: no record fields, a timeline activity where the CRM has one.
    Made by the first write-back that needs it: making it builds the mapping's models."""
    return MemorializationMapping()


def truncate(value: str, max_length: int | None) -> tuple[str, bool]:
    """``value`` cut to ``max_length`` with a visible marker; (value, was it cut)."""
    if max_length is None or len(value) <= max_length:
        return value, False
    keep = max(0, max_length - len(TRUNCATION_MARKER))
    return value[:keep] + TRUNCATION_MARKER, True


def _duration(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


_ENDS = (LifecycleEvent.ended, LifecycleEvent.transferred, LifecycleEvent.unassigned)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def interaction_values(interaction: Interaction) -> dict[SourceField, str]:
    """Every field the interaction has a value for, as text."""
    values: dict[SourceField, str] = {}
    name = interaction.customer_name
    for key in interaction.shown.person:
        record = interaction.shown.records.get(key)
        if record is not None and record.ref.type in ("contact", "lead"):
            name = record.title
            break
    if name:
        values[SourceField.contact_name] = name
    for identity in interaction.identities:
        kind = identity.identifier.kind
        if kind is IdentifierKind.phone:
            values.setdefault(SourceField.phone, identity.identifier.value)
        elif kind is IdentifierKind.email:
            values.setdefault(SourceField.email, identity.identifier.value)
    values[SourceField.channel] = interaction.channel.value
    values[SourceField.direction] = interaction.direction.value
    if interaction.queue:
        values[SourceField.queue] = interaction.queue
    if interaction.history:
        start = interaction.history[0].occurred_at
        for event in interaction.history:
            if event.event is LifecycleEvent.connected:
                start = event.occurred_at
                break
        values[SourceField.start] = _iso(start)
        ends = [e.occurred_at for e in interaction.history if e.event in _ENDS]
        if ends:  # the last: a transferred call ends when its last agent ends it
            values[SourceField.end] = _iso(ends[-1])
            values[SourceField.duration] = _duration((ends[-1] - start).total_seconds())
    values[SourceField.agent] = interaction.agent.name or interaction.agent.aad_object_id
    values[SourceField.call_id] = interaction.id
    session: dict[str, str] = {}
    for event in interaction.history:  # later events' session details win
        session.update(event.session)
    for source in (SourceField.call_id, SourceField.menu_path, SourceField.language):
        if session.get(source.value):
            values[source] = session[source.value]
    for source in DETAIL_FIELDS:
        if interaction.details.get(source.value):
            values[source] = interaction.details[source.value]
    return values


class WritePayload(Model):
    """What one linked record receives; built once when the trigger fires."""

    fields: dict[str, str] = Field(default_factory=dict)
    truncated: list[str] = Field(
        default_factory=list,
        description="what was cut to fit: crmcard fields (to their CRM field), "
        "'timeline subject', 'timeline description'; a CRM field by its own name when it "
        "was cut at delivery",
    )
    timeline_subject: str | None = None
    note_subject: str = Field(
        "Interaction",
        description="subject of the note holding the fields, for CRMs that cannot update records",
    )
    timeline_description: str | None = None
    activity_type: str = "task"
    outbound: bool = Field(False, description="the agent called (wrote to) the customer")

    @property
    def kinds(self) -> list[WriteKind]:
        kinds: list[WriteKind] = []
        if self.fields:
            kinds.append(WriteKind.fields)
        if self.timeline_subject is not None:
            kinds.append(WriteKind.timeline)
        return kinds


def timeline_subject(
    interaction: Interaction, values: dict[SourceField, str], max_length: int | None = None
) -> tuple[str, bool]:
    """The timeline activity's subject, cut to :data:`TIMELINE_SUBJECT_MAX` or the shorter
    ``max_length``; (subject, was it cut)."""
    what = "Call" if interaction.channel.is_voice else interaction.channel.value.capitalize()
    who = values.get(SourceField.contact_name) or values.get(SourceField.phone) or ""
    subject = f"{what} ({interaction.direction.value})" + (f" with {who}" if who else "")
    return truncate(subject, _shortest(TIMELINE_SUBJECT_MAX, max_length))


def _description_room(limits: TextLimits) -> int:
    """The longest timeline description a CRM with ``limits`` takes before its reference
    line (:func:`with_reference`)."""
    most = limits.timeline_description or TIMELINE_DESCRIPTION_MAX
    return min(most, TIMELINE_DESCRIPTION_MAX) - _REFERENCE_ROOM


_REFERENCE_LINE = "\n\ncrmcard reference: "


def with_reference(description: str, key: str) -> str:
    """A timeline activity's description and its line naming the write-back's
    idempotency key (found again by it where the CRM cannot keep an external id)."""
    return f"{description}{_REFERENCE_LINE}{key}"


def fit(text: str, max_length: int) -> str:
    """``text`` cut to ``max_length`` with a visible marker (:func:`truncate`); a
    description's reference line (:func:`with_reference`) stays whole after its cut body,
    so the activity is still found by it."""
    if len(text) <= max_length:
        return text
    body, line, key = text.rpartition(_REFERENCE_LINE)
    if line and "\n" not in key and len(line + key) < max_length:
        return truncate(body, max_length - len(line + key))[0] + line + key
    return truncate(text, max_length)[0]


_KEY_DIGITS = 32
_REFERENCE_ROOM = len(with_reference("", "crmcard-" + "0" * _KEY_DIGITS))


def build_payload(
    interaction: Interaction, mapping: MemorializationMapping, limits: TextLimits = NO_LIMITS
) -> WritePayload:
    """What one record of a CRM with ``limits`` receives, every text cut to fit, and which
    were cut (``truncated``: crmcard source fields, "timeline subject", "timeline
    description"). Nothing is cut after this but for a CRM whose limits were not known
    then (:func:`fitted_to`, at delivery)."""
    values = interaction_values(interaction)
    fields: dict[str, str] = {}
    truncated: list[str] = []
    for rule in mapping.fields:
        value = values.get(rule.source)
        if value is None:
            continue
        longest = _shortest(rule.max_length, limits.fields.get(rule.target))
        fields[rule.target], cut = truncate(value, longest)
        if cut and rule.source.value not in truncated:
            truncated.append(rule.source.value)
    subject, subject_cut = timeline_subject(interaction, values, limits.timeline_subject)
    payload = WritePayload(
        fields=fields,
        truncated=truncated,
        note_subject=subject,
        outbound=interaction.direction is Direction.outbound,
    )
    if mapping.timeline.enabled:
        lines = [f"{SOURCE_LABELS[source]}: {value}" for source, value in values.items()]
        description, cut = truncate("\n".join(lines), _description_room(limits))
        if subject_cut:
            payload.truncated.append("timeline subject")
        if cut:
            payload.truncated.append("timeline description")
        payload.timeline_subject = subject
        payload.timeline_description = description
        payload.activity_type = mapping.timeline.activity_type
    return payload


def fitted_to(payload: WritePayload, limits: TextLimits) -> WritePayload:
    """``payload`` with what is still longer than ``limits`` cut (:func:`truncate`) and
    named in ``truncated``: a CRM field by its own name. A payload built for its CRM's
    limits (:func:`build_payload`) comes back unchanged; one built without them (its CRM
    was not connected when the write-back fell due, or a version before the CRM's limits
    were known) is cut here, at delivery, and says so, instead of the adapter cutting it
    unseen."""
    cuts: list[str] = []

    def cut(value: str, longest: int | None, name: str) -> str:
        value, was_cut = truncate(value, longest)
        if was_cut:
            cuts.append(name)
        return value

    fields = {
        name: cut(value, limits.fields.get(name), name) for name, value in payload.fields.items()
    }
    subject = payload.timeline_subject
    if subject is not None:
        subject = cut(
            subject, _shortest(TIMELINE_SUBJECT_MAX, limits.timeline_subject), "timeline subject"
        )
    description = payload.timeline_description
    if description is not None:
        description = cut(description, _description_room(limits), "timeline description")
    if not cuts:
        return payload
    return payload.model_copy(
        update={
            "fields": fields,
            "truncated": list(dict.fromkeys([*payload.truncated, *cuts])),
            "timeline_subject": subject,
            "timeline_description": description,
        }
    )


_CUT_LABELS: dict[str, Text] = {source.value: label for source, label in SOURCE_LABELS.items()} | {
    "timeline subject": t("Timeline subject"),
    "timeline description": t("Timeline description"),
}


def cut_labels(truncated: list[str]) -> list[str]:
    """What a payload's ``truncated`` names, as a reader's language says it: crmcard's
    fields (:data:`SOURCE_LABELS`) and the timeline activity's parts translated, a CRM
    field cut at delivery (:func:`fitted_to`) by its CRM name."""
    return [_CUT_LABELS.get(name, name) for name in truncated]


def writeback_targets(interaction: Interaction) -> list[RecordRef]:
    """Every linked record (pinned ones are linked); nothing for unlinked ones."""
    if not interaction.writeback_due:
        return []
    return [RecordRef.parse(key) for key in interaction.linked_keys()]


def idempotency_key(tenant_id: str, interaction_id: str, record: RecordRef, kind: WriteKind) -> str:
    """Stable for one (interaction, record, kind): retries and replays reuse it."""
    text = f"{tenant_id}\n{interaction_id}\n{record.key}\n{kind.value}"
    digest = hashlib.sha256(text.encode())
    return f"crmcard-{digest.hexdigest()[:_KEY_DIGITS]}"
