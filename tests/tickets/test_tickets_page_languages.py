"""The Tickets page in German and French (headless Chromium): every word of the page, its
filters, results, viewer and empty state in the reader's language, dates in their locale.

German is chosen by the browser's ``Accept-Language`` (as Teams sends it), French by the
``locale`` parameter over an English browser. The page fails the test if any of its own
English words (or the API's "Open in ...") is shown or named.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.tickets import Message, TicketChannel, TicketStatus
from bot.i18n import AgentLocale, localize
from bot.services import agent_locale
from bot.web.interactions import CONTEXT
from bot.web.tab import DEV_AGENT_ID
from bot.web.tickets import _PAGE_TEXTS, TICKETING
from tests.console.browser import assert_accessible
from tests.tickets.factories import ticket
from tests.tickets.test_tickets_page import TEAMS_STUB, in_teams

pytestmark = pytest.mark.browser

READERS = {
    "de": {"locale": "de-DE", "query": ""},
    "fr": {"locale": "en-US", "query": "&locale=fr-FR"},
}
OPEN_IN = {"de": "In Zendesk öffnen", "fr": "Ouvrir dans Zendesk"}
DATE = {"de": r"\d{2}\.\d{2}\.\d{4}", "fr": r"\d{1,2} [a-zéû]+\.? \d{4}"}
SHOWN = """() => {
  const named = [...document.querySelectorAll("[placeholder], [aria-label], [title]")]
    .flatMap((el) => ["placeholder", "aria-label", "title"].map((a) => el.getAttribute(a)));
  const options = [...document.querySelectorAll("option")].map((o) => o.textContent);
  return [document.title, document.body.innerText, ...options, ...named]
    .filter(Boolean).join("\\n");
}"""


CLOSED = datetime.now(UTC) - timedelta(days=2)


def english_words(language: str) -> list[re.Pattern[str]]:
    """The page's English words that its language does not share (``Agent``, ``Text``
    and ``Forum`` read the same in German), placeholders left out."""
    locale = AgentLocale.of(language)
    words = {"Open in"}
    for text in _PAGE_TEXTS.values():
        if localize(text, locale) != text:
            words.update(p.strip() for p in re.split(r"\{\w+\}", text) if p.strip(" :."))
    return [re.compile(r"(?<!\w)" + re.escape(w) + r"(?!\w)") for w in sorted(words)]


@pytest.mark.parametrize("language", sorted(READERS))
async def test_the_tickets_page_shows_no_english_in_german_or_french(
    served: tuple[Any, str], chromium: tuple[Any, Any], language: str
) -> None:
    (app, base), (browser, expect) = served, chromium
    await app[TICKETING].archive.put_tickets(
        [
            ticket(
                "7",
                subject="Erstattung Bestellung 77",
                closed_at=CLOSED,
                messages=(
                    Message(author="Edward Ferrars", at=CLOSED, body="Bitte um Hilfe"),
                    Message(author="Ada Lovelace", at=CLOSED, body="Notiz", public=False),
                ),
            ),
            ticket(
                "8",
                subject="Connexion WhatsApp",
                channel=TicketChannel.whatsapp,
                status=TicketStatus.closed,
                requester_name="",
                body="Merci",
                closed_at=CLOSED,
            ),
        ]
    )
    reader = READERS[language]
    english = english_words(language)
    context = await browser.new_context(locale=reader["locale"], timezone_id="Europe/Paris")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    async def no_english() -> str:
        shown: str = await page.evaluate(SHOWN)
        found = [p.pattern for p in english if p.search(shown)]
        assert found == [], f"English on the {language} page: {found}\n{shown}"
        return shown

    url = f"{base}/tab/tickets?tenant=demo-tenant{reader['query']}"
    await page.goto(url + "&email=edward@example.com")
    assert await page.get_attribute("html", "lang") == language
    results = page.locator("#results li")
    await expect(results).to_have_count(2)
    await page.locator("#results button", has_text="Erstattung").click()
    await expect(page.get_by_role("link", name=OPEN_IN[language])).to_be_visible()
    shown = await no_english()
    assert re.search(DATE[language], shown), shown  # the reader's date format
    await assert_accessible(page, f"tickets page ({language})")  # names, contrast

    await page.locator("#results button", has_text="Connexion").click()
    await expect(page.locator("#viewer")).to_contain_text("Connexion WhatsApp")
    await no_english()

    await page.fill("input[name=q]", "zzzzzz")
    await page.click("button[type=submit]")
    await expect(results).to_have_count(1)
    await expect(page.locator("#results .empty")).to_be_visible()
    await no_english()
    assert errors == []


FRENCH_TEAMS = TEAMS_STUB.replace(
    'page: { id: "tickets"', 'app: { locale: "fr-FR" }, page: { id: "tickets"'
)


async def test_in_teams_the_page_follows_the_teams_clients_language(
    served: tuple[Any, str], chromium: tuple[Any, Any]
) -> None:
    """An English browser (its Accept-Language) in a French Teams: the page reloads once
    in French, and the viewer's "Open in <CRM>" is French too."""
    (app, base), (browser, expect) = served, chromium
    await app[TICKETING].archive.put_tickets(
        [ticket("7", subject="Remboursement", closed_at=CLOSED)]
    )
    page = await (await browser.new_context(locale="en-US")).new_page()
    frame = await in_teams(page, base, FRENCH_TEAMS)
    await expect(frame.locator("#contact")).to_have_text("Tickets précédents de edward@example.com")
    await expect(frame.locator("html")).to_have_attribute("lang", "fr")
    await frame.locator("#results button", has_text="Remboursement").click()
    await expect(frame.get_by_role("link", name="Ouvrir dans Zendesk")).to_be_visible()


async def test_the_language_an_agent_chose_in_the_chat_wins_as_on_their_card(
    served: tuple[Any, str], chromium: tuple[Any, Any]
) -> None:
    """``sprache de`` in the bot chat: the Tickets page of an English browser turns German
    once the API says whom it answers (``Content-Language``), as the customer card does."""
    (app, base), (browser, expect) = served, chromium
    await agent_locale.choose(app[CONTEXT].store, "demo-tenant", DEV_AGENT_ID, "de")
    await app[TICKETING].archive.put_tickets([ticket("7", subject="Erstattung", closed_at=CLOSED)])
    page = await (await browser.new_context(locale="en-US")).new_page()
    await page.goto(f"{base}/tab/tickets?tenant=demo-tenant")
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await expect(page.locator("#results li")).to_have_count(1)
    await page.locator("#results button", has_text="Erstattung").click()
    await expect(page.get_by_role("link", name="In Zendesk öffnen")).to_be_visible()
    await expect(page.get_by_role("button", name="Suchen")).to_be_visible()
