"""The rendered customer card: content from the view, and always small enough for Teams."""

from __future__ import annotations

import json

from bot.adaptive_cards.customer_card import MAX_CARD_BYTES, render_customer_card
from bot.domain import identifiers
from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.identifiers import Channel
from bot.domain.interactions import CardViewState, ShownRecords
from bot.services.card_view import build_view
from tests.domain.factories import T0, interaction, record


def _card() -> CustomerCard:
    return CustomerCard(
        id="card-1",
        tenant_id="t",
        created_at=T0,
        identities=[CardIdentity(channel=Channel.voice, identifier=identifiers.phone("+15550100"))],
    )


def test_no_crm_connected_says_so() -> None:
    card = render_customer_card(build_view(_card(), interaction(), crm_connected=False))
    text = json.dumps(card)
    assert "No CRM is connected yet" in text
    assert "Current interaction" not in text


def test_huge_contact_stays_far_below_teams_limit_with_show_more() -> None:
    people = [record("account", f"A-{n}", "Account with a rather long name " * 3) for n in range(5)]
    children = [
        record("case", f"CS-{n}", "Case subject that goes on and on " * 4) for n in range(400)
    ]
    shown = ShownRecords(
        records={r.ref.key: r for r in [*people, *children]},
        person=[r.ref.key for r in people],
        related={p.ref.key: [c.ref.key for c in children] for p in people},
    )
    current = interaction().model_copy(
        update={
            "shown": shown,
            "view": CardViewState(
                related_loaded=True,
                expanded=[p.ref.key for p in people],
                page_sizes={"related": 500},
            ),
        }
    )
    card = render_customer_card(build_view(_card(), current, crm_connected=True))
    assert len(card.encoded) <= MAX_CARD_BYTES < 28 * 1024
    assert "Show " in json.dumps(card, ensure_ascii=False)  # the rest is one click away


def test_card_shows_sections_and_link_state() -> None:
    view = build_view(_card(), interaction(), crm_connected=True, notices=["Saved."])
    text = json.dumps(render_customer_card(view), ensure_ascii=False)
    for expected in (
        "Contact",
        "Current interaction",
        "Related interactions",
        "Link",
        "+1 5550100",
        "Saved.",
    ):
        assert expected in text
