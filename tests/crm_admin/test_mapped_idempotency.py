"""Field mappings must not cost a CRM its idempotent timeline writes."""

from __future__ import annotations

from pathlib import Path

from bot.adapters.crm.demo import DemoCrm
from bot.adapters.crm.mapped import MappedCrm, with_mappings
from bot.domain.crm_config import FieldMapping
from bot.domain.records import RecordRef
from bot.services.writeback_ports import IdempotentTimeline

MAPPINGS = [FieldMapping(crm_field="language", card_field="Language")]
EDWARD = RecordRef(crm="demo", type="contact", id="C-2001")


async def test_mapped_demo_stays_idempotent(tmp_path: Path) -> None:
    client = with_mappings(DemoCrm(data_file=tmp_path / "demo.json"), MAPPINGS)
    assert isinstance(client, MappedCrm) and isinstance(client, IdempotentTimeline)
    first = await client.create_timeline_activity(EDWARD, "Call", "notes", external_id="key-1")
    again = await client.create_timeline_activity(EDWARD, "Call", "notes", external_id="key-1")
    assert again.ref == first.ref
    found = await client.find_timeline_activity(EDWARD, "key-1")
    assert found is not None and found.ref == first.ref
    record = await client.get(EDWARD)
    assert record.card_fields == {"Language": "English"}


class PlainCrm(DemoCrm):
    """A CRM without idempotent timeline writes."""

    find_timeline_activity = None  # type: ignore[assignment]


async def test_mappings_do_not_invent_idempotency(tmp_path: Path) -> None:
    client = with_mappings(PlainCrm(data_file=tmp_path / "demo.json"), MAPPINGS)
    assert isinstance(client, MappedCrm) and not isinstance(client, IdempotentTimeline)
    assert with_mappings(client, []) is client
