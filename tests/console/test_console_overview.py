"""The Overview's ticket-sync part: shown only where ticketing is on, with each ticketing
CRM's last sync (not run yet, then the tickets it imported), in headless Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.services.audit import Actor, Door
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.tickets import TICKETING
from tests.console.admin_steps import sign_in_with_key
from tests.console.browser import launch, new_page, playwright_api, screenshots
from tests.tickets.fakes.zendesk_exports import ZendeskExports, zendesk_config

pytestmark = pytest.mark.browser


async def test_overview_shows_the_last_ticket_sync_where_ticketing_is_on(
    aiohttp_server: Any, settings: Settings
) -> None:
    api = playwright_api()
    expect = api.expect
    fake = ZendeskExports(clock=lambda: datetime.now(UTC).timestamp())
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    fake.add_ticket("Printer", assignee=ada, solved_at=datetime.now(UTC) - timedelta(days=1))
    zendesk: TestServer = await aiohttp_server(fake.app())
    app = create_app(settings.model_copy(update={"ticket_sync_minutes": 0}))
    server: TestServer = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    async with api.async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page, errors = await new_page(browser)
            await sign_in_with_key(page, expect, base)
            await expect(page.get_by_role("heading", name="Ticket sync")).to_have_count(0)

            ticketing = app[TICKETING]
            config = zendesk_config(str(zendesk.make_url("")))
            await ticketing.configs.create(config, Actor("test", Door.cli))
            await page.reload()
            syncs = page.get_by_role("table", name="Ticket sync")
            row = syncs.get_by_role("row").filter(has_text="Zendesk")
            await expect(row).to_contain_text("Not run yet")

            await ticketing.sync("demo-tenant")
            await page.reload()
            await expect(row).to_contain_text("1 tickets imported")
            await screenshots(page, "overview-tickets")
            assert errors == []
        finally:
            await browser.close()
