"""GDPR for one data subject: find them, export what crmcard keeps, erase it everywhere.

A subject is found by phone, e-mail or card id; merges are followed both ways (a card it
was merged into, the cards merged into it; not an undone merge), so every card of the
person is included.
Their cards hold the identifiers and names that identify them (:mod:`bot.domain.data_subjects`).

- **Export**: their cards, interactions, write-back recovery copies, the audit entries
  that name them and their archived tickets, as one JSON document, with the keys of the
  shared documents (indexes) that name them too (not their content: others are in it).
- **Erase**: every document of the tenant is read once. Documents that are theirs (store
  keys naming one of their cards, interactions or identifiers: cards, merge markers,
  index entries, interactions, outbox items and their due markers) and merge audits of
  their cards are deleted; any other document naming them (audit entries, name blocks,
  CRM references, agent inboxes, caller lookups) is scrubbed: their texts become their
  pseudonym and references to their cards disappear. Tickets they raised are deleted from
  the archive. The erase itself is audited under the pseudonym only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, model_validator

from bot.domain import identifiers
from bot.domain.api_model import ApiModel
from bot.domain.cards import CustomerCard
from bot.domain.data_subjects import DataSubject, mentions, names_in, scrub
from bot.domain.errors import InvalidIdentifier
from bot.domain.interactions import Interaction
from bot.domain.merge import MarkerRole, MergeAudit, MergeMarker, MergeState
from bot.errors import Conflict, NotFound
from bot.i18n import t
from bot.services import audit, keys, name_index, tenant_settings
from bot.services.cards import cards_reached_by
from bot.services.store import NotFound as NoDocument
from bot.services.store import PreconditionFailed, Store, read_model
from bot.services.ticketing.archive import TicketArchive

ATTEMPTS = 5  # compare-and-swap retries of one scrubbed document


class SubjectQuery(ApiModel):
    """How the admin names the person: any of phone, e-mail or card id."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = None
    email: str | None = None
    card_id: str | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> SubjectQuery:
        if not (self.phone or self.email or self.card_id):
            raise ValueError(t("give a phone, an email or a cardId"))
        return self


class ErasureReport(ApiModel):
    pseudonym: str
    cards: int
    interactions: int
    documents_deleted: int
    documents_scrubbed: int
    tickets_deleted: int | None
    """None: the ticket archive cannot erase by requester (not configured)."""


async def find(
    store: Store, tenant_id: str, query: SubjectQuery, default_region: str
) -> DataSubject:
    """The subject's cards (merges followed both ways), interactions and identifying texts."""
    subject = DataSubject(tenant_id=tenant_id)
    region = await tenant_settings.default_region(store, tenant_id, default_region)
    waiting: set[str] = {query.card_id} if query.card_id else set()
    for raw, read in ((query.phone, _phone(region)), (query.email, identifiers.email)):
        if raw:
            subject.add_text(raw)
            with contextlib.suppress(InvalidIdentifier):
                waiting |= await cards_reached_by(store, tenant_id, read(raw))
    while waiting:
        card_id = waiting.pop()
        card = await read_model(store, keys.card(tenant_id, card_id), CustomerCard)
        if card is None or card_id in subject.card_ids:
            continue
        subject.card_ids.add(card_id)
        subject.add_text(card.display_name)
        for identity in card.identities:
            subject.add_text(identity.identifier.value, identity.identifier.given)
        subject.interaction_ids.update(card.interaction_ids)
        waiting |= await _merged_with(store, tenant_id, card_id) - subject.card_ids
    for interaction_id in sorted(subject.interaction_ids):
        interaction = await read_model(
            store, keys.interaction(tenant_id, interaction_id), Interaction
        )
        if interaction is None:
            continue
        subject.add_text(interaction.customer_name)
        for identity in interaction.identities:
            subject.add_text(identity.identifier.value, identity.identifier.given)
        # The CRM's contact for them: as found, pinned (a screen pop, one created during
        # the interaction) or linked by the agent.
        shown = interaction.shown
        for key in dict.fromkeys([*shown.person, *shown.current, *interaction.linked_keys()]):
            record = shown.records.get(key)
            if record is not None and record.ref.type in ("contact", "lead"):
                subject.add_text(record.title)
    return subject


def _phone(region: str) -> Any:
    return lambda raw: identifiers.phone(raw, region)


async def _merged_with(store: Store, tenant_id: str, card_id: str) -> set[str]:
    """Cards this one was merged into, and cards merged into it (an undone merge made
    them separate cards again: the other card is another person's)."""
    found: set[str] = set()
    marker = await read_model(store, keys.card_merge(tenant_id, card_id), MergeMarker)
    if marker is not None and marker.role is MarkerRole.absorbed:
        found.add(marker.survivor_id)
    for audit_id in await name_index.history(store, tenant_id, card_id):
        merge = await read_model(store, keys.audit(tenant_id, audit_id), MergeAudit)
        if merge is not None and merge.state is not MergeState.undone:
            found |= {merge.survivor_id, merge.absorbed_id}
    found.discard(card_id)
    return found


def _owned(subject: DataSubject, key: str) -> bool:
    """Is the document under ``key`` the subject's own (deleted, not scrubbed)?"""
    segments = keys.segments(key)
    return bool(set(segments) & subject.ids) or names_in(subject, "/".join(segments), ids=False)


def _names_them(subject: DataSubject, text: str) -> bool:
    return mentions(subject, text) or any(f'"{i}"' in text for i in subject.ids)


async def _tenant_documents(store: Store, tenant_id: str) -> AsyncIterator[tuple[str, str]]:
    """Every document of the tenant (its global markers included), as key and text."""
    prefixes = (
        keys.tenant_prefix(tenant_id),
        keys.OUTBOX_DUE_PREFIX + keys.tenant_prefix(tenant_id),
        keys.UNFINISHED_MERGES_PREFIX + keys.tenant_prefix(tenant_id),
    )
    found = [key for prefix in prefixes async for key in store.keys(prefix)]
    for key in found:  # listed first: erasing must not change a listing under way
        document = await store.read(key)
        if document is not None:
            yield key, document.data.decode("utf-8", "replace")


async def export(
    store: Store,
    tenant_id: str,
    query: SubjectQuery,
    default_region: str,
    tickets: TicketArchive | None = None,
) -> dict[str, Any]:
    """Everything crmcard keeps about the subject, as one JSON-ready document."""
    subject = await _found(store, tenant_id, query, default_region)
    documents: dict[str, list[Any]] = {
        "cards": [],
        "interactions": [],
        "writebacks": [],
        "auditEntries": [],
        "other": [],
    }
    async for key, text in _tenant_documents(store, tenant_id):
        if not (_owned(subject, key) or _names_them(subject, text)):
            continue
        section = _section(tenant_id, key)
        if section == "other":  # shared documents (indexes): where they are named, no more
            documents[section].append(key)
            continue
        if section == "auditEntries":  # a batch of card clicks: only the subject's entries
            documents[section].extend(_their_entries(subject, text))
            continue
        with contextlib.suppress(ValueError):
            documents[section].append(json.loads(text))
    found_tickets = (
        await tickets.requester_tickets(tenant_id, **_contacts(subject))
        if tickets is not None
        else []
    )
    return {
        "tenantId": tenant_id,
        "cardIds": sorted(subject.card_ids),
        "interactionIds": sorted(subject.interaction_ids),
        **documents,
        "tickets": [t.model_dump(mode="json", by_alias=True) for t in found_tickets],
    }


def _their_entries(subject: DataSubject, text: str) -> list[Any]:
    """An audit document's entries that name the subject (a batch holds other people's)."""
    try:
        entries = audit.entries_in(text.encode())
    except ValueError:
        return []
    dumped = [e.model_dump(mode="json", by_alias=True) for e in entries]
    return [e for e in dumped if _names_them(subject, json.dumps(e, ensure_ascii=False))]


def _section(tenant_id: str, key: str) -> str:
    for prefix, name in (
        (keys.cards_prefix(tenant_id), "cards"),
        (keys.tenant_prefix(tenant_id) + "interactions/", "interactions"),
        (keys.outbox_prefix(tenant_id), "writebacks"),
        (keys.audit_log_prefix(tenant_id), "auditEntries"),
    ):
        if key.startswith(prefix):
            return name
    return "other"


def _contacts(subject: DataSubject) -> dict[str, list[str]]:
    emails = sorted(t for t in subject.texts if "@" in t)
    phones = sorted(t for t in subject.texts if t.startswith("+") and t[1:].isdigit())
    return {"emails": emails, "phones": phones}


async def _found(
    store: Store, tenant_id: str, query: SubjectQuery, default_region: str
) -> DataSubject:
    subject = await find(store, tenant_id, query, default_region)
    if not subject.card_ids:
        raise NotFound(t("no card of this tenant matches that phone, email or card id"))
    return subject


async def erase(
    store: Store,
    tenant_id: str,
    query: SubjectQuery,
    default_region: str,
    actor: audit.Actor,
    now: datetime,
    tickets: TicketArchive | None = None,
) -> ErasureReport:
    """Erase the subject everywhere in the tenant; what was erased."""
    subject = await _found(store, tenant_id, query, default_region)
    deleted = scrubbed = 0
    async for key, text in _tenant_documents(store, tenant_id):
        named = _names_them(subject, text)
        merge_audit = named and key.startswith(keys.audit_prefix(tenant_id))
        if _owned(subject, key) or merge_audit:
            with contextlib.suppress(NoDocument):
                await store.delete(key)
            deleted += 1
        elif named:
            scrubbed += await _scrub(store, key, subject)
    erased_tickets = (
        await tickets.erase_requester(tenant_id, **_contacts(subject))
        if tickets is not None
        else None
    )
    report = ErasureReport(
        pseudonym=subject.pseudonym,
        cards=len(subject.card_ids),
        interactions=len(subject.interaction_ids),
        documents_deleted=deleted,
        documents_scrubbed=scrubbed,
        tickets_deleted=erased_tickets,
    )
    await audit.record(
        store,
        tenant_id,
        actor,
        "gdpr.erase",
        at=now,
        target=subject.pseudonym,
        details=report.model_dump(by_alias=True, exclude={"pseudonym"}),
    )
    return report


async def _scrub(store: Store, key: str, subject: DataSubject) -> int:
    """Rewrite one document without the subject (compare-and-swap); 1 if it changed."""
    for _ in range(ATTEMPTS):
        document = await store.read(key)
        if document is None:
            return 0
        try:
            value = json.loads(document.data)
        except ValueError:
            return 0  # not JSON (sealed secrets, token caches): holds no subject text
        cleaned = scrub(subject, value)
        if cleaned == value:
            return 0
        try:
            await store.replace(key, json.dumps(cleaned).encode(), document.etag)
            return 1
        except (PreconditionFailed, NoDocument):
            continue
    raise Conflict(t("{key} kept changing while it was being erased; run the erase again", key=key))
