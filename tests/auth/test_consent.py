"""Multi-tenant admin consent over real HTTP, confirmed against a local Entra authority.

``GET /admin/consent`` builds the ``adminconsent`` link with a sealed, expiring state
bound to the browser by a cookie; ``GET /admin/consent/callback`` records the tenant only
when the state is genuine *and* Entra confirms the app really is consented there (an
app-only sign-in in that tenant), and shows a clear page otherwise, recording nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.cli import main
from bot.services import audit, outbox, tenants
from bot.services.audit import Door
from bot.services.outbox import OutboxStatus
from bot.services.retry import RetryPolicy
from bot.services.secret_box import SecretBox
from bot.settings import Settings
from bot.web import consent
from bot.web.admin_outbox import WRITEBACK
from bot.web.app import create_app
from bot.web.consent import CONSENT_VERIFIER, MsalConsentVerifier
from bot.web.interactions import CONTEXT
from tests.auth.openid_issuer import LocalIssuer
from tests.auth.sso_tokens import PUBLIC_URL, sso_settings
from tests.crm.conftest import Tls
from tests.crm.fakes.entra import FakeEntra
from tests.writeback.harness import interaction

Client = TestClient[Any, Any]
CALLBACK = "/admin/consent/callback"


def consenting_app(
    tmp_path: Path, issuer: LocalIssuer, entra: FakeEntra, tls: Tls, **overrides: Any
) -> web.Application:
    """The server with its SSO app registered in the local Entra, which confirms consents."""
    settings = sso_settings(
        tmp_path,
        issuer,
        sso_client_id="app-id",
        sso_client_secret="app-secret",
        entra_authority=entra.base_url,
        **overrides,
    )
    app = create_app(settings)
    app[CONSENT_VERIFIER] = MsalConsentVerifier(settings, verify=tls.ca_file)
    return app


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    tls: Tls,
) -> AsyncIterator[Client]:
    yield await aiohttp_client(consenting_app(tmp_path, issuer, entra, tls))


async def stored(client: Client) -> list[str]:
    assert client.app is not None
    return [key async for key in client.app[CONTEXT].store.keys("")]


async def start(client: Client, tenant: str | None = None) -> tuple[str, dict[str, list[str]], str]:
    """Open the consent page: (link, its query, the browser's state cookie)."""
    response = await client.get("/admin/consent", params={"tenant": tenant} if tenant else None)
    assert response.status == 200
    page = await response.text()
    link = page.split('id="consent" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    cookie = response.cookies[consent.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["secure"]
    return link, parse_qs(urlsplit(link).query), cookie.value


async def callback(client: Client, cookie: str | None, **params: str) -> tuple[int, str]:
    headers = {"Cookie": f"{consent.COOKIE}={cookie}"} if cookie else {}
    response = await client.get(CALLBACK, params=params, headers=headers)
    return response.status, await response.text()


async def test_consent_page_links_to_the_adminconsent_endpoint(
    client: Client, entra: FakeEntra
) -> None:
    link, query, _ = await start(client)
    assert link.startswith(f"{entra.base_url}/organizations/v2.0/adminconsent?")
    assert query["client_id"] == ["app-id"]
    assert query["redirect_uri"] == [f"{PUBLIC_URL}/admin/consent/callback"]
    assert query["scope"] == ["https://graph.microsoft.com/.default"]
    assert query["state"][0]
    link, _, _ = await start(client, tenant="contoso.onmicrosoft.com")
    assert link.startswith(f"{entra.base_url}/contoso.onmicrosoft.com/v2.0/adminconsent?")
    bad = await client.get("/admin/consent", params={"tenant": "x/../y"})
    assert bad.status == 400


async def test_granted_consent_is_confirmed_and_recorded_with_who_and_when(
    client: Client, entra: FakeEntra
) -> None:
    _, query, cookie = await start(client)
    status, page = await callback(
        client, cookie, admin_consent="True", tenant=entra.tenant, state=query["state"][0]
    )
    assert status == 200, page
    assert "crmcard is enabled" in page
    assert [i.grant for i in entra.token_requests()] == ["client_credentials"]
    assert client.app is not None
    store = client.app[CONTEXT].store
    assert await tenants.is_consented(store, entra.tenant)
    record = await tenants.consent_of(store, entra.tenant)
    assert record is not None and record.granted_at is not None
    [event] = record.history
    assert event.action == "granted" and entra.tenant in event.by and event.detail
    [registry_key, audit_key, consent_key] = sorted(await stored(client))
    assert registry_key == f"tenant-registry/{entra.tenant}"  # found by retention sweeps
    assert consent_key == f"tenants/{entra.tenant}/consent"
    assert audit_key.startswith(f"tenants/{entra.tenant}/audit-log/")
    [entry] = await audit.query(store, entra.tenant)
    assert (entry.kind, entry.door, entry.actor) == ("consent.granted", Door.api, event.by)

    # revoked: the tenant is refused again, and the history keeps both
    await tenants.revoke(store, entra.tenant, at=event.at, by="operator")
    assert not await tenants.is_consented(store, entra.tenant)
    record = await tenants.consent_of(store, entra.tenant)
    assert record is not None
    assert [e.action for e in record.history] == ["granted", "revoked"]


async def test_a_grant_makes_the_tenants_write_backs_waiting_for_consent_due_at_once(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    entra: FakeEntra,
    tls: Tls,
) -> None:
    """What the gate held back (no consent yet) is delivered right after the callback, not
    after its backoff (an hour here)."""
    app = consenting_app(tmp_path, issuer, entra, tls, writeback_worker=False)
    client: Client = await aiohttp_client(app)
    store, worker = app[CONTEXT].store, app[WRITEBACK]
    worker.policy = RetryPolicy(base_delay=3600.0, max_delay=3600.0)
    due = interaction("call-1").model_copy(update={"tenant_id": entra.tenant})
    [queued] = await outbox.enqueue(store, app[CONTEXT].crms, due, app[CONTEXT].clock())
    await worker.run_once()  # the gate refuses the tenant: nothing is written
    [waiting] = await outbox.items_for(store, entra.tenant, "call-1")
    assert waiting.waiting_for_consent and waiting.attempts == 0
    assert waiting.next_attempt_at > queued.created_at + timedelta(minutes=29)

    _, query, cookie = await start(client)
    status, page = await callback(
        client, cookie, admin_consent="True", tenant=entra.tenant, state=query["state"][0]
    )
    assert status == 200, page
    [made_due] = await outbox.items_for(store, entra.tenant, "call-1")
    assert made_due.next_attempt_at < waiting.next_attempt_at
    assert await worker.run_once() == 1
    [written] = await outbox.items_for(store, entra.tenant, "call-1")
    assert written.status is OutboxStatus.done and written.attempts == 1


async def test_declined_consent_shows_what_entra_said_and_records_nothing(
    client: Client,
) -> None:
    _, query, cookie = await start(client)
    status, page = await callback(
        client,
        cookie,
        error="access_denied",
        error_description="AADSTS65004: User declined to consent <script>alert(1)</script>",
        state=query["state"][0],
    )
    assert status == 400
    assert "Consent was declined" in page and "AADSTS65004" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert await stored(client) == []


async def test_a_hand_made_callback_for_a_tenant_entra_does_not_confirm_is_refused(
    client: Client,
) -> None:
    _, query, cookie = await start(client)
    status, page = await callback(
        client, cookie, admin_consent="True", tenant="evil-tenant", state=query["state"][0]
    )
    assert status == 400
    assert "could not be confirmed" in page
    assert await stored(client) == []
    _, query, cookie = await start(client)
    status, page = await callback(
        client, cookie, admin_consent="True", tenant="x/../y?", state=query["state"][0]
    )
    assert status == 400
    assert "not granted" in page
    assert await stored(client) == []


@pytest.mark.parametrize("case", ["no state", "garbage", "other key", "no cookie", "other cookie"])
async def test_bad_state_is_refused_and_records_nothing(
    client: Client, entra: FakeEntra, case: str
) -> None:
    _, query, cookie = await start(client)
    state: str | None = query["state"][0]
    presented: str | None = cookie
    if case == "no state":
        state = None
    elif case == "garbage":
        state = "djE6bm90LXNlYWxlZA"
    elif case == "other key":
        state = consent._seal_state(SecretBox.from_setting(SecretBox.new_key()), cookie)
    elif case == "no cookie":
        presented = None
    else:
        presented = "another-browsers-nonce"
    params = {"admin_consent": "True", "tenant": entra.tenant}
    if state is not None:
        params["state"] = state
    status, page = await callback(client, presented, **params)
    assert status == 400
    assert "not valid" in page
    assert await stored(client) == []
    assert entra.token_requests() == []


async def test_expired_or_reused_state_is_refused(
    client: Client, entra: FakeEntra, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, query, cookie = await start(client)
    state = query["state"][0]
    later = time.time() + consent.STATE_LIFETIME_SECONDS + 1
    with monkeypatch.context() as patched:
        patched.setattr(consent.time, "time", lambda: later)
        status, _ = await callback(
            client, cookie, admin_consent="True", tenant=entra.tenant, state=state
        )
    assert status == 400
    assert await stored(client) == []

    # the browser that used its state gets its cookie deleted: the link works once
    response = await client.get(
        CALLBACK,
        params={"admin_consent": "True", "tenant": entra.tenant, "state": state},
        headers={"Cookie": f"{consent.COOKIE}={cookie}"},
    )
    assert response.status == 200
    deleted = response.cookies[consent.COOKIE]
    assert deleted.value == "" and deleted["max-age"] == "0"


async def test_without_an_app_there_is_nothing_to_consent_to(
    aiohttp_client: Callable[..., Any], tmp_path: Path
) -> None:
    demo = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    client: Client = await aiohttp_client(create_app(demo))
    response = await client.get("/admin/consent")
    assert response.status == 503
    assert "nothing to consent to" in await response.text()


def test_operators_grant_show_and_revoke_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CRMCARD_DATA_DIR", str(tmp_path / "data"))
    assert main(["tenants", "status", "t-1"]) == 1
    assert '"consented": false' in capsys.readouterr().out
    assert main(["tenants", "grant", "t-1", "--note", "ticket 123"]) == 0
    granted = capsys.readouterr().out
    assert '"consented": true' in granted and "cli:" in granted and "ticket 123" in granted
    assert main(["tenants", "revoke", "t-1"]) == 1
    revoked = capsys.readouterr().out
    assert '"consented": false' in revoked
    assert revoked.count('"action"') == 2
