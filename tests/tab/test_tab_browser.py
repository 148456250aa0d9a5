"""The tab in headless Chromium: loads, shows the card, links by click, follows the bot live."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.settings import Settings
from bot.web.app import create_app
from tests.activities import card_action, installed, interaction_event
from tests.bot.test_customer_card_flow import KEY, actions
from tests.connector import FakeConnector

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
async def base_url(aiohttp_server: Callable[..., Any], settings: Settings) -> str:
    server: TestServer = await aiohttp_server(create_app(settings))
    return str(server.make_url("")).rstrip("/")


async def test_tab_shows_card_links_on_click_and_follows_the_bot(
    base_url: str, connector: tuple[FakeConnector, str], tmp_path: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no /usr/bin/chromium")
    fake, connector_url = connector
    async with (
        aiohttp.ClientSession(base_url) as http,
        playwright_api.async_playwright() as playwright,
    ):
        assert (await http.post("/api/messages", json=installed(connector_url))).status < 300
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 900, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(base_url + "/tab")
            expect = playwright_api.expect
            await expect(page.locator("#dev-banner")).to_be_visible()
            await expect(page.locator("#dev-banner")).to_contain_text(
                "Development mode — not signed in"
            )
            await expect(page.locator("#card")).to_contain_text("No open interaction")
            await expect(page.locator("#live")).to_have_text("live")

            # A call reaches the agent: the card appears without a reload.
            for second, event in enumerate(("assigned", "connected")):
                payload = interaction_event(
                    "call-1", event, occurred_at=f"2026-11-23T08:00:0{second}Z"
                )
                response = await http.post("/api/interactions", json=payload, headers=KEY)
                assert response.status == 202
            card = page.locator("#card")
            await expect(card).to_contain_text("Current interaction")
            await expect(card).to_contain_text("Norland Park Estates")

            # Click a link button: it turns into the linked state, and Teams hears of it.
            linked = page.get_by_role("button", name="Linked", exact=True)
            before = await linked.count()
            sent_before = len(fake.sent)
            await page.get_by_role("button", name="Link", exact=True).first.click()
            await expect(linked).to_have_count(before + 1)
            # the tab may hear of it (live) before Teams is updated
            await fake.wait_until(
                lambda sent: any(s.method == "PUT" and s.card for s in sent[sent_before:])
            )

            # A change made through the bot (Refresh in the Teams chat) appears live.
            assert "Pianoforte delivery delayed" not in await card.inner_text()
            current = await (await http.get("/api/tab/card")).json()
            [refresh] = actions(current["card"], "refresh")
            invoke = card_action(connector_url, "refresh", refresh["data"])
            assert (await http.post("/api/messages", json=invoke)).status == 200
            await expect(card).to_contain_text("Pianoforte delivery delayed")
            await expect(linked).to_have_count(before + 1)

            shot = tmp_path / "tab.png"
            await page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("CRMCARD_TAB_SCREENSHOT"):
                Path(os.environ["CRMCARD_TAB_SCREENSHOT"]).write_bytes(shot.read_bytes())
            assert shot.stat().st_size > 10_000

            # Dark theme outside Teams (?theme=dark) renders with the dark palette.
            await page.goto(base_url + "/tab?theme=dark")
            await expect(card).to_contain_text("Current interaction")
            background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(31, 31, 31)"
            if os.environ.get("CRMCARD_TAB_SCREENSHOT"):
                dark = os.environ["CRMCARD_TAB_SCREENSHOT"].replace(".png", "-dark.png")
                await page.screenshot(path=dark, full_page=True)
            await page.goto(base_url + "/tab?theme=contrast")
            await expect(card).to_contain_text("Current interaction")
            colors = await page.locator("#card .ac-textBlock").evaluate_all(
                "blocks => blocks.map(b => getComputedStyle(b).color)"
            )
            assert colors and set(colors) <= {"rgb(255, 255, 255)", "rgb(255, 255, 1)"}
            assert errors == []
        finally:
            await browser.close()
