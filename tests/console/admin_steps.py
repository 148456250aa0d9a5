"""The admin's steps through the console, shared by the development-mode and Entra runs.

Each step works on a signed-in console page, checks what the admin sees (field errors
next to their fields, results, the "Saved" status) and keeps a screenshot of its page
through ``shoot`` (light and dark, each checked by axe-core).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Shoot = Callable[[str], Awaitable[None]]

REST_FORM = {
    "Phone search path": "/v2/people?phone={value}",
    "E-mail search path": "/v2/people?email={value}",
    "Results path": "$.data.items",
    "Record path": "/v2/people/{id}",
    "Record in answer": "$.person",
    "ID field": "$.id",
    "Title field": "$.profile.displayName",
}
JANE_PHONE = "+1 415 555 0100"


def _textbox(page: Any, name: str) -> Any:
    return page.get_by_role("textbox", name=name, exact=False)


SIGN_IN_LABELS = ("Bootstrap admin key", "Sign in", "First steps")
"""The key's field, the button and the overview's heading the signed-in admin lands on."""


async def sign_in_with_key(
    page: Any,
    expect: Any,
    base: str,
    key: str = "demo-admin-key",
    labels: tuple[str, str, str] = SIGN_IN_LABELS,
) -> None:
    """Development mode: sign in with an admin key (the demo's bootstrap key), the
    console's labels in the page's language (English)."""
    field, button, heading = labels
    await page.goto(base + "/admin")
    await page.get_by_role("textbox", name=field).fill(key)
    await page.get_by_role("button", name=button).click()
    await expect(page.get_by_role("heading", name=heading)).to_be_visible()


async def connect_rest_crm(page: Any, expect: Any, crm_url: str, shoot: Shoot) -> None:
    """Add the generic REST CRM "People CRM" (token ``rest-token``) and test it, a wrong
    token's failure included."""
    await page.get_by_role("link", name="CRM connections").click()
    await page.get_by_role("button", name="Add a CRM").click()
    await expect(page.get_by_role("heading", name="Add a CRM")).to_be_visible()
    await _textbox(page, "Settings ID").fill("people")
    await _textbox(page, "Display name").fill("People CRM")
    await _textbox(page, "Base URL").fill("ftp://nowhere")
    await page.get_by_label("Sign-in method").select_option("api_key")
    await _textbox(page, "API token").fill("rest-token")
    for name, value in REST_FORM.items():
        await page.get_by_role("textbox", name=name, exact=True).fill(value)
    await shoot("crm-new")
    await page.get_by_role("button", name="Save").click()
    # the server's field error shows next to the field, nothing is stored
    await expect(page.locator('[data-field="baseUrl"] .field-error')).to_be_visible()
    await _textbox(page, "Base URL").fill(crm_url)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name="People CRM")).to_be_visible()

    await page.get_by_role("button", name="Test connection").click()
    await expect(page.locator(".test-result")).to_contain_text("Connected")
    health = page.locator('[data-part="crm-health"]')
    await expect(health).to_contain_text("Last test: Passed on")
    await shoot("crm-detail")

    # a wrong secret: the test says what failed, with the CRM's own message
    await _textbox(page, "API token").fill("not-the-token")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    await page.get_by_role("button", name="Test connection").click()
    result = page.locator(".test-result")
    await expect(result).to_contain_text("Authentication failed")
    await expect(result.locator(".vendor-message")).not_to_be_empty()
    await expect(health).to_contain_text("Last test: Failed on")
    await _textbox(page, "API token").fill("rest-token")
    # "Saved" still shows from the save before: wait for this save's answer instead
    async with page.expect_response(
        lambda answer: "/api/admin/crms/" in answer.url and answer.request.method != "GET"
    ):
        await page.get_by_role("button", name="Save").click()
    await page.get_by_role("button", name="Test connection").click()
    await expect(result).to_contain_text("Connected")


async def map_fields(page: Any, expect: Any, shoot: Shoot) -> None:
    """Map a field both ways; a refused CRM field name is shown on its row."""
    await page.get_by_role("link", name="Mappings").click()
    await expect(page.get_by_role("heading", name="Shown on the card")).to_be_visible()
    shown = page.locator("form").filter(has_text="Shown on the card")
    await shown.get_by_role("button", name="Add a field").click()
    await shown.get_by_label("CRM field 1").fill("company")
    await shown.get_by_label("Card label 1").fill("Company")
    await shown.get_by_role("button", name="Save card fields").click()
    await expect(shown.get_by_role("status")).to_contain_text("Saved")
    preview = page.locator("form").filter(has_text="Preview on a sample record")
    await preview.get_by_role("textbox", name="Phone number").fill(JANE_PHONE)
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
    await shoot("mappings")
    await page.reload()
    await expect(page.get_by_label("Card label 1")).to_have_value("Company")
    await expect(page.get_by_label("CRM field 1").last).to_have_value("description")


async def add_routing_rule(page: Any, expect: Any, shoot: Shoot) -> None:
    """A routing rule, refused with six skills, then tried with a lookup."""
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
    await page.get_by_role("textbox", name="Phone number").fill(JANE_PHONE)
    await page.get_by_role("button", name="Look up").click()
    found = page.get_by_role("status").filter(has_text="Identified")
    await expect(found).to_contain_text("Jane Doe")
    await expect(found).to_contain_text('Rule "Everyone known" fired')
    await shoot("routing")


async def add_workflow(page: Any, expect: Any, shoot: Shoot) -> None:
    """A search workflow: refused without a phone/email/name criterion, then run."""
    await page.get_by_role("link", name="Workflows").click()
    await page.get_by_role("button", name="Add a workflow").click()
    await _textbox(page, "Workflow ID").fill("find-person")
    await _textbox(page, "Name").fill("Find a person")
    await _textbox(page, "Search criteria").fill("custom company company")
    await page.get_by_role("button", name="Save workflow").click()
    await expect(page.locator(".form-error")).to_contain_text("custom criteria narrow")
    await _textbox(page, "Search criteria").fill("phone phone")
    await page.get_by_role("button", name="Save workflow").click()
    await expect(page.get_by_role("heading", name="Workflow find-person")).to_be_visible()
    # The saved workflow's page has settled (its reads are done) before the run is typed.
    await page.wait_for_load_state("networkidle")
    inputs = _textbox(page, "Inputs")
    await inputs.fill(f"phone={JANE_PHONE}")
    await expect(inputs).to_have_value(f"phone={JANE_PHONE}")
    await page.get_by_role("button", name="Run", exact=True).click()
    ran = page.get_by_role("status").filter(has_text="It ran")
    await expect(ran).to_contain_text("Jane Doe")
    await shoot("workflow")


async def edit_policy(page: Any, expect: Any, shoot: Shoot) -> None:
    """The default record-creation policy: the title preview handles a missing value, and
    saving it leaves record creation off."""
    await page.get_by_role("link", name="Record creation").click()
    await expect(page.get_by_role("heading", name="Record-creation policies")).to_be_visible()
    await page.get_by_role("button", name="Open").click()
    template = _textbox(page, "Title template")
    await template.fill("{CALL_TYPE} from {PHONE_NUMBER} ({MENU_PATH})")
    preview = page.locator("output.preview")
    await expect(preview).to_have_text("IVR call from +49 30 901820")
    await template.press("End")
    await template.press("ArrowLeft")  # the chip goes where the cursor is
    await page.get_by_role("button", name="Insert CALL_ID").click()
    await expect(preview).to_have_text("IVR call from +49 30 901820 (4711)")
    await shoot("policy")
    await page.get_by_role("button", name="Save policy").click()
    saved = page.get_by_role("status").filter(has_text="Saved")
    await expect(saved).to_contain_text("Record creation is off")


async def create_key(page: Any, expect: Any, shoot: Shoot, name: str) -> str:
    """A platform key, shown once (focused) with a copy button; answers the key."""
    await page.get_by_role("link", name="Platform keys").click()
    await _textbox(page, "Name").fill(name)
    await page.get_by_role("button", name="Create key").click()
    shown = page.locator("[data-new-key]")
    await expect(shown).to_be_focused()
    key: str = await shown.input_value()
    assert len(key) >= 20
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_text("Copied.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == key
    await shoot("keys")
    return key


async def revoke_key(page: Any, expect: Any, name: str) -> None:
    await page.get_by_role("link", name="Platform keys").click()
    await expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("by")
    await page.get_by_role("button", name=f"Revoke {name}").click()
    await page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    await expect(page.get_by_text("No platform key yet.")).to_be_visible()


async def check_overview(page: Any, expect: Any, shoot: Shoot) -> None:
    """The overview after a call: the connection's last test, calls, circuit; the caller."""
    await page.get_by_role("link", name="Overview").click()
    health = page.get_by_role("row").filter(has_text="People CRM")
    await expect(health).to_contain_text("Passed on")
    await expect(health).to_contain_text("0 % of")
    await expect(health).to_contain_text("Closed: calls go through")
    identification = page.locator('[data-part="identification"]')
    await expect(identification).to_contain_text("1 of 1 callers identified (100 %)")
    await shoot("overview-health")


async def check_audit(page: Any, expect: Any, shoot: Shoot, actor: str) -> None:
    """The audit log shows the CRM's creation by ``actor``; the CSV export holds it."""
    await page.get_by_role("link", name="Audit log").click()
    created = page.get_by_role("row").filter(has_text="crm.create")
    await expect(created).to_contain_text(actor)
    await shoot("audit")
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Export CSV").click()
    exported = Path(await (await download.value).path()).read_text()
    assert "crm.create" in exported and actor in exported
