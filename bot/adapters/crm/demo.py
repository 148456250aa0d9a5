"""The built-in demo CRM: a real adapter over a local JSON data set.

It behaves like a vendor adapter (search, related records, create) so the whole product
can be tried on one machine, and keeps created records in a file of its own. Its fields
are the card's neutral names (``name``, ``subject``, ``phone``, ``email``, ``status``);
a record reopened by a policy (``reopen``) gets the status asked for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.i18n import t
from bot.services.crm import InvalidRecord, RecordNotFound, SearchCriteria, neutral_update

Row = dict[str, str]

_ID_PREFIX = {
    "account": "A",
    "contact": "C",
    "lead": "L",
    "case": "CS",
    "opportunity": "O",
    "task": "T",
}
_PERSON_TYPES = ("account", "contact", "lead")


def _subtitle(record_type: str, row: Row) -> str:
    details: dict[str, Callable[[Row], list[str]]] = {
        "account": lambda r: [r.get("industry", ""), r.get("tier", "")],
        "contact": lambda r: [r.get("title", "")],
        "lead": lambda r: [r.get("company", ""), r.get("status", "")],
        "case": lambda r: [r.get("status", ""), r.get("priority", "")],
        "opportunity": lambda r: [r.get("stage", "")],  # its amount: a field, in the agent's format
        "task": lambda r: [r.get("status", "")],
    }
    detail = details.get(record_type)
    return " · ".join(part for part in (detail(row) if detail else []) if part)


class DemoCrm:
    """Demo data per tenant; ``data_file`` keeps records created during interactions."""

    creatable = frozenset({"contact", "lead", "case"})
    """What the card offers to create here for an unknown caller or a case."""

    def __init__(
        self,
        settings_id: str = "demo",
        data_file: Path | None = None,
        latency: float = 0.0,
        extra_fields: Sequence[str] = (),
    ) -> None:
        self._settings_id = settings_id
        self._extra_fields = tuple(extra_fields)  # fields a data mapping needs on records
        self._data_file = data_file
        self._latency = latency
        self._tables = self._load()

    @property
    def settings_id(self) -> str:
        return self._settings_id

    @property
    def display_name(self) -> str:
        return "Demo CRM"

    def _load(self) -> dict[str, list[Row]]:
        if self._data_file is not None and self._data_file.exists():
            tables: dict[str, list[Row]] = json.loads(self._data_file.read_text())
            return tables
        seed = resources.files("bot.adapters.crm").joinpath("demo_data.json").read_text()
        tables = json.loads(seed)
        return tables

    def _save(self) -> None:
        if self._data_file is None:
            return
        self._data_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self._data_file.with_suffix(".tmp")
        partial.write_text(json.dumps(self._tables, indent=1))
        partial.replace(self._data_file)

    async def _pause(self) -> None:
        if self._latency:
            await asyncio.sleep(self._latency)

    def _record(self, record_type: str, row: Row) -> CrmRecord:
        title = row.get("name") or row.get("subject") or row["id"]
        shown = ["phone", "email", "city", "language", "priority", "status", "stage", "amount"]
        shown += [name for name in self._extra_fields if name not in shown]
        return CrmRecord(
            ref=RecordRef(crm=self._settings_id, type=record_type, id=row["id"]),
            title=title,
            subtitle=_subtitle(record_type, row),
            fields={name: row[name] for name in shown if row.get(name)},
        )

    def _rows(self, record_type: str) -> list[Row]:
        return self._tables.get(record_type, [])

    def _find(self, record_type: str, record_id: str) -> Row:
        for row in self._rows(record_type):
            if row["id"] == record_id:
                return row
        raise RecordNotFound(
            t(
                "Demo CRM has no {record_type} {record_id}",
                record_type=record_type,
                record_id=repr(record_id),
            )
        )

    def _where(self, record_type: str, **equals: str) -> list[CrmRecord]:
        return [
            self._record(record_type, row)
            for row in self._rows(record_type)
            if all(row.get(field) == value for field, value in equals.items())
        ]

    async def search(self, criteria: SearchCriteria) -> list[CrmRecord]:
        await self._pause()
        name = (criteria.name or "").strip().lower()
        found: list[CrmRecord] = []
        for record_type in criteria.record_types or _PERSON_TYPES:
            for row in self._rows(record_type):
                if (
                    row.get("phone") in criteria.phones
                    or row.get("email", "").lower() in criteria.emails
                    or (name and name in row.get("name", "").lower())
                ):
                    found.append(self._record(record_type, row))
                    if row.get("account_id") and "account" in (
                        criteria.record_types or _PERSON_TYPES
                    ):
                        found.append(
                            self._record("account", self._find("account", row["account_id"]))
                        )
        return list({record.ref.key: record for record in found}.values())

    async def get(self, ref: RecordRef) -> CrmRecord:
        await self._pause()
        return self._record(ref.type, self._find(ref.type, ref.id))

    async def related(self, ref: RecordRef) -> list[CrmRecord]:
        await self._pause()
        row = self._find(ref.type, ref.id)
        owner = {"account": "account_id", "contact": "contact_id"}.get(ref.type)
        records: list[CrmRecord] = []
        for parent_field, parent_type in (("account_id", "account"), ("contact_id", "contact")):
            if row.get(parent_field):
                parent = self._find(parent_type, row[parent_field])
                records.append(self._record(parent_type, parent))
        if owner is not None:
            for child_type in ("contact", "case", "opportunity", "task"):
                records.extend(self._where(child_type, **{owner: ref.id}))
        if ref.type == "contact" and row.get("account_id"):
            records.extend(self._where("opportunity", account_id=row["account_id"]))
        unique = {record.ref.key: record for record in records if record.ref != ref}
        return list(unique.values())

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        await self._pause()
        if record_type not in _ID_PREFIX:
            raise InvalidRecord(
                t("Demo CRM has no record type {record_type}", record_type=repr(record_type))
            )
        if not (record.fields.get("name") or record.fields.get("subject")):
            raise InvalidRecord(t("a new record needs a name or subject"))
        rows = self._tables.setdefault(record_type, [])
        row: dict[str, Any] = {
            **record.fields,
            "id": f"{_ID_PREFIX[record_type]}-{9001 + len(rows)}",
        }
        if record.tags:  # the demo's fields are text (Row): its tags show as one field
            row["tags"] = ",".join(record.tags)
        if related_to is not None:
            related_row = self._find(related_to.type, related_to.id)
            if related_to.type in ("account", "contact"):
                row[f"{related_to.type}_id"] = related_to.id
            if related_row.get("account_id"):
                row.setdefault("account_id", related_row["account_id"])
        rows.append(row)
        self._save()
        return self._record(record_type, row)

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        await self._pause()
        row = self._find(ref.type, ref.id)
        changed = neutral_update(fields)
        row.update({name: value for name, value in changed.items() if name != "id"})
        self._save()
        return self._record(ref.type, row)

    async def create_timeline_activity(
        self,
        ref: RecordRef,
        subject: str,
        description: str,
        *,
        activity_type: str = "task",
        outbound: bool = False,
        external_id: str | None = None,
    ) -> CrmRecord:
        """Idempotent with ``external_id``: the task already holding it is returned."""
        if external_id is not None:
            existing = await self.find_timeline_activity(ref, external_id)
            if existing is not None:
                return existing
        fields = {"subject": subject, "description": description, "status": "Completed"}
        if external_id is not None:
            fields["external_id"] = external_id
        return await self.create("task", NewRecord(fields=fields), related_to=ref)

    async def find_timeline_activity(self, ref: RecordRef, external_id: str) -> CrmRecord | None:
        """The timeline task created with ``external_id``, if any."""
        await self._pause()
        for row in self._rows("task"):
            if row.get("external_id") == external_id:
                return self._record("task", row)
        return None
