"""The message extension in the Agents Playground: search the CRM from the compose box,
share the record's card, and link it to the agent's open interaction; paste a link to a
record of the tenant's Salesforce org and get its card -- the real bot behind the
Playground, driven in headless Chromium.

The Playground (0.2.28) offers search-based message extensions from the compose box's
"Trigger Message Extension App" button (Search Command: it sends
``composeExtension/query`` with the command id and parameter name typed in, on every
keystroke) and link unfurling (``composeExtension/queryLink``); it does not read the
app manifest, so the command id is typed in as an agent's Teams would take it from the
manifest.

The Salesforce org is the contract fake (``tests/crm/fakes/salesforce.py``) on this
machine: its My Domain API host is ``localhost``, so its Lightning record pages are
``https://localhost.lightning.force.com/lightning/r/...`` -- the org crmcard matches a
Lightning link to, as for ``acme.my.salesforce.com`` and ``acme.lightning.force.com``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.sync_api import Page, expect

from tests.crm.fakes.salesforce import FakeSalesforce
from tests.e2e.conftest import Stack, start_stack
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


class LocalOrg:
    """The fake Salesforce org served from a thread of its own (the test is synchronous)."""

    def __init__(self) -> None:
        self.fake = FakeSalesforce(public_key_pem="")  # client credentials only
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(self.fake.app())
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "localhost", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> LocalOrg:
        self.thread.start()
        assert self.ready.wait(10), "the local Salesforce org did not start"
        self.fake.base_url = f"http://localhost:{self.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def org() -> Iterator[LocalOrg]:
    with LocalOrg() as running:
        yield running


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The bot allowed to reach CRMs on this machine (the operator's explicit allowance)."""
    running = start_stack(tmp_path / "stack", CRMCARD_CRM_ALLOW_LOCAL_URLS="true")
    try:
        yield running
    finally:
        running.stop()


def connect(stack: Stack, org: LocalOrg) -> None:
    """The tenant's admin connects the org (admin API, as the console does)."""
    body = {
        "settingsId": "sf",
        "kind": "salesforce",
        "displayName": "Acme Salesforce",
        "baseUrl": org.fake.base_url,
        "auth": {"type": "salesforce_client_credentials", "clientId": org.fake.client_id},
        "secret": org.fake.client_secret,
    }
    request = urllib.request.Request(
        f"{stack.bot_url}/api/admin/crms",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Admin-Key": "demo-admin-key"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201, response.read()


def test_a_pasted_salesforce_link_is_unfurled_into_the_records_card(
    stack: Stack, org: LocalOrg, page: Page, tmp_path: Path
) -> None:
    contact = org.fake.add(
        "Contact", FirstName="Elinor", LastName="Dashwood", Phone="+44 20 7946 0018"
    )
    connect(stack, org)
    open_playground(page, stack)

    page.get_by_role("button", name="Trigger Message Extension App").click()
    page.get_by_role("menuitem", name="Link Unfurling").click()
    link = f"https://localhost.lightning.force.com/lightning/r/Contact/{contact}/view"
    page.get_by_label("Enter an URL").fill(link)
    dialog = page.get_by_role("dialog")
    preview = dialog.get_by_text("Elinor Dashwood", exact=True).first
    expect(preview, "the link was not unfurled into the record's card").to_be_visible()
    expect(dialog.get_by_text("Contact · Acme Salesforce")).to_be_visible()
    expect(button(dialog, "Open in Acme Salesforce")).to_be_visible()
    page.get_by_role("button", name="Send to Conversation").click()
    expect(button(page, "Link to my interaction").last).to_be_visible()
    expect(page.get_by_text("Elinor Dashwood", exact=True).last).to_be_visible()
    asked = [path for method, path in org.fake.requests if method == "GET"]
    assert any(contact in path for path in asked), asked
    finish(page, tmp_path, "link-unfurling")
