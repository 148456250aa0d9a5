"""CRM records as the card sees them, whatever CRM they come from.

A record is named by a :class:`RecordRef`: the CRM configuration (its settings ID), the
record type (entity / object) and the CRM's own id. A record to create is a
:class:`NewRecord`: its fields, and its tags as the list they are.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from bot.domain.api_model import Model

PERSON_LEVEL_TYPES = frozenset({"account", "contact", "lead"})


class RecordRef(Model):
    model_config = ConfigDict(frozen=True)

    crm: str = Field(description="settings ID of the CRM configuration")
    type: str
    id: str

    @property
    def key(self) -> str:
        return f"{self.crm}:{self.type}:{self.id}"

    @classmethod
    def parse(cls, key: str) -> RecordRef:
        crm, type_, id_ = key.split(":", 2)
        return cls(crm=crm, type=type_, id=id_)


class CrmRecord(Model):
    """A record snapshot: enough to show it on a card and open it in its CRM."""

    ref: RecordRef
    title: str
    subtitle: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    card_fields: dict[str, str] = Field(
        default_factory=dict,
        description="admin-mapped card field -> value (dynamic data mappings), in mapping order",
    )

    @property
    def is_person_level(self) -> bool:
        return self.ref.type in PERSON_LEVEL_TYPES


TAGGED_KINDS = frozenset({"zendesk", "freshdesk", "kustomer", "demo"})
"""The CRM kinds whose new records carry tags (:attr:`NewRecord.tags`)."""


class NewRecord(Model):
    """What a new record holds, as the card gives it to any CRM's adapter to create."""

    model_config = ConfigDict(frozen=True)

    fields: dict[str, str] = Field(
        description="the CRM's own field names (a workflow's, an admin's) or the card's "
        "neutral ones, which every adapter writes to the fields its CRM has: ``subject`` (a "
        "case's title), ``name`` (a person's or account's; a person's is split into first "
        "and last name where the CRM keeps them apart), ``phone`` and ``email``"
    )
    tags: tuple[str, ...] = Field(
        default=(),
        description="the record's tags, each whole (a comma is part of its tag), written as "
        "its CRM takes them where it has tags (Zendesk, Freshdesk, Kustomer cases, the demo "
        "CRM); the other CRMs have none and ignore them",
    )
