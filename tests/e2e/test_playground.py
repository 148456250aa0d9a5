"""The customer card as an agent sees it: the real bot behind the Agents Playground, in Chromium.

What the Playground gives us, and what these tests rely on:

* opening its page "installs" the bot for the configured user (installationUpdate and
  conversationUpdate), which is how the bot learns the conversation to post cards into;
* its connector accepts the bot's proactive POSTs and in-place PUT updates and renders them;
* Action.Execute buttons send ``adaptiveCard/action`` invokes and the card in the invoke
  response replaces the clicked card; a message response is shown under the card.

It does not run Universal Actions' automatic ``refresh`` (it logs "User specific view is
not supported"), so nothing here depends on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import PLAYGROUND_CONFIG, Stack

pytestmark = pytest.mark.browser

WELCOME = "Welcome to crmcard"
EDWARD = ("Edward Ferrars", "Contact · Heir apparent")
NORLAND = ("Norland Park Estates", "Account · Real estate · Gold")


def _quoted(text: str) -> str:
    """A double-quoted XPath / CSS string (none of the texts here contains a quote)."""
    assert '"' not in text and "\\" not in text
    return f'"{text}"'


def log_entry(page: Page, text: str) -> Locator:
    """A line of the Playground's log panel, e.g. 'installationUpdate 201'."""
    return page.get_by_text(text, exact=True)


def welcome_cards(page: Page) -> Locator:
    return page.get_by_text(WELCOME, exact=True)


def customer_cards(page: Page) -> Locator:
    return page.get_by_text("Current interaction ▾", exact=True)


def record_row(page: Page, record: tuple[str, str]) -> Locator:
    """The row of ``record`` (title, subtitle) in the latest card: its texts and buttons."""
    title, subtitle = record
    return page.locator(
        f"xpath=//p[normalize-space()={_quoted(subtitle)}]"
        "/ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' ac-container ')]"
        f"[.//button][.//p[normalize-space()={_quoted(title)}]][1]"
    ).last


def button(scope: Page | Locator, title: str) -> Locator:
    return scope.locator(f"button[aria-label={_quoted(title)}]")


def sent_messages(page: Page, text: str) -> Locator:
    """The agent's own chat bubbles saying ``text`` (their header names no author)."""
    return page.locator(
        "xpath=//div[@aria-label='Message header'][not(.//*[@aria-label='Message author'])]"
        f"/following-sibling::*//span[normalize-space()={_quoted(text)}]"
    )


def say(page: Page, text: str) -> Locator:
    """Type into the Playground's compose box and send, as the agent would; the bubble."""
    before = sent_messages(page, text).count()
    box = page.locator('[role="textbox"][contenteditable="true"]')
    box.click()
    box.press_sequentially(text)
    box.press("Enter")
    expect(sent_messages(page, text), f"the message {text!r} was not sent").to_have_count(
        before + 1
    )
    return sent_messages(page, text).last


def wait_until(
    page: Page, condition: Callable[[], bool], message: str, timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        page.wait_for_timeout(100)


def open_playground(page: Page, stack: Stack) -> None:
    """Open the Playground; return once the welcome card(s) of the bot's install are shown."""
    page.goto(stack.playground_url)
    expect(
        page.get_by_text(f"Configuration file is loaded from {PLAYGROUND_CONFIG}.", exact=True),
        "the Playground did not load .m365agentsplayground.yml",
    ).to_be_visible()
    expect(log_entry(page, "installationUpdate 201")).to_be_visible()
    expect(log_entry(page, "conversationUpdate 201")).to_be_visible()
    expect(welcome_cards(page).first, "no welcome card after installing").to_be_visible()
    # The bot posts its welcome(s) inside those two turns; once both are answered (in its
    # access log) only the Playground's push to the page is left: wait for a quiet second.
    wait_until(
        page,
        lambda: stack.bot.text().count('"POST /api/messages ') >= 2,
        "the bot did not answer the two install activities",
    )
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < 1.0:
        count = welcome_cards(page).count()
        if count != seen:
            seen, quiet_since = count, time.monotonic()
        page.wait_for_timeout(100)


def finish(page: Page, tmp_path: Path, name: str) -> None:
    page.wait_for_timeout(300)  # let the last card finish laying out
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_simulated_call_shows_card_updates_in_place_and_links(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    open_playground(page, stack)

    # A chat message gets the welcome (help) card. (Counted: the Playground may show the
    # agent's own message after the bot's answer to it.)
    shown = welcome_cards(page).count()
    say(page, "help")
    wait_until(page, lambda: welcome_cards(page).count() > shown, "'help' got no welcome card")

    # The contact-center platform assigns a call: the card arrives proactively (POST).
    answer = json.loads(
        stack.simulate("assigned", "--customer", "+1 555 0100", "--interaction", "e2e-call-1")
    )
    assert answer["state"] == "assigned", answer
    expect(customer_cards(page), "no customer card after the assigned event").to_have_count(1)
    expect(page.get_by_text("Edward Ferrars", exact=True).first).to_be_visible()
    expect(page.get_by_text("Voice · Assigned", exact=True)).to_be_visible()

    # The call connects (demo chat command): the same message is updated in place (PUT).
    say(page, "connect")
    expect(page.get_by_text("Voice · Connected", exact=True)).to_be_visible()
    expect(page.get_by_text("Voice · Assigned", exact=True)).to_have_count(0)
    expect(customer_cards(page), "the card was posted again, not updated").to_have_count(1)

    # Link the contact: an Action.Execute invoke whose answer replaces the card.
    row = record_row(page, EDWARD)
    expect(button(row, "Link"), "no Link button on Edward Ferrars' row").to_be_visible()
    button(row, "Link").click()
    expect(button(record_row(page, EDWARD), "Linked")).to_be_visible()
    expect(button(record_row(page, NORLAND), "Link")).to_be_visible()
    expect(page.get_by_text("Your response was sent to the app")).to_be_visible()

    finish(page, tmp_path, "simulated-call")


def test_chat_call_command_then_link_survives_the_end_of_the_call(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    open_playground(page, stack)

    say(page, "call +1 555 0100")
    expect(customer_cards(page), "no customer card after 'call'").to_have_count(1)
    expect(page.get_by_text("Voice · Connected", exact=True)).to_be_visible()

    button(record_row(page, NORLAND), "Link").click()
    expect(button(record_row(page, NORLAND), "Linked")).to_be_visible()

    # Ending the call re-renders the card from the bot's state: the link was stored.
    say(page, "end")
    expect(page.get_by_text("Voice · Ended · after-call work", exact=True)).to_be_visible()
    expect(customer_cards(page)).to_have_count(1)
    expect(button(record_row(page, NORLAND), "Linked")).to_be_visible()
    expect(button(record_row(page, EDWARD), "Link")).to_be_visible()

    finish(page, tmp_path, "chat-call")


def test_welcome_card_button_simulates_a_call(stack: Stack, page: Page, tmp_path: Path) -> None:
    open_playground(page, stack)

    button(page, "Simulate a call from Edward Ferrars").last.click()
    # The invoke answers with a message, shown under the clicked card...
    expect(
        page.get_by_text("Simulated call started: the customer card is on its way.")
    ).to_be_visible()
    # ...and the customer card follows as its own message.
    expect(customer_cards(page)).to_have_count(1)
    expect(page.get_by_text("Voice · Connected", exact=True)).to_be_visible()
    expect(button(record_row(page, EDWARD), "Link")).to_be_visible()

    finish(page, tmp_path, "welcome-button")
