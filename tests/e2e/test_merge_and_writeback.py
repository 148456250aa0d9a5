"""Merging two of a customer's cards (and undoing it), and the write-back confirmation, as
the agent sees them in the Agents Playground.

The merge screens are Action.Execute answers: each replaces the clicked card in place
(customer card -> candidates -> confirmation -> customer card with a success banner).
The write-back confirmation comes later, from the bot's write-back worker, as an in-place
update (PUT) of the card once the call has ended and after-call work is done.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Stack
from tests.e2e.test_playground import (
    EDWARD,
    button,
    customer_cards,
    finish,
    open_playground,
    record_row,
    say,
)

pytestmark = pytest.mark.browser

EMAIL = "edward.ferrars@example.com"
CANDIDATES_TITLE = "Merge a card into Edward Ferrars"
CANDIDATES_HEADING = "Possible duplicates of this contact, best match first"
SAME_CONTACT = "• Same CRM contact: Edward Ferrars"
# The banner names the absorbed card by its label: the email card has no display name of
# its own (only its CRM match does), so today it reads "Merged Unknown contact
# edward.ferrars@example.com into this card." while the confirmation said "Merges in:
# Edward Ferrars". Only the shape is pinned here.
MERGED = re.compile(r"^Merged Edward Ferrars \(Channels: Email; .*\) into this card\.$")
MERGED_AWAY = "Merged into the card of Edward Ferrars (Channels: Voice, Email)."
KEPT = "The open card is kept and the other card is merged into it."
UNDONE = "Merge undone: the two cards are separate again, as they were."
WRITTEN = "Written to 1 record ✓"


def text(scope: Page | Locator, words: str | re.Pattern[str]) -> Locator:
    return scope.get_by_text(words, exact=True)


def card_saying(page: Page, words: str) -> Locator:
    """The rendered Adaptive Card(s) with a line saying ``words``."""
    return page.locator("div.ac-adaptiveCard").filter(has=text(page, words))


def test_merge_the_email_card_into_the_phone_card_then_undo(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    open_playground(page, stack)

    # Edward wrote an email earlier (its own card), now he calls: a second card.
    say(page, f"email {EMAIL}")
    expect(customer_cards(page), "no customer card after 'email'").to_have_count(1)
    expect(text(page, "Email · Connected")).to_be_visible()
    say(page, "call +1 555 0100")
    expect(customer_cards(page), "no second customer card after 'call'").to_have_count(2)
    expect(text(page, "Voice · Connected")).to_be_visible()

    # Merge, on the phone card (the latest): its candidates replace it in place.
    merge = button(page, "Merge")
    expect(merge, "each customer card has a Merge button").to_have_count(2)
    merge.last.click()
    expect(text(page, CANDIDATES_TITLE)).to_be_visible()
    expect(text(page, CANDIDATES_HEADING)).to_be_visible()
    # The email card is the one candidate, with the reason it is one.
    expect(text(page, SAME_CONTACT)).to_be_visible()
    expect(button(page, "Merge…"), "not exactly one merge candidate").to_have_count(1)
    expect(customer_cards(page), "the candidates did not replace the phone card").to_have_count(1)

    # Pick it: the confirmation says what is kept and what merges in.
    button(page, "Merge…").click()
    expect(text(page, "Merge these two cards?")).to_be_visible()
    expect(text(page, KEPT)).to_be_visible()
    expect(text(page, "Keeps: Edward Ferrars")).to_be_visible()
    expect(text(page, "Merges in: Edward Ferrars")).to_be_visible()
    expect(text(page, f"Email: {EMAIL}")).to_be_visible()
    expect(page.get_by_text("end up on one card", exact=False)).to_be_visible()

    # Confirm: the phone card comes back with the success banner and an Undo button.
    button(card_saying(page, "Merge these two cards?"), "Merge").click()
    expect(text(page, MERGED)).to_be_visible()
    # The email card's own message says where it went (not silently the phone card).
    expect(text(page, MERGED_AWAY)).to_be_visible()
    expect(button(page, "Undo merge")).to_have_count(2)
    expect(customer_cards(page), "the merged card is not shown").to_have_count(2)
    # The phone card now holds the email card's address too.
    phone_card = card_saying(page, "Voice · Connected")
    expect(phone_card).to_have_count(1)
    expect(text(phone_card, MERGED)).to_be_visible()
    expect(text(phone_card, EMAIL), "the merged card lacks the email address").to_be_visible()
    expect(text(page, "Merge these two cards?")).to_have_count(0)
    finish(page, tmp_path, "merged")

    # Undo: the card says the two cards are separate again...
    button(phone_card, "Undo merge").click()
    expect(text(page, UNDONE)).to_be_visible()
    expect(text(page, MERGED)).to_have_count(0)
    expect(button(page, "Undo merge")).to_have_count(0)
    expect(text(phone_card, UNDONE)).to_be_visible()
    expect(text(phone_card, EMAIL), "the email address stayed on the phone card").to_have_count(0)
    expect(text(card_saying(page, "Email · Connected"), EMAIL)).to_be_visible()
    finish(page, tmp_path, "merge-undone")

    # ...and they are: the phone card's merge candidates list the email card again, and
    # no merge into it is left to undo.
    button(page, "Merge").last.click()
    expect(text(page, CANDIDATES_TITLE)).to_be_visible()
    expect(text(page, SAME_CONTACT)).to_be_visible()
    expect(button(page, "Merge…")).to_have_count(1)
    expect(text(page, "Recent merges into this card")).to_have_count(0)
    expect(button(page, "Undo")).to_have_count(0)

    finish(page, tmp_path, "candidates-again")


def test_link_end_acw_and_the_card_confirms_the_write_back(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    open_playground(page, stack)

    say(page, "call +1 555 0100")
    expect(customer_cards(page), "no customer card after 'call'").to_have_count(1)
    expect(text(page, "Voice · Connected")).to_be_visible()

    button(record_row(page, EDWARD), "Link").click()
    expect(button(record_row(page, EDWARD), "Linked")).to_be_visible()

    # Nothing is written while the call is on, nor during after-call work.
    say(page, "end")
    expect(text(page, "Voice · Ended · after-call work")).to_be_visible()
    expect(text(page, WRITTEN)).to_have_count(0)

    # After-call work done: the worker writes the linked contact and updates the card.
    say(page, "acw")
    expect(text(page, WRITTEN), "the card never confirmed the write-back").to_be_visible()
    expect(customer_cards(page), "the card was posted again, not updated").to_have_count(1)
    written = card_saying(page, WRITTEN)
    expect(text(written, "Voice · Completed")).to_be_visible()
    expect(text(written, "✓ Linked")).to_have_count(1)  # read-only: no buttons left
    expect(button(written, "Link")).to_have_count(0)

    finish(page, tmp_path, "write-back")
