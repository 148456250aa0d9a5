"""Every card crmcard renders, in every language: translated, valid, and small enough.

Each state of the customer card (open, linked and expanded, completed with a partial
write-back, no CRM) and every other card (welcome, merge, workflows, open interactions)
is rendered in English, German and French and handed to Microsoft's ``adaptivecards``
parser, which must report nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.adaptive_cards.customer_card import (
    MAX_CARD_BYTES,
    render_customer_card,
    render_message,
    render_welcome,
)
from bot.adaptive_cards.merge_cards import (
    CandidatesView,
    CandidateView,
    ConfirmView,
    HistoryView,
    render_candidates,
    render_confirm,
    with_undo_banner,
)
from bot.adaptive_cards.open_interactions import OpenInteractionView, render_open_interactions
from bot.adaptive_cards.workflow_cards import (
    InputView,
    WorkflowsView,
    WorkflowView,
    render_workflows,
)
from bot.domain import identifiers
from bot.domain.cards import CardIdentity, CustomerCard
from bot.domain.identifiers import Channel, IdentifierKind
from bot.domain.interactions import CardViewState, LifecycleEvent, LinkState, ShownRecords
from bot.domain.memorialization import WritePayload
from bot.domain.records import CrmRecord, RecordRef
from bot.i18n import LANGUAGES, AgentLocale, localize, t
from bot.services import merge_candidates
from bot.services.card_view import build_view
from bot.services.outbox import OutboxItem, OutboxStatus, summarize
from tests.adaptive_cards.parser import parser_messages
from tests.adaptive_cards.test_customer_card import _card
from tests.cards import actions
from tests.domain.factories import T0, event, interaction, record
from tests.i18n.test_catalogues import english_shown

TWO_CRMS = {"demo": "Demo CRM", "sf": "Salesforce"}


def _case(n: int, crm: str = "demo") -> CrmRecord:
    return CrmRecord(
        ref=RecordRef(crm=crm, type="case", id=f"CS-{n}"),
        title=f"Case {n}: printer on fire again " * 2,
        subtitle="Open",
        url=f"https://crm.example/case/{n}",
        fields={
            "CaseNumber": f"000{n}",
            "Status": "Open",
            "Priority": "High",
            "CreatedDate": "2026-11-20T09:30:00Z",
            "Amount": "12345.5",
            "Description": "The customer says the printer caught fire. " * 10,
        },
    )


def _open_state(cases: int, expanded_children: int) -> Any:
    people = [record("contact", "C-1", "Edward Ferrars"), record("account", "A-1", "Norland")]
    children = [_case(n) for n in range(cases)]
    pinned = _case(999, crm="sf")
    current = interaction().model_copy(
        update={
            "queue": "Support DE",
            "routing": "Gold · German",
            "history": [event(LifecycleEvent.assigned), event(LifecycleEvent.connected, 1)],
            "links": {pinned.ref.key: LinkState(linked=True, rev=1, by="agent-1", at=T0)},
            "shown": ShownRecords(
                records={r.ref.key: r for r in [*people, *children, pinned]},
                person=[r.ref.key for r in people],
                current=[pinned.ref.key],
                related={people[0].ref.key: [c.ref.key for c in children]},
                problems={"sf": "Salesforce did not answer in time."},
            ),
            "view": CardViewState(
                related_loaded=expanded_children == 0,
                expanded=[people[0].ref.key, pinned.ref.key],
                page_sizes={"related": max(8, cases)},
            ),
        }
    )
    return current, people, pinned


def _writeback_lines(pinned: CrmRecord) -> list[str]:
    def item(status: OutboxStatus, **more: Any) -> OutboxItem:
        return OutboxItem(
            tenant_id="t",
            interaction_id="i-1",
            record=pinned.ref,
            record_title=pinned.title,
            payload=WritePayload(truncated=["notes"]),
            steps=[],
            status=status,
            next_attempt_at=T0,
            created_at=T0,
            updated_at=T0,
            **more,
        )

    return summarize(
        [item(OutboxStatus.done), item(OutboxStatus.parked, parked_reason="not supported")]
    )


def customer_cards(locale: AgentLocale) -> dict[str, dict[str, Any]]:
    current, people, pinned = _open_state(cases=3, expanded_children=3)
    answers = {people[0].ref.key: t("Linked: this interaction is written here when it ends.")}
    completed = current.model_copy(
        update={
            "history": [
                *current.history,
                event(LifecycleEvent.ended, 5),
                event(LifecycleEvent.acw_completed, 7),
            ]
        }
    )
    card = _card()
    return {
        "call": render_customer_card(
            build_view(
                card,
                current,
                crm_connected=True,
                crm_names=TWO_CRMS,
                locale=locale,
                answers=answers,
                notices=[t("Created “{title}” and linked it to this interaction.", title="X")],
            )
        ),
        "completed": render_customer_card(
            build_view(
                card,
                completed,
                crm_connected=True,
                locale=locale,
                writeback=_writeback_lines(pinned),
            )
        ),
        "no-crm": render_customer_card(
            build_view(card, interaction(), crm_connected=False, locale=locale)
        ),
    }


def other_cards(locale: AgentLocale) -> dict[str, dict[str, Any]]:
    language = locale.language
    ids = {"interaction_id": "i-1", "rev": 3}
    customer = customer_cards(locale)["call"]
    return {
        "welcome": render_welcome(demo=True, locale=locale),
        "welcome-group": render_welcome(demo=True, personal=False, locale=locale),
        "message": render_message(
            t("Welcome to crmcard"), t("You have no interaction yet."), locale
        ),
        "merge-candidates": render_candidates(
            CandidatesView(
                language=language,
                contact_name="Edward Ferrars",
                heading="…",
                candidates=[
                    CandidateView(card_id="c-2", name="Edward Ferrars", reasons=["…"], lines=["…"])
                ],
                empty_text="…",
                history=[HistoryView(audit_id="merge-" + "0" * 32, text="…")],
                **ids,
            )
        ),
        "merge-confirm": render_confirm(
            ConfirmView(
                language=language,
                other_card_id="c-2",
                merge_id="merge-" + "1" * 32,
                survivor_text="…",
                survivor_name="Edward Ferrars",
                survivor_lines=["…"],
                absorbed_name="Edward Ferrars",
                absorbed_lines=["…"],
                reasons=["…"],
                undo_days=30,
                **ids,
            )
        ),
        "merged": with_undo_banner(customer, "…", "i-1", 3, "merge-" + "2" * 32, locale),
        "workflows": render_workflows(
            WorkflowsView(
                language=language,
                contact_name="Edward Ferrars",
                workflows=[
                    WorkflowView(
                        workflow_id="find",
                        title="Find",
                        description="…",
                        run_title="…",
                        icon="search",
                        inputs=[InputView(id="wf.find.phone", label="…", value="+15550100")],
                    )
                ],
                **ids,
            )
        ),
        "no-workflows": render_workflows(
            WorkflowsView(language=language, contact_name="E", workflows=[], **ids)
        ),
        "open-interactions": render_open_interactions(
            [OpenInteractionView(interaction_id="i-1", rev=3, name="Edward", line="…")], language
        ),
        "no-open-interactions": render_open_interactions([], language),
    }


def _all_cards() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (language, name, card)
        for language in LANGUAGES
        for make in (customer_cards, other_cards)
        for name, card in make(AgentLocale.of(language, "Europe/Paris")).items()
    ]


def test_every_card_in_every_language_parses_without_warnings() -> None:
    cards = _all_cards()
    reports = parser_messages([card for _, _, card in cards])
    problems = {
        f"{language}/{name}": report
        for (language, name, _), report in zip(cards, reports, strict=True)
        if report
    }
    assert problems == {}


@pytest.mark.parametrize("language", ["de", "fr"])
def test_no_english_in_a_german_or_french_card(language: str) -> None:
    for _, name, card in [c for c in _all_cards() if c[0] == language]:
        assert english_shown(card, language) == [], f"{name} ({language}) shows English"


@pytest.mark.parametrize("language", LANGUAGES)
def test_customer_card_at_the_record_cap_stays_under_teams_limit(language: str) -> None:
    current, _, _ = _open_state(cases=400, expanded_children=0)  # all 400 in one section
    view = build_view(
        _card(),
        current,
        crm_connected=True,
        crm_names=TWO_CRMS,
        locale=AgentLocale.of(language),
    )
    card = render_customer_card(view)
    assert len(card.encoded) <= MAX_CARD_BYTES < 28 * 1024
    [show_more] = actions(card, "showMore")  # the rest is one click away
    wanted = {"en": r"Show \d+ more", "de": r"\d+ weitere zeigen", "fr": r"Afficher \d+ de plus"}
    assert re.fullmatch(wanted[language], show_more["title"]), show_more["title"]


def test_german_card_formats_numbers_dates_and_phones_for_the_agent() -> None:
    current, _, _ = _open_state(cases=1, expanded_children=1)
    card = render_customer_card(
        build_view(
            _card(),
            current,
            crm_connected=True,
            locale=AgentLocale.of("de-DE", "Europe/Berlin"),
        )
    )
    text = json.dumps(card, ensure_ascii=False)
    assert "12.345,5" in text  # the amount, German digit grouping
    assert "20.11.26, 10:30" in text  # 09:30 UTC in Berlin, German short date
    assert "+1 5550100" in text and "+15550100" not in text  # international format
    assert "Nummer" in text and "Priorität" in text and "Beschreibung" in text


@pytest.mark.parametrize(
    ("tag", "zone", "shown"),
    [
        ("de-DE", "Europe/Berlin", "01.03.2026"),
        ("fr-FR", "Europe/Paris", "1 mars 2026"),
        ("en-US", "America/New_York", "Mar 1, 2026"),
    ],
)
def test_a_date_without_time_is_shown_as_that_day_in_every_time_zone(
    tag: str, zone: str, shown: str
) -> None:
    """Salesforce's CloseDate and ActivityDate are days ("2026-03-01"), not instants:
    no midnight-UTC time beside them, and not the day before west of Greenwich."""
    deal = CrmRecord(
        ref=RecordRef(crm="sf", type="opportunity", id="006A"),
        title="Renewal",
        fields={"StageName": "Prospecting", "CloseDate": "2026-03-01"},
    )
    current = interaction().model_copy(
        update={
            "shown": ShownRecords(records={deal.ref.key: deal}, found=[deal.ref.key]),
            "view": CardViewState(expanded=[deal.ref.key]),
        }
    )
    view = build_view(_card(), current, crm_connected=True, locale=AgentLocale.of(tag, zone))
    [row] = view["sections"][1]["records"]
    assert row["details"][-1]["value"] == shown


UNREADABLE_CALLER = {
    "en": "Unknown contact anonymous (unreadable)",
    "de": "Unbekannter Kontakt anonymous (nicht lesbar)",
    "fr": "Contact inconnu anonymous (illisible)",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_caller_with_a_withheld_number_is_named_in_the_agents_language(language: str) -> None:
    """Platforms send a withheld number as "anonymous": kept as given, and the card and
    the merge candidates name that caller in the agent's language."""
    withheld = identifiers.read(
        IdentifierKind.phone, "anonymous", channel=Channel.voice, default_region="DE"
    )
    card = CustomerCard(
        id="card-9",
        tenant_id="t",
        created_at=T0,
        identities=[CardIdentity(channel=Channel.voice, identifier=withheld)],
    )
    locale = AgentLocale.of(language)
    view = build_view(card.face, interaction(records=0), crm_connected=True, locale=locale)
    assert view["contactName"] == UNREADABLE_CALLER[language]
    assert localize(merge_candidates.label(card), locale) == UNREADABLE_CALLER[language]


def test_completed_card_is_read_only_and_failure_looks_like_failure() -> None:
    card = customer_cards(AgentLocale.of("en"))["completed"]
    text = json.dumps(card, ensure_ascii=False)
    assert "Completed, not everything was written (see below)." in text
    for verb in ("link", "unlink", "merge", "workflows", "createRecord", "refresh"):
        assert f'"verb": "{verb}"' not in text, verb
    styles = {
        item["items"][0]["text"]: item.get("style")
        for item in card["body"]
        if item.get("type") == "Container" and "text" in item["items"][0]
    }
    assert styles["Written to 1 record ✓"] == "good"
    assert styles[f"Not written to {'Case 999: printer on fire again ' * 2}: not supported"] == (
        "attention"
    )


def test_answer_lands_on_the_row_clicked_and_expand_shows_key_fields() -> None:
    card = customer_cards(AgentLocale.of("en"))["call"]
    text = json.dumps(card, ensure_ascii=False)
    row = min(  # the smallest container holding both: the record's row
        (
            c
            for c in _containers(card)
            if "Edward Ferrars" in json.dumps(c) and "Linked: this interaction" in json.dumps(c)
        ),
        key=lambda c: len(json.dumps(c)),
    )
    assert "Norland" not in json.dumps(row)  # on Edward's row, not the whole card
    assert "Number" in text and "000999" in text and "Open in Salesforce" in text
    assert "Case · Salesforce" in text and "Contact · Demo CRM" in text
    actions = [a for a in _actions(card) if a.get("type", "").startswith("Action.")]
    assert all(a.get("title", "").strip() for a in actions)  # every button has a name
    assert not [a for a in actions if a.get("title") in ("▸", "▾", "↗")]


def _containers(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "Container":
            found.append(node)
        for value in node.values():
            found.extend(_containers(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_containers(item))
    return found


def _actions(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("Action."):
            found.append(node)
        for value in node.values():
            found.extend(_actions(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_actions(item))
    return found


@pytest.mark.parametrize(
    "name", ["call", "merge-candidates", "merge-confirm", "merged", "workflows"]
)
def test_every_button_has_a_crmcard_icon(name: str) -> None:
    """The customer card, the merge cards and the workflows card: one icon set."""
    from bot.web.tab import STATIC_DIR

    english = AgentLocale.of("en")
    card = {**customer_cards(english), **other_cards(english)}[name]
    refresh = card.get("refresh", {}).get("action")  # Teams' own automatic refresh
    buttons = [
        a for a in _actions(card) if a["type"] != "Action.ToggleVisibility" and a is not refresh
    ]
    assert buttons
    for button in buttons:
        icon = button.get("iconUrl", "")
        assert icon.startswith("/icons/") and (STATIC_DIR / icon[1:]).is_file(), button
