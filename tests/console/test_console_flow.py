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

REST_FORM = {
    "Phone search path": "/v2/people?phone={value}",
    "E-mail search path": "/v2/people?email={value}",
    "Results path": "$.data.items",
    "Record path": "/v2/people/{id}",
    "Record in answer": "$.person",
    "ID field": "$.id",
    "Title field": "$.profile.displayName",
}


JANE = {"phone": "+1 415 555 0100"}


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
            textbox = lambda name: page.get_by_role("textbox", name=name, exact=False)  # noqa: E731
            await page.goto(base + "/admin")
            await expect(page.locator("#dev-banner")).to_contain_text("Development mode")
            await screenshots(page, "signin")
            await textbox("Bootstrap admin key").fill("demo-admin-key")
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="First steps")).to_be_visible()
            await expect(page.locator(".checklist li").first).to_contain_text("To do:")
            await screenshots(page, "overview")

            await page.get_by_role("link", name="CRM connections").click()
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

            # a wrong secret: the test says what failed, with the CRM's own message
            await textbox("API token").fill("not-the-token")
            await page.get_by_role("button", name="Save").click()
            await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
            await page.get_by_role("button", name="Test connection").click()
            result = page.locator(".test-result")
            await expect(result).to_contain_text("Authentication failed")
            await expect(result.locator(".vendor-message")).not_to_be_empty()
            await textbox("API token").fill("rest-token")
            await page.get_by_role("button", name="Save").click()
            await page.get_by_role("button", name="Test connection").click()
            await expect(result).to_contain_text("Connected")

            # map a field both ways; a refused CRM field name is shown on its row
            await page.get_by_role("link", name="Mappings").click()
            await expect(page.get_by_role("heading", name="Shown on the card")).to_be_visible()
            shown = page.locator("form").filter(has_text="Shown on the card")
            await shown.get_by_role("button", name="Add a field").click()
            await shown.get_by_label("CRM field 1").fill("company")
            await shown.get_by_label("Card label 1").fill("Company")
            await shown.get_by_role("button", name="Save card fields").click()
            await expect(shown.get_by_role("status")).to_contain_text("Saved")
            preview = page.locator("form").filter(has_text="Preview on a sample record")
            await preview.get_by_role("textbox", name="Phone number").fill("+1 415 555 0100")
            await preview.get_by_role("button", name="Preview").click()
            await expect(preview.get_by_role("heading", name="Jane Doe")).to_be_visible()
            written = page.locator("form").filter(has_text="Written back to the CRM")
            await written.get_by_role("button", name="Add a field").click()
            await written.get_by_label("crmcard field 1").select_option("notes")
            await written.get_by_label("CRM field 1").fill("not a field!")
            await written.get_by_role("button", name="Save write-back fields").click()
            await expect(written.locator('[data-field="fields.0"] .field-error')).to_be_visible()
            await written.get_by_label("CRM field 1").fill("description")
            await written.get_by_role("button", name="Save write-back fields").click()
            await expect(written.get_by_role("status")).to_contain_text("Saved")
            await screenshots(page, "mappings")
            await page.reload()
            await expect(page.get_by_label("Card label 1")).to_have_value("Company")
            await expect(page.get_by_label("CRM field 1").last).to_have_value("description")

            # a routing rule, refused with six skills, then tried with a lookup
            await page.get_by_role("link", name="Routing rules").click()
            await page.get_by_role("button", name="Add a rule").click()
            rule = page.locator("fieldset.rule")
            await rule.get_by_role("textbox", name="Name").fill("Everyone known")
            await rule.get_by_role("textbox", name="Queue").fill("VIP")
            await rule.get_by_role("textbox", name="Skills").fill("a, b, c, d, e, f")
            await page.get_by_role("button", name="Save rules").click()
            skills_error = page.locator('[data-field="rules.0.skills"] .field-error')
            await expect(skills_error).to_contain_text("at most 5 skills")
            await rule.get_by_role("textbox", name="Skills").fill("priority")
            await page.get_by_role("button", name="Save rules").click()
            await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
            await page.get_by_role("textbox", name="Phone number").fill("+1 415 555 0100")
            await page.get_by_role("button", name="Look up").click()
            found = page.get_by_role("status").filter(has_text="Identified")
            await expect(found).to_contain_text("Jane Doe")
            await expect(found).to_contain_text('Rule "Everyone known" fired')
            await screenshots(page, "routing")

            # a search workflow: refused without a phone/email/name criterion, then run
            await page.get_by_role("link", name="Workflows").click()
            await page.get_by_role("button", name="Add a workflow").click()
            await textbox("Workflow ID").fill("find-person")
            await textbox("Name").fill("Find a person")
            await textbox("Search criteria").fill("custom company company")
            await page.get_by_role("button", name="Save workflow").click()
            await expect(page.locator(".form-error")).to_contain_text("custom criteria narrow")
            await textbox("Search criteria").fill("phone phone")
            await page.get_by_role("button", name="Save workflow").click()
            await expect(page.get_by_role("heading", name="Workflow find-person")).to_be_visible()
            await textbox("Inputs").fill("phone=+1 415 555 0100")
            await page.get_by_role("button", name="Run", exact=True).click()
            await expect(page.get_by_role("status").filter(has_text="It ran")).to_contain_text(
                "Jane Doe"
            )
            await screenshots(page, "workflow")

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

            # a platform key, shown once with a copy button
            await page.get_by_role("link", name="Platform keys").click()
            await textbox("Name").fill("CXone test")
            await page.get_by_role("button", name="Create key").click()
            shown = page.locator("[data-new-key]")
            await expect(shown).to_be_focused()
            key = await shown.input_value()
            assert len(key) >= 20
            await page.get_by_role("button", name="Copy").click()
            await expect(page.get_by_text("Copied.")).to_be_visible()
            assert await page.evaluate("navigator.clipboard.readText()") == key
            await screenshots(page, "keys")

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

            # the overview: the connection's last test, its calls and circuit, the caller
            await page.get_by_role("link", name="Overview").click()
            health = page.get_by_role("row").filter(has_text="People CRM")
            await expect(health).to_contain_text("Passed on")
            await expect(health).to_contain_text("0 % of")
            await expect(health).to_contain_text("Closed: calls go through")
            identification = page.locator('[data-part="identification"]')
            await expect(identification).to_contain_text("1 of 1 callers identified (100 %)")
            await screenshots(page, "overview-health")

            # the generic REST CRM takes no timeline: the write-back is parked, with why
            await page.get_by_role("link", name="Write-backs").click()
            await expect(page.get_by_role("heading", name="Write-backs")).to_be_visible()
            await page.get_by_label("CRM", exact=True).select_option("people")
            row = page.get_by_role("row").filter(has_text="Jane Doe")
            await expect(row).to_contain_text("not supported")
            await screenshots(page, "writebacks")
            await row.get_by_role("button", name="Replay").click()
            await expect(page.get_by_role("status").filter(has_text="sent again")).to_be_visible()

            await page.get_by_role("link", name="Audit log").click()
            await expect(page.get_by_role("row").filter(has_text="crm.create")).to_be_visible()
            await screenshots(page, "audit")
            async with page.expect_download() as download:
                await page.get_by_role("button", name="Export CSV").click()
            exported = Path(await (await download.value).path()).read_text()
            assert "crm.create" in exported

            # the key is revoked: the platform gets 401 at once
            await page.get_by_role("link", name="Platform keys").click()
            await expect(page.get_by_role("row").filter(has_text="CXone test")).to_contain_text(
                "by"
            )
            await page.get_by_role("button", name="Revoke CXone test").click()
            await page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
            await expect(page.get_by_text("No platform key yet.")).to_be_visible()
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
