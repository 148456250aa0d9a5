"""An admin sets crmcard up in the console (development mode), in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.settings import Settings
from bot.web.app import create_app
from tests.console.browser import launch, new_page, playwright_api, screenshots
from tests.crm.fakes.rest import RestFake

pytestmark = pytest.mark.browser

REST_FORM = {
    "Phone search path": "/v2/people?phone={value}",
    "E-mail search path": "/v2/people?email={value}",
    "Results path": "$.data.items",
    "Record path": "/v2/people/{id}",
    "Record in answer": "$.person",
    "ID field": "$.id",
    "Title field": "$.profile.displayName",
}


async def test_admin_connects_a_rest_crm_and_tests_it(aiohttp_server: Any, tmp_path: Path) -> None:
    api = playwright_api()
    expect = api.expect
    crm: TestServer = await aiohttp_server(RestFake(auth="bearer", secret="rest-token").app)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", demo_crm=False)  # type: ignore[call-arg]
    server: TestServer = await aiohttp_server(create_app(settings))
    base = str(server.make_url("")).rstrip("/")
    async with api.async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page, errors = await new_page(browser)
            textbox = lambda name: page.get_by_role("textbox", name=name, exact=False)  # noqa: E731
            await page.goto(base + "/admin")
            await expect(page.locator("#dev-banner")).to_contain_text("Development mode")
            await screenshots(page, "signin")
            await textbox("Bootstrap admin key").fill("demo-admin-key")
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="CRM connections")).to_be_visible()

            await page.get_by_role("button", name="Add a CRM").click()
            await expect(page.get_by_role("heading", name="Add a CRM")).to_be_visible()
            await textbox("Settings ID").fill("people")
            await textbox("Display name").fill("People CRM")
            await textbox("Base URL").fill("ftp://nowhere")
            await page.get_by_label("Sign-in method").select_option("api_key")
            await textbox("API token").fill("rest-token")
            for name, value in REST_FORM.items():
                await page.get_by_role("textbox", name=name, exact=True).fill(value)
            await screenshots(page, "crm-new")
            await page.get_by_role("button", name="Save").click()
            # the server's field error shows next to the field, nothing is stored
            await expect(page.locator('[data-field="base_url"] .field-error')).to_be_visible()
            await textbox("Base URL").fill(str(crm.make_url("")).rstrip("/"))
            await page.get_by_role("button", name="Save").click()
            await expect(page.get_by_role("heading", name="People CRM")).to_be_visible()

            await page.get_by_role("button", name="Test connection").click()
            await expect(page.locator(".test-result")).to_contain_text("Connected")
            await screenshots(page, "crm-detail")

            # the default record-creation policy: title preview handles a missing value
            await page.get_by_role("link", name="Record creation").click()
            heading = page.get_by_role("heading", name="Record-creation policies")
            await expect(heading).to_be_visible()
            await page.get_by_role("button", name="Open").click()
            template = textbox("Title template")
            await template.fill("{CALL_TYPE} from {PHONE_NUMBER} ({MENU_PATH})")
            preview = page.locator("output.preview")
            await expect(preview).to_have_text("IVR call from +49 30 901820")
            await template.press("End")
            await template.press("ArrowLeft")  # the chip goes where the cursor is
            await page.get_by_role("button", name="Insert CALL_ID").click()
            await expect(preview).to_have_text("IVR call from +49 30 901820 (4711)")
            await screenshots(page, "policy")
            await page.get_by_role("button", name="Save policy").click()
            await expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text(
                "Record creation is off"
            )
            assert errors == []
        finally:
            await browser.close()
