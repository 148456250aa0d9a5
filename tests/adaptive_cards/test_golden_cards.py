"""The customer card, exactly as an agent gets it, for a fixed set of interactions.

Each state (a call with two CRMs, answers, notices and a CRM that did not answer; the
first paint while a CRM is still answering; an unknown caller; a merged card; a completed
card; no CRM; contacts too big for one card) is rendered in English, German and French
and compared, as JSON text, with ``golden/customer_card.<language>.json``: a change to how
the card is built must not change what is sent. When the card is meant to change, write
the files anew (``CRMCARD_WRITE_GOLDEN=1 pytest tests/adaptive_cards/test_golden_cards.py``)
and read their diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot.adaptive_cards.customer_card import MAX_CARD_BYTES, render_customer_card
from bot.domain.cards import CardIdentity
from bot.domain.identifiers import Channel, email
from bot.domain.interactions import CardViewState, LifecycleEvent, ShownRecords
from bot.domain.records import CrmRecord, RecordRef
from bot.i18n import LANGUAGES, AgentLocale, t
from bot.services.card_view import MergedInto, build_view
from tests.adaptive_cards.test_customer_card import _card
from tests.adaptive_cards.test_localized_cards import (
    TWO_CRMS,
    _case,
    _open_state,
    customer_cards,
)
from tests.domain.factories import event, interaction, record

GOLDEN = Path(__file__).parent / "golden"


def _first_paint(locale: AgentLocale) -> dict[str, Any]:
    """A new call: a contact with its own fields, another CRM's contact with mapped card
    fields, a pinned case with mapped key fields, both expanded, and Salesforce still
    answering."""
    contact = CrmRecord(
        ref=RecordRef(crm="demo", type="contact", id="C-7"),
        title="Marianne Dashwood",
        url="https://crm.example/contact/7",
        fields={
            "phone": "+15550123",
            "email": "marianne@example.com",
            "city": "Barton",
            "tier": "Gold",
            "account_id": "A-7",
        },
    )
    mapped = CrmRecord(
        ref=RecordRef(crm="sf", type="contact", id="003X"),
        title="Marianne Dashwood",
        card_fields={"Job title": "Poet", "Time zone": "London"},
    )
    case = CrmRecord(
        ref=RecordRef(crm="demo", type="case", id="CS-1"),
        title="Piano out of tune",
        subtitle="Open",
        card_fields={"Severity": "2", "Empty": ""},
        fields={"Status": "Open", "Updated": "2026-11-22T18:45:00Z", "Amount": "not a number"},
    )
    lead = record("lead", "L-1", "Willoughby")
    records = [contact, mapped, case, lead]
    started = interaction().model_copy(
        update={
            "queue": "Sales FR",
            "routing": "Sales · French · Silver",
            "customer_name": "M. Dashwood",
            "history": [event(LifecycleEvent.assigned)],
            "shown": ShownRecords(
                records={r.ref.key: r for r in records},
                person=[contact.ref.key, mapped.ref.key, lead.ref.key],
                current=[case.ref.key],
                related={contact.ref.key: [case.ref.key, lead.ref.key]},
                problems={"sf": t("{crm} is still answering…", crm="Salesforce")},
            ),
            "view": CardViewState(expanded=[case.ref.key, contact.ref.key]),
        }
    )
    card = _card().model_copy(
        update={
            "identities": [
                *_card().identities,
                CardIdentity(channel=Channel.email, identifier=email("marianne@example.com")),
            ]
        }
    )
    return render_customer_card(
        build_view(
            card,
            started,
            crm_connected=True,
            crm_names=TWO_CRMS,
            locale=locale,
            refresh_user_ids=["29:agent-1", "29:supervisor-1"],
            icons="https://bot.example/icons",
            has_workflows=False,
        )
    )


def _unknown_caller(locale: AgentLocale) -> dict[str, Any]:
    nobody = interaction(records=0).model_copy(
        update={"history": [event(LifecycleEvent.assigned), event(LifecycleEvent.connected, 1)]}
    )
    return render_customer_card(
        build_view(
            _card(),
            nobody,
            crm_connected=True,
            locale=locale,
            creatable=("lead", "contact", "ticket"),
            past_tickets_url="https://crm.example/tickets?caller=1",
        )
    )


def _merged(locale: AgentLocale) -> dict[str, Any]:
    current, people, _ = _open_state(cases=2, expanded_children=2)
    own = people[0].model_copy(
        update={"fields": {"phone": "+15550100", "language": "en", "tier": "Gold", "city": "Paris"}}
    )
    shown = current.shown.model_copy(
        update={"records": {**current.shown.records, own.ref.key: own}}
    )
    return render_customer_card(
        build_view(
            _card(),
            current.model_copy(update={"merged_from": "card-0", "shown": shown}),
            crm_connected=True,
            locale=locale,
            merged_into=MergedInto(audit_id="merge-" + "3" * 32, name="Edward Ferrars"),
            notices=["Saved."],
        )
    )


def _paged_rows(locale: AgentLocale) -> dict[str, Any]:
    """400 related cases: the rows that do not fit are left for "show more"."""
    current, _, _ = _open_state(cases=400, expanded_children=0)
    return render_customer_card(
        build_view(_card(), current, crm_connected=True, crm_names=TWO_CRMS, locale=locale)
    )


def _paged_children(locale: AgentLocale) -> dict[str, Any]:
    """Eight expanded accounts of ten cases each: their children are moved out of sight
    first, then rows."""
    accounts = [
        record("account", f"A-{n}", "Account with a rather long name " * 2) for n in range(8)
    ]
    cases = {a.ref.key: [_case(100 * n + m) for m in range(10)] for n, a in enumerate(accounts)}
    every = [*accounts, *(c for found in cases.values() for c in found)]
    current = interaction().model_copy(
        update={
            "shown": ShownRecords(
                records={r.ref.key: r for r in every},
                person=[a.ref.key for a in accounts],
                related={key: [c.ref.key for c in found] for key, found in cases.items()},
            ),
            "view": CardViewState(expanded=[a.ref.key for a in accounts]),
        }
    )
    return render_customer_card(build_view(_card(), current, crm_connected=True, locale=locale))


def golden_cards(locale: AgentLocale) -> dict[str, dict[str, Any]]:
    return {
        **customer_cards(locale),
        "first-paint": _first_paint(locale),
        "unknown-caller": _unknown_caller(locale),
        "merged": _merged(locale),
        "paged-rows": _paged_rows(locale),
        "paged-children": _paged_children(locale),
    }


def _text(cards: dict[str, dict[str, Any]]) -> str:
    return json.dumps(cards, ensure_ascii=False, indent=1) + "\n"


@pytest.mark.parametrize("language", LANGUAGES)
def test_customer_cards_are_sent_as_they_were(language: str) -> None:
    cards = golden_cards(AgentLocale.of(language, "Europe/Paris"))
    path = GOLDEN / f"customer_card.{language}.json"
    if os.environ.get("CRMCARD_WRITE_GOLDEN"):
        path.write_text(_text(cards), encoding="utf-8")
    assert _text(cards) == path.read_text(encoding="utf-8")
    assert max(len(card.encoded) for card in cards.values()) <= MAX_CARD_BYTES
