"""The Tickets page in headless Chromium: search, filter, read a ticket, open it in its CRM."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.tickets import TicketChannel
from bot.web.tickets import TICKETING
from tests.tickets.factories import ticket

pytestmark = pytest.mark.browser


async def test_search_read_and_open_in_the_crm(
    served: tuple[Any, str], chromium: tuple[Any, Any]
) -> None:
    app, base = served
    browser, expect = chromium
    recent = datetime.now(UTC) - timedelta(days=2)
    await app[TICKETING].archive.put_tickets(
        [
            ticket("7", subject="Refund for order 77", body="Refund sent today", closed_at=recent),
            ticket(
                "8",
                subject="WhatsApp login",
                channel=TicketChannel.whatsapp,
                requester_email="other@example.com",
                closed_at=recent,
            ),
        ]
    )
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{base}/tab/tickets?tenant=demo-tenant")
    await expect(page.locator("#dev-banner")).to_be_visible()
    results = page.locator("#results li")
    await expect(results).to_have_count(2)

    await page.fill("input[name=q]", "refunds")
    await page.click("button[type=submit]")
    await expect(results).to_have_count(1)
    await page.get_by_role("button", name="Refund for order 77").click()
    viewer = page.locator("#viewer")
    await expect(viewer).to_contain_text("Refund sent today")
    await expect(viewer).to_contain_text("agent Ada Lovelace")
    link = page.get_by_role("link", name="Open in Zendesk")
    assert await link.get_attribute("href") == "https://example.zendesk.com/agent/tickets/7"

    await page.select_option("select[name=channel]", "whatsapp")
    await page.fill("input[name=q]", "")
    await page.click("button[type=submit]")
    await expect(results).to_have_count(1)
    await expect(results).to_contain_text("WhatsApp login")

    # the customer card's "Past tickets": one contact's tickets only
    await page.goto(f"{base}/tab/tickets?tenant=demo-tenant&email=edward@example.com")
    await expect(page.locator("#contact")).to_have_text("Past tickets of edward@example.com")
    await expect(results).to_have_count(1)
    await expect(results).to_contain_text("Refund for order 77")
    # the card's link says how the agent reads the number; the search uses E.164
    await page.goto(
        f"{base}/tab/tickets?tenant=demo-tenant&phone=%2B15550100&shown=%2B1%20555-0100"
    )
    await expect(page.locator("#contact")).to_have_text("Past tickets of +1 555-0100")
    assert errors == []


TEAMS_STUB = """
window.microsoftTeams = {
  app: {
    initialize: function () { return Promise.resolve(); },
    getContext: function () {
      return Promise.resolve({ page: { id: "tickets", subPageId: "email=edward%40example.com" } });
    },
    notifySuccess: function () {},
    openLink: function () {}
  },
  authentication: { getAuthToken: function () { return Promise.resolve("dev-token"); } }
};
"""


async def in_teams(page: Any, base: str, stub: str) -> Any:
    """The Tickets page framed by a stand-in for the Teams host whose TeamsJS is ``stub``."""
    await page.route(
        "**/tab/vendor/teams-js.min.js",
        lambda route: route.fulfill(body=stub, content_type="text/javascript"),
    )
    tab = f"{base}/tab/tickets?tenant=demo-tenant"
    await page.route(
        f"{base}/teams-host",
        lambda route: route.fulfill(
            body=f'<iframe id="tab" src="{tab}" width="900" height="700"></iframe>',
            content_type="text/html",
        ),
    )
    await page.goto(f"{base}/teams-host")
    return page.frame_locator("#tab")


async def test_in_teams_the_tab_opens_narrowed_to_the_deep_links_sub_entity(
    served: tuple[Any, str], chromium: tuple[Any, Any]
) -> None:
    """The card's "Past tickets" deep link hands the caller over as subEntityId, which
    TeamsJS gives the tab as page.subPageId (here from a stand-in for the Teams host)."""
    app, base = served
    browser, expect = chromium
    recent = datetime.now(UTC) - timedelta(days=2)
    await app[TICKETING].archive.put_tickets(
        [
            ticket("7", subject="Refund for order 77", closed_at=recent),
            ticket("8", subject="Someone else", requester_email="other@example.com"),
        ]
    )
    page = await browser.new_page()
    frame = await in_teams(page, base, TEAMS_STUB)
    await expect(frame.locator("#contact")).to_have_text("Past tickets of edward@example.com")
    await expect(frame.locator("#results li")).to_have_count(1)
    await expect(frame.locator("#results")).to_contain_text("Refund for order 77")


async def test_the_closed_dates_are_whole_days_of_the_readers_time_zone(
    served: tuple[Any, str], chromium: tuple[Any, Any]
) -> None:
    """From and until the same day: every ticket closed on that day where the agent is."""
    app, base = served
    browser, expect = chromium
    berlin = ZoneInfo("Europe/Berlin")
    day = (datetime.now(berlin) - timedelta(days=2)).date()
    at = lambda days, hour, minute: datetime.combine(  # noqa: E731
        day + timedelta(days=days), time(hour, minute), berlin
    )
    await app[TICKETING].archive.put_tickets(
        [
            ticket("1", subject="Just after midnight", closed_at=at(0, 0, 30)),
            ticket("2", subject="Late in the evening", closed_at=at(0, 23, 30)),
            ticket("3", subject="The next day", closed_at=at(1, 0, 30)),
            ticket("4", subject="The day before", closed_at=at(-1, 23, 30)),
        ]
    )
    context = await browser.new_context(timezone_id="Europe/Berlin", locale="de-DE")
    page = await context.new_page()
    await page.goto(f"{base}/tab/tickets?tenant=demo-tenant")
    results = page.locator("#results li")
    await expect(results).to_have_count(4)

    await page.fill("input[name=closedFrom]", day.isoformat())
    await page.fill("input[name=closedTo]", day.isoformat())
    await page.click("button[type=submit]")

    await expect(results).to_have_count(2)
    await expect(results.nth(0)).to_contain_text("Late in the evening")
    await expect(results.nth(1)).to_contain_text("Just after midnight")
    await context.close()
