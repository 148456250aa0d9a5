"""A CRM contact pinned or linked on a data subject's interaction names them too.

A call whose caller gave no name and whose number no CRM knows is still theirs once the
card opens on their contact (a screen pop by account number, a contact created during
the call, one pinned from a shared card): that contact's name is written back, audited
and kept, and an erase has to find it there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.storage.local import LocalStore
from bot.domain.identifiers import Channel
from bot.domain.links import pin_record
from bot.domain.records import CrmRecord, RecordRef
from bot.services import audit, data_subjects, keys
from bot.services.cards import attach_interaction, resolve_card
from bot.services.store import create_model
from tests.domain.factories import interaction

TENANT = "t-pinned"
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
EDWARD = CrmRecord(ref=RecordRef(crm="demo", type="contact", id="C-9"), title="Edward Ferrars")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalStore]:
    local = LocalStore(tmp_path / "pinned.sqlite3")
    yield local
    await local.close()


async def test_the_name_of_a_contact_pinned_on_their_call_is_erased(store: LocalStore) -> None:
    unknown = interaction(Channel.voice, records=0)  # the number found no contact
    card, _ = await resolve_card(store, TENANT, unknown.identities, None, NOW)
    found = unknown.model_copy(update={"id": "call-1", "tenant_id": TENANT, "card_id": card.id})
    call = pin_record(found, EDWARD, actor="agent-1", now=NOW)
    await create_model(store, keys.interaction(TENANT, call.id), call)
    await attach_interaction(store, TENANT, card.id, call.id)
    # What the write-back of the call leaves in the audit stream.
    await audit.record(
        store,
        TENANT,
        audit.SYSTEM,
        "writeback.delivered",
        at=NOW,
        target=EDWARD.ref.key,
        details={"interactionId": call.id, "recordTitle": EDWARD.title, "attempts": 1},
    )

    query = data_subjects.SubjectQuery(phone="+1 555 0100")  # the factory's number
    exported = await data_subjects.export(store, TENANT, query, "US")
    assert [e["details"]["recordTitle"] for e in exported["auditEntries"]] == [EDWARD.title]
    await data_subjects.erase(store, TENANT, query, "US", audit.SYSTEM, NOW)
    async for key in store.keys(""):
        document = await store.read(key)
        assert document is not None and b"Edward Ferrars" not in document.data, key
