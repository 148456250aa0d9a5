"""The audit stream: one append-only log per tenant of who did what, when, through which door.

Every link, unlink, merge and undo, every write-back outcome (delivered or parked) and
every admin change (CRM connections, mappings, workflows, policies, routing, keys,
consent, tenant settings) is one :class:`AuditEntry`, written once under
:func:`bot.services.keys.audit_entry` and never changed afterwards (the single exception
is GDPR erase, :func:`rewrite`). Admin changes carry the state before and after, with
every secret-looking field redacted: an audit entry never holds a secret.

A card click's link or unlink is carried in its interaction document and written here in
batches (:mod:`bot.services.audit_feed`): one :class:`AuditBatch` document holds many
entries, and an entry copied twice (by two instances) is read once, by its id.

Entries are kept for a retention of their own (``CRMCARD_AUDIT_RETENTION_DAYS``, default
one year), independent of the 90-day purge of write-back recovery copies; the key starts
with the entry's UTC day, so a date-range query or a retention sweep lists keys and reads
only the days it needs.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.api_model import ApiModel
from bot.services import keys
from bot.services.store import (
    AlreadyExists,
    NotFound,
    Store,
    create_model,
    put_model,
    read_model,
    update,
)

M = TypeVar("M", bound=BaseModel)

DEFAULT_RETENTION_DAYS = 365
REDACTED = "***"

_SECRET_NAMES = frozenset(
    {
        "secret",
        "password",
        "clientsecret",
        "privatekey",
        "apikey",
        "token",
        "accesstoken",
        "refreshtoken",
        "sealedsecret",
        "keyhash",
        "hash",
        "certificate",
    }
)


class Door(StrEnum):
    """Where an action came in."""

    teams = "teams"  # the bot (card actions in a chat or meeting)
    tab = "tab"  # the personal tab / side panel
    api = "api"  # the HTTP APIs (admin API, webhook, workflows)
    cli = "cli"  # the operator's command line against the store
    system = "system"  # crmcard itself (the write-back worker)


@dataclass(frozen=True)
class Actor:
    """Who acts, and through which door: the two facts every audit entry starts with."""

    id: str
    door: Door


SYSTEM = Actor("crmcard", Door.system)


class AuditEntry(ApiModel):
    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    at: datetime
    actor: str
    door: Door
    kind: str = Field(description="what happened, e.g. card.link, crm.update, key.revoke")
    target: str | None = Field(None, description="what it happened to (an id or record key)")
    before: Any = Field(None, description="admin changes: the state before (no secrets)")
    after: Any = Field(None, description="admin changes: the state after (no secrets)")
    details: dict[str, Any] = Field(default_factory=dict)


class AuditBatch(ApiModel):
    """Several entries of one tenant and UTC day in one document (card clicks, batched)."""

    model_config = ConfigDict(frozen=True)

    entries: list[AuditEntry]


def _is_batch(data: bytes) -> bool:
    return data.lstrip().startswith(b'{"entries"')


def entries_in(data: bytes) -> list[AuditEntry]:
    """The entries of one stored document: a single entry or a batch."""
    if _is_batch(data):
        return AuditBatch.model_validate_json(data).entries
    return [AuditEntry.model_validate_json(data)]


@dataclass(frozen=True)
class AuditQuery:
    """Filters of :func:`query`; ``kind`` matches exactly or as a prefix (``crm`` -> ``crm.*``)."""

    actor: str | None = None
    kind: str | None = None
    door: Door | None = None
    target: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    limit: int = 1000

    def matches(self, entry: AuditEntry) -> bool:
        return (
            (self.actor is None or entry.actor == self.actor)
            and (
                self.kind is None
                or entry.kind == self.kind
                or entry.kind.startswith(self.kind + ".")
            )
            and (self.door is None or entry.door is self.door)
            and (self.target is None or entry.target == self.target)
            and (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
        )


def redact(value: Any) -> Any:
    """``value`` with every secret-looking field (secret, password, token ...) masked."""
    if isinstance(value, dict):
        return {
            name: (
                REDACTED
                if _is_secret_name(name) and item not in (None, "", False)
                else redact(item)
            )
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _is_secret_name(name: object) -> bool:
    return isinstance(name, str) and name.replace("_", "").replace("-", "").lower() in _SECRET_NAMES


def _day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


async def record(
    store: Store,
    tenant_id: str,
    actor: Actor,
    kind: str,
    *,
    at: datetime,
    target: str | None = None,
    before: Any = None,
    after: Any = None,
    details: dict[str, Any] | None = None,
    entry_id: str | None = None,
) -> AuditEntry:
    """Append one entry to the tenant's audit stream (secrets redacted) and return it.

    ``entry_id``: for an event that a retry may report again (a merge), a stable id makes
    the entry once only: the second report of that day finds it and changes nothing.
    """
    entry = AuditEntry(
        id=entry_id or new_entry_id(at),
        tenant_id=tenant_id,
        at=at,
        actor=actor.id,
        door=actor.door,
        kind=kind,
        target=target,
        before=redact(before),
        after=redact(after),
        details=redact(details or {}),
    )
    with contextlib.suppress(AlreadyExists):
        await create_model(store, keys.audit_entry(tenant_id, _day(at), entry.id), entry)
    return entry


def new_entry_id(at: datetime, salt: str | None = None) -> str:
    """An entry's id: its time first (entries sort by it), then a random or derived part."""
    # 48 random bits, as uuid4's first twelve hex digits hold, at a fifth of its cost
    tail = hashlib.sha256(salt.encode()).hexdigest()[:12] if salt else os.urandom(6).hex()
    return f"{_compact_time(at)}-{tail}"


def _compact_time(at: datetime) -> str:
    """``20261201T161946538565Z``: ``at.strftime("%Y%m%dT%H%M%S%fZ")``, its second written
    once (strftime, even isoformat, was the slow part of a click's audit entry)."""
    second = _compact_second(at.year, at.month, at.day, at.hour, at.minute, at.second)
    return f"{second}{at.microsecond:06d}Z"


@lru_cache(maxsize=4)
def _compact_second(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str:
    return f"{year:04d}{month:02d}{day:02d}T{hour:02d}{minute:02d}{second:02d}"


async def record_batch(store: Store, tenant_id: str, entries: list[AuditEntry]) -> None:
    """Append entries (already redacted) to the tenant's stream: one document per UTC day."""
    by_day: dict[str, list[AuditEntry]] = {}
    for entry in entries:
        by_day.setdefault(_day(entry.at), []).append(entry)
    for day, found in by_day.items():
        batch = AuditBatch(entries=found)
        key = keys.audit_entry(tenant_id, day, f"{found[0].id}-batch-{os.urandom(4).hex()}")
        await create_model(store, key, batch)


async def record_change(
    store: Store,
    tenant_id: str,
    actor: Actor,
    kind: str,
    *,
    at: datetime,
    target: str | None,
    before: BaseModel | dict[str, Any] | None,
    after: BaseModel | dict[str, Any] | None,
) -> AuditEntry | None:
    """An admin change with its before/after as JSON; nothing is recorded when equal."""
    old, new = _as_json(before), _as_json(after)
    if old == new:
        return None
    return await record(store, tenant_id, actor, kind, at=at, target=target, before=old, after=new)


async def write_audited(
    store: Store,
    tenant_id: str,
    key: str,
    model: type[M],
    value: M | None,
    actor: Actor,
    kind: str,
    *,
    at: datetime,
    target: str | None,
) -> M | None:
    """Store ``value`` under ``key`` (``None``: delete it) and audit the change; what was
    there before (``None``: nothing, and a delete then changes and records nothing)."""
    before = await read_model(store, key, model)
    if value is not None:
        await put_model(store, key, value)
    elif before is not None:
        await store.delete(key)
    else:
        return None
    await record_change(
        store, tenant_id, actor, kind, at=at, target=target, before=before, after=value
    )
    return before


def _as_json(value: BaseModel | dict[str, Any] | None) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return value


async def _entry_keys(
    store: Store, tenant_id: str, since: datetime | None, until: datetime | None
) -> AsyncIterator[str]:
    prefix = keys.audit_log_prefix(tenant_id)
    first = _day(since) if since is not None else None
    last = _day(until) if until is not None else None
    async for key in store.keys(prefix):
        day = key[len(prefix) :].split("/", 1)[0]
        if (first is None or day >= first) and (last is None or day <= last):
            yield key


async def query(store: Store, tenant_id: str, asked: AuditQuery | None = None) -> list[AuditEntry]:
    """The tenant's entries matching ``asked``, oldest first, at most ``asked.limit``."""
    asked = asked or AuditQuery()
    found: dict[str, AuditEntry] = {}
    async for key in _entry_keys(store, tenant_id, asked.since, asked.until):
        document = await store.read(key)
        for entry in entries_in(document.data) if document is not None else []:
            if entry.tenant_id == tenant_id and asked.matches(entry):
                found.setdefault(entry.id, entry)  # copied twice: read once
    ordered = sorted(found.values(), key=lambda e: (e.at, e.id))
    return ordered[: max(0, asked.limit)]


async def purge_expired(store: Store, tenant_id: str, cutoff: datetime) -> int:
    """Delete the tenant's entries of days wholly before ``cutoff``; how many went."""
    prefix = keys.audit_log_prefix(tenant_id)
    last_kept_day = _day(cutoff)
    doomed = [
        key
        async for key in store.keys(prefix)
        if key[len(prefix) :].split("/", 1)[0] < last_kept_day
    ]
    for key in doomed:
        with contextlib.suppress(NotFound):
            await store.delete(key)
    return len(doomed)


async def rewrite(store: Store, tenant_id: str, change: Callable[[AuditEntry], AuditEntry]) -> int:
    """Apply ``change`` to every entry of the tenant; how many changed.

    The one exception to append-only, for GDPR erase (pseudonymizing a data subject).
    ``change`` returns its argument for entries it leaves alone.
    """
    changed = 0
    async for key in _entry_keys(store, tenant_id, None, None):
        document = await store.read(key)
        if document is None:
            continue
        before = entries_in(document.data)
        try:
            if _is_batch(document.data):
                after = (await update(store, key, AuditBatch, _each(change))).entries
            else:
                after = [await update(store, key, AuditEntry, change)]
        except NotFound:
            continue
        changed += sum(a != b for a, b in zip(after, before, strict=False))
    return changed


def _each(change: Callable[[AuditEntry], AuditEntry]) -> Callable[[AuditBatch], AuditBatch]:
    def apply(batch: AuditBatch) -> AuditBatch:
        entries = [change(entry) for entry in batch.entries]
        if all(a is b for a, b in zip(entries, batch.entries, strict=True)):
            return batch
        return batch.model_copy(update={"entries": entries})

    return apply


CSV_COLUMNS = ("at", "actor", "door", "kind", "target", "before", "after", "details", "id")


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """The entries as CSV (RFC 4180); structured columns hold compact JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            [
                entry.at.isoformat(),
                _cell(entry.actor),
                entry.door.value,
                entry.kind,
                _cell(entry.target or ""),
                _json_cell(entry.before),
                _json_cell(entry.after),
                _json_cell(entry.details or None),
                entry.id,
            ]
        )
    return out.getvalue()


def _json_cell(value: Any) -> str:
    return "" if value is None else _cell(json.dumps(value, separators=(",", ":"), sort_keys=True))


def _cell(text: str) -> str:
    """No spreadsheet formula injection: a cell starting with = + - @ is quoted with '."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
