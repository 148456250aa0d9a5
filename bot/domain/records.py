"""CRM records as the card sees them, whatever CRM they come from.

A record is named by a :class:`RecordRef`: the CRM configuration (its settings ID), the
record type (entity / object) and the CRM's own id.
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
