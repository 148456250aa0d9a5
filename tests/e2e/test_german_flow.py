"""The whole agent flow once in German, in the Agents Playground, with a screenshot of the
card in each state (call, linked, expanded, completed, merge, undo).

The Playground (0.2.28) writes ``locale: en-US`` into every activity and refuses a locale
in its configuration, so the agent picks German the way any agent can: ``sprache de``
(``language de``) in the bot chat. The screenshots are kept under
``test-artifacts/card-states/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Stack
from tests.e2e.test_playground import button, open_playground, say

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "card-states"
EDWARD = "Edward Ferrars"


def text(scope: Page | Locator, words: str) -> Locator:
    return scope.get_by_text(words, exact=True)


def row(page: Page, title: str, detail: str) -> Locator:
    """The latest card's row of a record: its title and type line, and its buttons."""
    return page.locator(
        f'xpath=//p[normalize-space()="{detail}"]'
        "/ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' ac-container ')]"
        f'[.//button][.//p[normalize-space()="{title}"]][1]'
    ).last


def snapshot(page: Page, state: str) -> None:
    page.wait_for_timeout(300)  # let the card finish laying out
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"de-{state}.png"), full_page=True)


def test_an_agent_works_a_call_in_german(stack: Stack, page: Page) -> None:
    open_playground(page, stack)
    say(page, "sprache de")
    expect(page.locator("p", has_text="crmcard spricht jetzt Deutsch mit Ihnen.")).to_be_visible()

    # The call: a German card (labels, channel, state, phone number in international form).
    say(page, "call +1 555 0100")
    expect(text(page, "Aktuelle Interaktion ▾")).to_have_count(1)
    expect(text(page, "Anruf · Verbunden")).to_be_visible()
    expect(text(page, "+1 5550100")).to_be_visible()
    expect(text(page, "Current interaction ▾")).to_have_count(0)
    snapshot(page, "call")

    # Link: the answer appears on the row clicked.
    edward = row(page, EDWARD, "Kontakt · Heir apparent")
    button(edward, "Verknüpfen").click()
    edward = row(page, EDWARD, "Kontakt · Heir apparent")
    expect(button(edward, "Verknüpft")).to_be_visible()
    answer = text(page, "Verknüpft: Diese Interaktion wird bei ihrem Ende hierhin geschrieben.")
    expect(answer).to_be_visible()
    snapshot(page, "linked")

    # Details: the record's own fields and its related records not already on the card.
    button(row(page, "Norland Park Estates", "Firma · Real estate · Gold"), "Details").click()
    norland = row(page, "Norland Park Estates", "Firma · Real estate · Gold")
    expect(button(norland, "Details ausblenden")).to_be_visible()
    expect(text(page, "Ort")).to_be_visible()
    expect(text(page, "Pianoforte delivery delayed")).to_be_visible()
    expect(text(page, "Fall · New · High")).to_be_visible()
    snapshot(page, "expanded")

    # The call ends and after-call work is done: read-only, and where it was written.
    say(page, "end")
    expect(text(page, "Anruf · Beendet · Nachbearbeitung")).to_be_visible()
    say(page, "acw")
    done = text(page, "Abgeschlossen, geschrieben in „Edward Ferrars“")
    expect(done, "the completed card never said where it was written").to_be_visible()
    expect(text(page, "In 1 Datensatz geschrieben ✓")).to_be_visible()
    completed = page.locator("div.ac-adaptiveCard").filter(has=done)
    expect(button(completed, "Verknüpfen")).to_have_count(0)
    expect(button(completed, "Zusammenführen")).to_have_count(0)
    snapshot(page, "completed")

    # He writes an email (a new channel): a second card, and the phone card merged into it.
    say(page, "email edward.ferrars@example.com")
    expect(text(page, "E-Mail · Verbunden")).to_be_visible()
    button(page, "Zusammenführen").last.click()
    expect(text(page, "Eine Karte mit Edward Ferrars zusammenführen")).to_be_visible()
    expect(text(page, "• Gleicher CRM-Kontakt: Edward Ferrars")).to_be_visible()
    expect(page.get_by_text("Kanäle: Anruf", exact=False).first).to_be_visible()
    snapshot(page, "merge")
    button(page, "Zusammenführen…").click()
    expect(text(page, "Diese zwei Karten zusammenführen?")).to_be_visible()
    button(page, "Zusammenführen").last.click()
    email_card = page.locator("div.ac-adaptiveCard").filter(has=text(page, "E-Mail · Verbunden"))
    expect(email_card.get_by_text("ist in diese Karte aufgegangen.", exact=False)).to_be_visible()
    # The phone card's own message says where it went, with its own Undo.
    gone = "In die Karte von Edward Ferrars aufgegangen (Kanäle: E-Mail, Anruf)."
    expect(text(page, gone)).to_be_visible()
    button(email_card, "Zusammenführung rückgängig machen").click()
    undone = "Zusammenführung rückgängig gemacht: Die beiden Karten sind wieder getrennt"
    expect(page.get_by_text(undone, exact=False)).to_be_visible()
    snapshot(page, "undo")
