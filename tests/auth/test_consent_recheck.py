"""A tenant that removes crmcard's app in Entra is noticed, refused everywhere, and restored
by consenting again; over real HTTP against the local Entra authority and OpenID issuer.

Entra sends an app nothing when a tenant deletes its enterprise application: from then on
every sign-in of the app in that tenant is ``unauthorized_client`` / ``AADSTS700016``
(https://learn.microsoft.com/entra/identity-platform/reference-error-codes). The consent
re-check asks exactly that, and only an answer about the tenant revokes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from bot.services import audit, tenants
from bot.services.audit import AuditQuery, Door
from bot.services.consent_recheck import RECHECK_ACTOR
from bot.web import consent
from bot.web.consent import CONSENT_RECHECK
from bot.web.interactions import CONTEXT
from bot.web.tickets import TICKETING
from tests.activities import card_action, interaction_event
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import AGENT_B, bearer, sso_token
from tests.auth.test_consent import consenting_app
from tests.auth.test_tenant_gate import bot_token, no_outbound_sign_in, of_tenant
from tests.connector import FakeConnector
from tests.crm.conftest import Tls
from tests.crm.fakes.entra import FakeEntra

Client = TestClient[Any, Any]
KEY = {"X-Api-Key": "key-c"}
ADMIN = {"X-Admin-Key": "admin-c"}
GRANT_AGAIN = "grant admin consent again"

pytestmark = pytest.mark.usefixtures(no_outbound_sign_in.__name__)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    tls: Tls,
) -> AsyncIterator[Client]:
    app = consenting_app(
        tmp_path,
        issuer,
        entra,
        tls,
        api_keys={entra.tenant: "key-c"},
        admin_keys={entra.tenant: "admin-c"},
    )
    yield await aiohttp_client(app)


async def grant(client: Client, tenant: str) -> None:
    """An administrator of ``tenant`` goes through the consent page and Entra's callback."""
    page = await client.get("/admin/consent")
    link = (await page.text()).split('id="consent" href="', 1)[1].split('"', 1)[0]
    state = parse_qs(urlsplit(link.replace("&amp;", "&")).query)["state"][0]
    cookie = page.cookies[consent.COOKIE].value
    response = await client.get(
        "/admin/consent/callback",
        params={"admin_consent": "True", "tenant": tenant, "state": state},
        headers={"Cookie": f"{consent.COOKIE}={cookie}"},
    )
    assert response.status == 200, await response.text()


async def surfaces(
    client: Client, issuer: LocalIssuer, entra: FakeEntra, url: str
) -> dict[str, tuple[int, str]]:
    """What each door of crmcard answers the tenant: (status, the message or the card)."""
    tab = sso_token(
        issuer,
        tenant=entra.tenant,
        agent=AGENT_B,
        audience="app-id",
        iss=f"{entra.base_url}/{entra.tenant}/v2.0",
    )
    answers: dict[str, tuple[int, str]] = {}
    response = await client.get("/api/tab/card", headers=bearer(tab))
    answers["tab"] = (response.status, await response.text())
    response = await client.get("/api/admin/crms", headers=ADMIN)
    answers["admin"] = (response.status, await response.text())
    event = interaction_event("call-1", "assigned")
    response = await client.post("/api/interactions", json=event, headers=KEY)
    answers["webhook"] = (response.status, await response.text())
    invoke = of_tenant(card_action(url, "demoCall", {"from": "+1 555 0100"}), entra.tenant)
    response = await client.post("/api/messages", json=invoke, headers=bot_token(issuer, url))
    body = await response.json()
    answers["bot"] = (body.get("statusCode", response.status), str(body.get("value")))
    return answers


async def test_a_tenant_that_removed_the_app_is_revoked_refused_and_restored_by_consenting(
    client: Client, issuer: LocalIssuer, entra: FakeEntra, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    assert client.app is not None
    store, recheck = client.app[CONTEXT].store, client.app[CONSENT_RECHECK]
    await grant(client, entra.tenant)
    served = await surfaces(client, issuer, entra, url)
    assert {door: status for door, (status, _) in served.items()} == {
        "tab": 200,
        "admin": 200,
        "webhook": 202,
        "bot": 200,
    }, served
    assert await recheck.once() == [], "the app is still there: nothing changes"
    assert await client.app[TICKETING].tenants() == [entra.tenant]

    entra.app_removed = True  # the tenant's administrator deletes the enterprise app
    assert await recheck.once() == [entra.tenant]
    record = await tenants.consent_of(store, entra.tenant)
    assert record is not None and not record.consented
    revoked = record.history[-1]
    assert (revoked.action, revoked.by) == ("revoked", RECHECK_ACTOR)
    assert "AADSTS700016" in revoked.detail
    [entry] = await audit.query(store, entra.tenant, AuditQuery(kind="consent.revoked"))
    assert (entry.door, entry.actor) == (Door.system, RECHECK_ACTOR)
    refused = await surfaces(client, issuer, entra, url)
    for door, (status, text) in refused.items():
        assert status == 401 and GRANT_AGAIN in text, (door, status, text)
    assert await client.app[TICKETING].tenants() == [], "its tickets are no longer synced"
    assert await recheck.once() == [], "revoked once, not again every round"

    entra.app_removed = False  # an administrator consents again
    await grant(client, entra.tenant)
    restored = await surfaces(client, issuer, entra, url)
    assert [status for status, _ in restored.values()] == [200, 200, 202, 200], restored
    record = await tenants.consent_of(store, entra.tenant)
    assert record is not None
    assert [e.action for e in record.history] == ["granted", "revoked", "granted"]


async def test_an_answer_that_says_nothing_about_the_tenant_revokes_nothing(
    client: Client, entra: FakeEntra
) -> None:
    assert client.app is not None
    store, recheck = client.app[CONTEXT].store, client.app[CONSENT_RECHECK]
    await grant(client, entra.tenant)
    entra.fail_next = 10  # Entra is down (503) through the round
    assert await recheck.once() == []
    entra.fail_next = 0
    entra.clients = {"app-id": "a rotated secret"}  # this server's own secret is refused
    assert await recheck.once() == []
    assert await tenants.is_consented(store, entra.tenant)
    assert await audit.query(store, entra.tenant, AuditQuery(kind="consent.revoked")) == []


async def test_the_server_re_checks_every_interval_while_the_gate_is_on(
    client: Client, entra: FakeEntra
) -> None:
    """``run`` waits the interval, then re-checks, round after round (its sleep injected)."""
    assert client.app is not None
    await grant(client, entra.tenant)
    entra.app_removed = True
    waits: list[float] = []
    rounds = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            rounds.set()
            await asyncio.Event().wait()  # the third wait lasts until the task is cancelled

    recheck = dataclasses.replace(client.app[CONSENT_RECHECK], sleep=sleep)
    task = asyncio.create_task(recheck.run(3600))
    await rounds.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert waits == [3600, 3600, 3600]
    assert not await tenants.is_consented(client.app[CONTEXT].store, entra.tenant)
