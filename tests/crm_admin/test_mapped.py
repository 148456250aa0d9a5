"""apply_mappings: the card fields a record gets, whichever way the adapter named them."""

from __future__ import annotations

from bot.adapters.crm.mapped import apply_mappings
from bot.domain.crm_config import FieldMapping
from bot.domain.records import CrmRecord, RecordRef


def record(crm_type: str, **fields: str) -> CrmRecord:
    return CrmRecord(ref=RecordRef(crm="c", type=crm_type, id="1"), title="x", fields=fields)


def maps(*pairs: tuple[str, str]) -> list[FieldMapping]:
    return [FieldMapping(crm_field=crm, card_field=card) for crm, card in pairs]


def test_type_prefixes_are_matched_case_insensitively():
    mappings = maps(("Contact.Title", "Job title"), ("Account.Industry", "Industry"))
    assert apply_mappings(record("contact", Title="CTO"), mappings).card_fields == {
        "Job title": "CTO"
    }
    assert apply_mappings(record("account", Title="CTO"), mappings).card_fields == {}


def test_fields_renamed_by_the_adapter_are_found_under_the_card_name():
    # Salesforce and Dynamics rename mapped fields themselves ("Title" -> "Job title")
    mapped = apply_mappings(record("contact", **{"Job title": "CTO"}), maps(("Title", "Job title")))
    assert mapped.card_fields == {"Job title": "CTO"}


def test_dotted_vendor_names_empty_values_and_first_mapping_wins():
    mappings = maps(
        ("name.first", "First name"),  # Oracle's flattened names
        ("nickname", "Known as"),
        ("email", "Known as"),
        ("empty", "Empty"),
    )
    mapped = apply_mappings(
        record("contact", **{"name.first": "Jane", "email": "j@x.example", "empty": ""}), mappings
    )
    assert mapped.card_fields == {"First name": "Jane", "Known as": "j@x.example"}


def test_vendor_object_aliases():
    mapped = apply_mappings(record("contact", role="admin"), maps(("user.role", "Role")))
    assert mapped.card_fields == {"Role": "admin"}
