"""The message extension in the Agents Playground: search the CRM from the compose box,
share the record's card, and link it to the agent's open interaction -- the real bot
behind the Playground, driven in headless Chromium.

The Playground (0.2.28) offers search-based message extensions from the compose box's
"Trigger Message Extension App" button (Search Command: it sends
``composeExtension/query`` with the command id and parameter name typed in, on every
keystroke) and link unfurling (``composeExtension/queryLink``); it does not read the
app manifest, so the command id is typed in as an agent's Teams would take it from the
manifest.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Stack
from tests.e2e.test_playground import (
    button,
    customer_cards,
    finish,
    log_entry,
    open_playground,
    say,
)

pytestmark = pytest.mark.browser

MARIANNE = "Marianne Dashwood"


def search_from_compose_box(page: Page, text: str) -> None:
    page.get_by_role("button", name="Trigger Message Extension App").click()
    page.get_by_role("menuitem", name="Search Command").click()
    page.get_by_text("Specify Command ID or Parameter").click()
    page.get_by_placeholder("Command ID").fill("searchRecords")  # as in the manifest
    page.get_by_placeholder("Parameter name").fill("query")
    page.get_by_placeholder("Enter a search term").press_sequentially(text, delay=50)


def test_an_agent_shares_a_crm_record_from_the_compose_box_and_links_it(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    open_playground(page, stack)
    say(page, "call +1 555 0100")  # an open interaction with Edward Ferrars' card
    expect(customer_cards(page)).to_have_count(1)
    expect(page.get_by_text(MARIANNE, exact=True)).to_have_count(0)

    search_from_compose_box(page, "Marianne")
    result = page.get_by_text(MARIANNE, exact=True).last  # the result list's preview
    expect(result, "the search found no record in the Playground").to_be_visible()
    expect(page.get_by_text("Contact · Demo CRM", exact=True).last).to_be_visible()
    expect(log_entry(page, "invoke 200").first, "the query was no invoke").to_be_visible()
    result.click()  # into the compose box
    page.get_by_role("button", name="Send Message").click()

    shared = button(page, "Link to my interaction").last
    expect(shared, "the shared record card is not in the chat").to_be_visible()
    expect(page.get_by_text("Musician", exact=True).last).to_be_visible()
    expect(page.get_by_text("I didn't understand", exact=False)).to_have_count(0)

    shared.click()  # Action.Execute from the shared card: pins Marianne to the call
    expect(page.get_by_text(f"Linked {MARIANNE} to your open interaction.")).to_be_visible()
    expect(customer_cards(page), "the card was posted again, not updated").to_have_count(1)
    # the customer card, updated in place, shows the pinned record beside the shared card
    expect(page.get_by_text(MARIANNE, exact=True)).to_have_count(2)
    finish(page, tmp_path, "message-extension")
