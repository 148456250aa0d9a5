"""An admin sets crmcard up in the console (development mode), in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.settings import Settings
from bot.web.admin_outbox import WRITEBACK
from bot.web.app import create_app
from tests.activities import installed, interaction_event
from tests.connector import FakeConnector
from tests.console import admin_steps as steps
from tests.console.browser import (
    ARTIFACTS,
    assert_accessible,
    launch,
    new_page,
    playwright_api,
    screenshots,
)
from tests.crm.fakes.rest import RestFake
from tests.writeback.harness import drain

pytestmark = pytest.mark.browser

JANE = {"phone": steps.JANE_PHONE}


async def call(http: aiohttp.ClientSession, key: str, event: str, second: int) -> int:
    payload = interaction_event(
        "call-1", event, customer=JANE, occurred_at=f"2026-11-23T08:00:0{second}Z"
    )
    async with http.post("/api/interactions", json=payload, headers={"X-Api-Key": key}) as sent:
        return sent.status


async def test_admin_sets_up_a_rest_crm_and_follows_a_call_to_its_write_back(
    aiohttp_server: Any, tmp_path: Path, connector: tuple[FakeConnector, str]
) -> None:
    api = playwright_api()
    expect = api.expect
    crm: TestServer = await aiohttp_server(RestFake(auth="bearer", secret="rest-token").app)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        demo_crm=False,
        crm_allow_local_urls=True,  # the operator's allowance: the CRM fake runs on loopback
        writeback_worker=False,  # the test runs the worker: it knows when it is done
    )
    app = create_app(settings)
    server: TestServer = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(base) as http, api.async_playwright() as playwright:
        assert (await http.post("/api/messages", json=installed(connector[1]))).status < 300
        browser = await launch(playwright)
        try:
            page, errors = await new_page(browser)
            await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
            await page.goto(base + "/admin")
            await expect(page.locator("#dev-banner")).to_contain_text("Development mode")
            await screenshots(page, "signin")
            await page.get_by_role("textbox", name="Bootstrap admin key").fill("demo-admin-key")
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="First steps")).to_be_visible()
            await expect(page.locator(".checklist li").first).to_contain_text("To do:")
            await screenshots(page, "overview")

            shoot = lambda name: screenshots(page, name)  # noqa: E731
            await steps.connect_rest_crm(page, expect, str(crm.make_url("")).rstrip("/"), shoot)
            await steps.map_fields(page, expect, shoot)
            await steps.add_routing_rule(page, expect, shoot)
            await steps.add_workflow(page, expect, shoot)
            await steps.edit_policy(page, expect, shoot)
            key = await steps.create_key(page, expect, shoot, "CXone test")

            # the platform sends a call: the agent's card shows the CRM's record
            for second, event in enumerate(("assigned", "connected")):
                assert await call(http, key, event, second) == 202
            tab = await browser.new_page()
            await tab.goto(base + "/tab")
            await expect(tab.locator("#card")).to_contain_text("Jane Doe")
            await tab.get_by_role("button", name="Link", exact=True).first.click()
            await expect(tab.get_by_role("button", name="Linked", exact=True)).to_have_count(1)
            assert await call(http, key, "ended", 5) == 202
            assert await call(http, key, "acw-completed", 6) == 202
            await drain(app[WRITEBACK])

            await steps.check_overview(page, expect, shoot)

            # the generic REST CRM takes no timeline: the write-back is parked, with why
            await page.get_by_role("link", name="Write-backs").click()
            await expect(page.get_by_role("heading", name="Write-backs")).to_be_visible()
            await page.get_by_label("CRM", exact=True).select_option("people")
            row = page.get_by_role("row").filter(has_text="Jane Doe")
            await expect(row).to_contain_text("not supported")
            await screenshots(page, "writebacks")
            await row.get_by_role("button", name="Replay").click()
            await expect(page.get_by_role("status").filter(has_text="sent again")).to_be_visible()

            await steps.check_audit(page, expect, shoot, "admin-key:demo-tenant")

            # the key is revoked: the platform gets 401 at once
            await steps.revoke_key(page, expect, "CXone test")
            assert await call(http, key, "assigned", 7) == 401

            # Teams' high-contrast theme, and the width of a Teams side panel
            await page.goto(base + "/admin?theme=contrast#/crms")
            await expect(page.get_by_role("heading", name="CRM connections")).to_be_visible()
            assert await page.evaluate("document.documentElement.dataset.theme") == "contrast"
            await assert_accessible(page, "crms (high contrast)")
            await page.set_viewport_size({"width": 320, "height": 800})
            await page.goto(base + "/admin#/policies/_default")
            await expect(page.locator("output.preview")).not_to_be_empty()
            await assert_accessible(page, "policy (side panel)")
            overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            assert await page.evaluate(overflow) <= 0
            await page.screenshot(path=str(ARTIFACTS / "policy-side-panel.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
