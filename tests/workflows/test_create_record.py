"""A create workflow's record: its fields, and its tags where the CRM has tags.

A script or an agent types a ``tags`` field as a list is written ("billing, refunds");
Zendesk, Freshdesk and Kustomer take tags as an array, so the workflow makes them the new
record's tags, each whole. A CRM without tags keeps ``tags`` as a field like any other.
"""

from __future__ import annotations

import pytest

from bot.domain.records import NewRecord
from bot.domain.workflows import CreateWorkflow, ExecuteRequest, create_record

CASE = CreateWorkflow(
    id="vip-case",
    variant="custom",
    record_type="case",
    fields=["subject", "tags"],
    defaults={"tags": "vip"},
)


@pytest.mark.parametrize("kind", ["zendesk", "freshdesk", "kustomer", "demo"])
def test_a_tags_field_is_the_records_tags_in_a_crm_with_tags(kind: str) -> None:
    request = ExecuteRequest(fields={"subject": "Refund", "tags": " billing, refunds ,, "})

    assert create_record(CASE, request, kind) == NewRecord(
        fields={"subject": "Refund"}, tags=("billing", "refunds")
    )


def test_the_workflows_default_tags_apply_when_none_are_typed() -> None:
    request = ExecuteRequest(fields={"subject": "Refund"})

    assert create_record(CASE, request, "zendesk").tags == ("vip",)


@pytest.mark.parametrize("kind", ["salesforce", "rest", None])
def test_a_tags_field_stays_a_field_in_a_crm_without_tags(kind: str | None) -> None:
    request = ExecuteRequest(fields={"subject": "Refund", "tags": "billing, refunds"})

    assert create_record(CASE, request, kind) == NewRecord(
        fields={"subject": "Refund", "tags": "billing, refunds"}
    )
