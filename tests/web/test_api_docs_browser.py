"""The API reference page (``/api/docs``) in headless Chromium: it renders the document's
operations from this server alone (no request to any other host), without script errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestServer

from bot.web.api_docs import DOCS_PATH, document
from bot.web.app import create_app
from tests.console.browser import launch, new_page, playwright_api
from tests.web.test_openapi import app_settings

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "api-docs"


async def test_the_reference_page_renders_every_tag_from_this_server_alone(
    aiohttp_server: Callable[..., Any], tmp_path: Path
) -> None:
    api = playwright_api()  # builds console/dist (the page's files) when it is stale
    server: TestServer = await aiohttp_server(create_app(app_settings(tmp_path)))
    base = str(server.make_url("")).rstrip("/")
    spec = document()
    tags = sorted({op["tags"][0] for item in spec["paths"].values() for op in item.values()})
    async with api.async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page, errors = await new_page(browser, width=1200)
            hosts: list[str] = []
            page.on("request", lambda request: hosts.append(urlsplit(request.url).netloc))
            await page.goto(base + DOCS_PATH)
            expect = api.expect
            await expect(page.locator(".information-container .title")).to_contain_text("crmcard")
            for tag in tags:
                await expect(page.locator(f'h3[data-tag="{tag}"]')).to_be_visible()
            # the admin API's routes are listed with their methods
            admin = page.locator(".opblock-tag-section", has=page.locator('h3[data-tag="crms"]'))
            await expect(admin.locator(".opblock-summary-path").first).to_be_visible()
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/api/admin/crms" in p for p in paths), paths
            assert len(paths) == sum(len(item) for item in spec["paths"].values())
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
            assert errors == []
            assert set(hosts) == {urlsplit(base).netloc}, hosts
        finally:
            await browser.close()
