"""Entra sign-in in the browser: MSAL (authorization code + PKCE) against a local
authority, with access tokens minted by the suite's local OpenID issuer.

An admin (the crmcard.Admin app role) reaches the console and sets crmcard up with
their Entra token alone; an agent's token gets the "ask your Teams admin" page.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.web.app import create_app
from tests.activities import interaction_event
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import SSO_CLIENT_ID, TENANT_A, sso_settings, sso_token
from tests.console import admin_steps as steps
from tests.console.admin_steps import JANE_PHONE
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, new_page, playwright_api, screenshots
from tests.console.entra_signin import EntraSignIn
from tests.crm.conftest import Tls, tls  # noqa: F401  (fixture)
from tests.crm.fakes.rest import RestFake

pytestmark = pytest.mark.browser

ADMIN = {
    "tid": TENANT_A,
    "oid": "ad0000ad-0000-4000-8000-0000000000ad",
    "name": "Ada Admin",
    "username": "ada@contoso.example",
}
AGENT = {
    "tid": TENANT_A,
    "oid": "a0a0a0a0-0000-4000-8000-0000000000a1",
    "name": "Avery Agent",
    "username": "avery@contoso.example",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def serve(
    aiohttp_server: Any,
    tmp_path: Path,
    issuer: LocalIssuer,
    tls: Tls,  # noqa: F811
    **overrides: Any,
) -> tuple[str, EntraSignIn]:
    """crmcard with Entra sign-in, and the authority its page signs in at."""
    port = free_port()
    signin = EntraSignIn(access_token=lambda user: "")
    authority_server: TestServer = await aiohttp_server(signin.app(), ssl=tls.server)
    signin.base_url = str(authority_server.make_url("")).rstrip("/")
    authority = f"{signin.base_url}/entra"

    def access_token(user: dict[str, str]) -> str:
        return sso_token(
            issuer,
            tenant=user["tid"],
            agent=user["oid"],
            audience=f"api://127.0.0.1/{SSO_CLIENT_ID}",  # the Application ID URI: no port
            iss=f"{authority}/{user['tid']}/v2.0",
            roles=["crmcard.Admin"] if user is ADMIN else [],
            name=user["name"],
            preferred_username=user["username"],
        )

    signin.access_token = access_token
    public_url = f"http://127.0.0.1:{port}"
    settings = sso_settings(
        tmp_path,
        issuer,
        public_url=public_url,
        entra_authority=authority,
        tenant_gate=False,
        demo_crm=False,
        **overrides,
    )
    await aiohttp_server(create_app(settings), port=port)
    return public_url, signin


async def launch_trusting_the_authority(playwright: Any) -> Any:
    """The local authority's certificate is self-signed."""
    args = [*CHROMIUM_ARGS, "--ignore-certificate-errors"]
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=args)


async def test_an_admin_signs_in_with_msal_and_an_agent_is_sent_to_their_admin(
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
            signin.user = ADMIN
            await page.goto(public_url + "/admin")
            await expect(page.locator("#dev-banner")).to_have_count(0)
            async with page.expect_request(lambda r: "/api/admin/" in r.url) as sent:
                await page.get_by_role("button", name="Sign in with Microsoft").click()
            [exchange] = signin.token_requests
            assert exchange["grant_type"] == "authorization_code"
            assert exchange["code_verifier"]  # PKCE: the code alone was not enough
            authorization = (await sent.value).headers.get("authorization", "")
            assert authorization == f"Bearer {signin.issued[-1]}"
            await expect(page.get_by_role("heading", name="First steps")).to_be_visible()
            await expect(page.locator(".who")).to_contain_text("Ada Admin")
            await screenshots(page, "entra-overview")

            # a change made with the Entra token is the signed-in admin's in the audit log
            await page.get_by_role("link", name="Platform keys").click()
            await page.get_by_role("textbox", name="Name").fill("Genesys")
            await page.get_by_role("button", name="Create key").click()
            await expect(page.locator("[data-new-key]")).to_be_focused()
            await page.get_by_role("link", name="Audit log").click()
            created = page.get_by_role("row").filter(has_text="key.create")
            await expect(created).to_contain_text(ADMIN["username"])

            agent_page, agent_errors = await new_page(browser)
            signin.user = AGENT
            await agent_page.goto(public_url + "/admin")
            await agent_page.get_by_role("button", name="Sign in with Microsoft").click()
            heading = agent_page.get_by_role("heading", name="You are not an admin of crmcard")
            await expect(heading).to_be_visible()
            await expect(agent_page.locator("main")).to_contain_text("Ask your Teams admin")
            await screenshots(agent_page, "not-admin")
            assert errors == [] and agent_errors == []
        finally:
            await browser.close()


async def test_an_entra_admin_sets_crmcard_up_end_to_end(
    aiohttp_server: Any,
    tmp_path: Path,
    issuer: LocalIssuer,
    tls: Tls,  # noqa: F811
) -> None:
    """Every admin request carries the Entra token (no bootstrap key): connect a CRM, map,
    route, a workflow, a policy, a platform key the platform then uses, the audit."""
    api = playwright_api()
    expect = api.expect
    crm: TestServer = await aiohttp_server(RestFake(auth="bearer", secret="rest-token").app)
    public_url, signin = await serve(
        aiohttp_server,
        tmp_path,
        issuer,
        tls,
        crm_allow_local_urls=True,  # the operator's allowance: the CRM fake runs on loopback
        writeback_worker=False,
    )
    async with api.async_playwright() as playwright, aiohttp.ClientSession(public_url) as http:
        browser = await launch_trusting_the_authority(playwright)
        try:
            page, errors = await new_page(browser)
            await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
            signin.user = ADMIN
            refused: list[str] = []
            page.on(
                "request",
                lambda r: (
                    "/api/admin/" in r.url
                    and not r.headers.get("authorization", "").startswith("Bearer ")
                    and refused.append(r.url)
                ),
            )
            await page.goto(public_url + "/admin")
            await page.get_by_role("button", name="Sign in with Microsoft").click()
            await expect(page.get_by_role("heading", name="First steps")).to_be_visible()

            shoot = lambda name: screenshots(page, f"entra-{name}")  # noqa: E731
            await steps.connect_rest_crm(page, expect, str(crm.make_url("")).rstrip("/"), shoot)
            await steps.map_fields(page, expect, shoot)
            await steps.add_routing_rule(page, expect, shoot)
            await steps.add_workflow(page, expect, shoot)
            await steps.edit_policy(page, expect, shoot)
            key = await steps.create_key(page, expect, shoot, "Genesys")
            event = interaction_event("entra-call", "assigned", customer={"phone": JANE_PHONE})
            async with http.post("/api/interactions", json=event, headers={"X-Api-Key": key}) as r:
                assert r.status == 202, await r.text()
            await steps.check_overview(page, expect, shoot)
            await steps.check_audit(page, expect, shoot, ADMIN["username"])
            await steps.revoke_key(page, expect, "Genesys")
            async with http.post("/api/interactions", json=event, headers={"X-Api-Key": key}) as r:
                assert r.status == 401
            assert refused == [] and len(signin.token_requests) == 1
            assert errors == []
        finally:
            await browser.close()
