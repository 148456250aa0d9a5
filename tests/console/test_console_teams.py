"""The console as the "Admin" personal tab inside Teams: Teams SSO through the TeamsJS
SDK (``authentication.getAuthToken``), the host's theme and language, in headless
Chromium with an emulated Teams host (``tests.console.teams_host``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.auth.openid_issuer import LocalIssuer
from tests.console.browser import assert_accessible, new_page, playwright_api
from tests.console.teams_host import host_page, push_theme, serve_host
from tests.console.test_console_entra import ADMIN, AGENT, launch_trusting_the_authority, serve
from tests.crm.conftest import Tls, tls  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


async def test_teams_hosts_the_console_with_sso_its_theme_and_language(
    aiohttp_server: Any,
    tmp_path: Path,
    issuer: LocalIssuer,
    tls: Tls,  # noqa: F811
) -> None:
    api = playwright_api()
    expect = api.expect
    public_url, signin = await serve(aiohttp_server, tmp_path, issuer, tls)
    async with api.async_playwright() as playwright:
        browser = await launch_trusting_the_authority(playwright)
        try:
            page, errors = await new_page(browser)
            token = signin.access_token(ADMIN)
            html = host_page(token, user=ADMIN, locale="de-DE", theme="dark")
            async with page.expect_request(lambda r: "/api/admin/me" in r.url) as sent:
                await page.goto(await serve_host(page, public_url, html))
            assert (await sent.value).headers.get("authorization") == f"Bearer {token}"
            # in Teams' language, refusals included (the browser's own is English)
            assert (await sent.value).headers.get("accept-language") == "de"
            tab = page.frame_locator("#tab")
            # German from the Teams context, Teams' dark theme, no sign-in and no sign-out
            await expect(tab.get_by_role("heading", name="Übersicht")).to_be_visible()
            await expect(tab.locator(".who")).to_contain_text("Ada Admin")
            await expect(tab.get_by_role("button", name="Abmelden")).to_have_count(0)
            frame = page.frame(url=lambda url: "/admin" in url)
            assert await frame.evaluate("document.documentElement.dataset.theme") == "dark"
            assert await frame.evaluate("document.documentElement.lang") == "de"
            calls = await page.evaluate("window.hostCalls")
            assert {"initialize", "getContext", "authentication.getAuthToken"} <= set(calls)
            assert signin.token_requests == []  # no MSAL sign-in inside Teams

            # the admin switches Teams to high contrast: the console follows at once
            await push_theme(page, "contrast")
            await frame.wait_for_function("document.documentElement.dataset.theme === 'contrast'")
            await assert_accessible(frame, "overview in Teams (high contrast)")

            # an agent opening the tab is sent to their admin, still inside Teams
            agent_page, agent_errors = await new_page(browser)
            agent_html = host_page(
                signin.access_token(AGENT), user=AGENT, locale="en-US", theme="default"
            )
            await agent_page.goto(await serve_host(agent_page, public_url, agent_html))
            agent_tab = agent_page.frame_locator("#tab")
            heading = agent_tab.get_by_role("heading", name="You are not an admin of crmcard")
            await expect(heading).to_be_visible()
            assert errors == [] and agent_errors == []
        finally:
            await browser.close()
