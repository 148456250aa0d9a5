"""The Write-backs page says what a pending write-back waits for, the agent's sign-in or
the tenant's admin consent, in the admin's language (English, German, French), in
headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.i18n.catalogues import LOCALES_DIR
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.console.admin_steps import sign_in_with_key
from tests.console.browser import launch, new_page, playwright_api, screenshots
from tests.writeback.harness import TENANT, store_every_wait

pytestmark = pytest.mark.browser

ADMIN_KEY = "admin-2"
LABELS = {  # the browser's language: what call-sign-in and call-consent wait for
    "en-US": ("Waiting for sign-in", "Waiting for consent"),
    "de-DE": ("Wartet auf Anmeldung", "Wartet auf Zustimmung"),
    "fr-FR": ("En attente de connexion", "En attente de consentement"),
}

WHOLE = "e => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight"
"""An element shows all it holds (a Fluent badge is one line high: a wrapped label is cut)."""


def console_texts(locale: str) -> dict[str, str]:
    texts: dict[str, str] = json.loads((LOCALES_DIR / locale[:2] / "admin.json").read_text())
    return texts


def waiting_label(page: Any, interaction_id: str) -> Any:
    """The badge in the write-back's row saying what it waits for (its reason may use the
    same words: it is not the label)."""
    return page.get_by_role("row").filter(has_text=interaction_id).locator("fluent-badge")


async def test_pending_write_backs_say_what_they_wait_for(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    api = playwright_api()
    expect = api.expect
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        admin_keys={TENANT: ADMIN_KEY},
        writeback_worker=False,  # store_every_wait runs the worker
    )
    app = create_app(settings)
    server: TestServer = await aiohttp_server(app)
    await store_every_wait(app[CONTEXT].store)
    base = str(server.make_url("")).rstrip("/")
    async with api.async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            for locale, (sign_in, consent) in LABELS.items():
                page, errors = await new_page(browser, locale=locale)
                texts = console_texts(locale)
                labels = (
                    texts["signin.dev.key"],
                    texts["signin.dev.submit"],
                    texts["overview.checklist"],
                )
                await sign_in_with_key(page, expect, base, ADMIN_KEY, labels)
                await page.goto(base + "/admin#/writebacks?status=pending")
                for interaction_id, label in (("call-sign-in", sign_in), ("call-consent", consent)):
                    badge = waiting_label(page, interaction_id)
                    await expect(badge).to_have_text(label)
                    assert await badge.evaluate(WHOLE), f"{label!r} is cut off"
                retried = page.get_by_role("row").filter(has_text="call-outage")
                await expect(retried).to_contain_text("Demo CRM is down (503)")
                await expect(waiting_label(page, "call-outage")).to_have_count(0)
                if locale == "en-US":
                    await screenshots(page, "writebacks-waiting")
                assert errors == []
                await page.close()
        finally:
            await browser.close()
