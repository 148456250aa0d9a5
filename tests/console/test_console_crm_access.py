"""A CRM's ``access`` (application | delegated) in the console: offered only for the kinds
whose API accepts "delegated" (Dynamics 365), stored as chosen, changed on the CRM page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.settings import Settings
from bot.web.app import create_app
from tests.console.admin_steps import sign_in_with_key
from tests.console.browser import assert_accessible, launch, new_page, playwright_api

pytestmark = pytest.mark.browser

ADMIN = {"X-Admin-Key": "demo-admin-key"}


async def test_the_access_of_a_dynamics_connection_is_chosen_and_changed(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    api = playwright_api()
    expect = api.expect
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        demo_crm=False,
        crm_allow_local_urls=True,  # the operator's allowance: no CRM is called here
    )
    server: TestServer = await aiohttp_server(create_app(settings))
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(base) as http, api.async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page, errors = await new_page(browser)
            await sign_in_with_key(page, expect, base)
            await page.get_by_role("link", name="CRM connections").click()
            await page.get_by_role("button", name="Add a CRM").click()
            access = page.get_by_label("Whose access")
            await expect(access).to_have_count(0)  # a REST CRM is always called as crmcard

            await page.get_by_label("Kind").select_option("dynamics")
            await expect(access).to_have_value("application")
            options = await access.locator("option").all_inner_texts()
            assert options == [
                "Application: crmcard's own access",
                "Delegated: each agent's own access",
            ]
            textbox = lambda name: page.get_by_role("textbox", name=name, exact=False)  # noqa: E731
            await textbox("Settings ID").fill("d365")
            await textbox("Display name").fill("Dynamics")
            await textbox("Base URL").fill("http://127.0.0.1:9")
            await textbox("Directory (tenant) ID").fill("11111111-2222-4333-8444-555555555555")
            await textbox("Client ID").fill("66666666-7777-4888-8999-000000000000")
            await textbox("Client secret").fill("client-secret")
            await access.select_option("delegated")
            await assert_accessible(page, "new Dynamics CRM")
            await page.get_by_role("button", name="Save").click()
            await expect(page.get_by_role("heading", name="Dynamics")).to_be_visible()
            async with http.get("/api/admin/crms/d365", headers=ADMIN) as stored:
                assert (await stored.json())["access"] == "delegated"

            await expect(access).to_have_value("delegated")
            await access.select_option("application")
            await page.get_by_role("button", name="Save").click()
            await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
            async with http.get("/api/admin/crms/d365", headers=ADMIN) as stored:
                assert (await stored.json())["access"] == "application"
            async with http.get("/api/admin/audit", headers=ADMIN) as audit:
                assert "crm.update" in await audit.text()
            assert errors == []
        finally:
            await browser.close()
