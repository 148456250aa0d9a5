"""Dynamic data mappings: an admin's "CRM field -> card field" list, applied to records.

:class:`MappedCrm` wraps any adapter and fills :attr:`CrmRecord.card_fields` of every
record it returns, so the card's Contact section can show the mapped labels whatever the
vendor. A mapping's CRM field is ``field`` (any record type) or ``Type.field`` (one record
type: Salesforce object / Dataverse entity names, compared case-insensitively with the
card's record type). Adapters that rename mapped fields themselves (Salesforce,
Dynamics) are covered too: the value is looked up under the CRM name, then under the
card name the adapter already gave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.crm_config import FieldMapping
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.services.crm import CrmClient, SearchCriteria
from bot.services.writeback_ports import IdempotentTimeline

# Card record types per vendor object name, where they differ beyond case.
_TYPE_ALIASES = {"user": "contact", "organization": "account", "org": "account"}


def _applies(prefix: str, record_type: str) -> bool:
    if not prefix:
        return True
    wanted = prefix.lower()
    return wanted == record_type.lower() or _TYPE_ALIASES.get(wanted) == record_type.lower()


def apply_mappings(record: CrmRecord, mappings: Sequence[FieldMapping]) -> CrmRecord:
    """The record with ``card_fields`` filled from its ``fields`` per ``mappings``."""
    if not mappings:
        return record
    card_fields: dict[str, str] = {}
    for mapping in mappings:
        if mapping.card_field in card_fields:
            continue  # the first mapping to a card field wins
        prefix, _, name = mapping.crm_field.rpartition(".")
        value = record.fields.get(mapping.crm_field)  # dotted vendor names (name.first)
        if value is None and _applies(prefix, record.ref.type):
            value = record.fields.get(name)
            if value is None:
                value = record.fields.get(mapping.card_field)  # the adapter renamed it
        if value not in (None, ""):
            card_fields[mapping.card_field] = value
    if not card_fields:
        return record
    return record.model_copy(update={"card_fields": card_fields})


class MappedCrm:
    """A CrmClient that adds the configuration's mapped card fields to every record."""

    def __init__(self, inner: CrmClient, mappings: Sequence[FieldMapping]) -> None:
        self.inner = inner
        self.mappings = list(mappings)

    @property
    def settings_id(self) -> str:
        return self.inner.settings_id

    @property
    def display_name(self) -> str:
        return self.inner.display_name

    def _map(self, record: CrmRecord) -> CrmRecord:
        return apply_mappings(record, self.mappings)

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        return [self._map(r) for r in await self.inner.search(criteria)]

    async def get(self, ref: RecordRef) -> CrmRecord:
        return self._map(await self.inner.get(ref))

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        return [self._map(r) for r in await self.inner.related(ref)]

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        return self._map(await self.inner.create(record_type, record, related_to))

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        return self._map(await self.inner.update(ref, fields))

    async def create_timeline_activity(
        self,
        ref: RecordRef,
        subject: str,
        description: str,
        *,
        activity_type: str = "task",
        **options: Any,
    ) -> CrmRecord:
        # ``options``: what the inner adapter also takes, such as ``external_id``.
        return await self.inner.create_timeline_activity(
            ref, subject, description, activity_type=activity_type, **options
        )


class MappedIdempotentCrm(MappedCrm):
    """Mappings over a CRM whose timeline writes are idempotent: it stays idempotent."""

    async def find_timeline_activity(self, ref: RecordRef, external_id: str) -> CrmRecord | None:
        inner: IdempotentTimeline = self.inner  # type: ignore[assignment]
        return await inner.find_timeline_activity(ref, external_id)


def with_mappings(inner: CrmClient, mappings: Sequence[FieldMapping]) -> CrmClient:
    """``inner`` with the configuration's mappings applied, keeping what else it can do."""
    if not mappings:
        return inner
    wrapper = MappedIdempotentCrm if isinstance(inner, IdempotentTimeline) else MappedCrm
    return wrapper(inner, mappings)
