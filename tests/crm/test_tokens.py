"""Token providers: caching, renewal before expiry off the request path, MSAL over real
HTTPS against a local Entra authority, persisted MSAL caches, On-Behalf-Of."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.crm.credentials import AccessToken
from bot.adapters.crm.on_behalf_of import MsalOnBehalfOf
from bot.adapters.crm.tokens import (
    MsalClientCredentials,
    MsalSettings,
    RenewingTokenProvider,
)
from bot.services.crm import CrmAuthError, CrmUnavailable
from tests.crm.conftest import Tls, VirtualTime
from tests.crm.fakes.entra import FakeEntra

SCOPE = "https://contoso.crm.dynamics.com/.default"


class Counting(RenewingTokenProvider):
    def __init__(self, vtime: VirtualTime, lifetime: float = 600, delay: float = 0) -> None:
        super().__init__(refresh_margin=60, clock=vtime.clock)
        self.vtime = vtime
        self.lifetime = lifetime
        self.delay = delay
        self.n = 0
        self.fail = False

    async def _fetch(self) -> AccessToken:
        self.n += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise CrmUnavailable("idp down")
        return AccessToken(value=f"t{self.n}", expires_at=self.vtime.now + self.lifetime)


async def test_cached_until_margin_then_renewed_in_background(vtime):
    provider = Counting(vtime, delay=0.05)
    assert (await provider.token()).value == "t1"
    vtime.advance(500)  # 100 s left, margin 60: still fresh
    assert (await provider.token()).value == "t1"
    assert provider.n == 1
    vtime.advance(50)  # 50 s left: inside the margin
    assert (await provider.token()).value == "t1"  # served at once...
    renewal = provider.refreshing()
    assert renewal is not None and not renewal.done()  # ...while the renewal runs on
    assert (await renewal).value == "t2"
    assert (await provider.token()).value == "t2"
    assert provider.n == 2


async def test_expired_token_waits_and_callers_share_one_fetch(vtime):
    provider = Counting(vtime, delay=0.02)
    tokens = await asyncio.gather(*(provider.token() for _ in range(5)))
    assert {t.value for t in tokens} == {"t1"}
    vtime.advance(601)
    tokens = await asyncio.gather(*(provider.token() for _ in range(5)))
    assert {t.value for t in tokens} == {"t2"}
    assert provider.n == 2


async def test_failed_background_renewal_keeps_serving_then_retries(vtime):
    provider = Counting(vtime)
    await provider.token()
    vtime.advance(550)
    provider.fail = True
    assert (await provider.token()).value == "t1"
    with pytest.raises(CrmUnavailable):
        await provider.refreshing()  # type: ignore[misc]
    provider.fail = False
    assert (await provider.token()).value == "t1"  # starts another renewal
    assert (await provider.refreshing()).value == "t3"  # type: ignore[union-attr]


async def test_invalidate_forces_a_new_token(vtime):
    provider = Counting(vtime)
    first = await provider.token()
    await provider.invalidate("not-current")
    assert (await provider.token()) is first
    await provider.invalidate(first.value)
    assert (await provider.token()).value == "t2"


def msal_settings(entra: FakeEntra, tls: Tls, **overrides: object) -> MsalSettings:
    values: dict[str, object] = {
        "client_id": "app-id",
        "client_secret": "app-secret",
        "authority": entra.authority,
        "scopes": (SCOPE,),
        "instance_discovery": False,
        "verify": tls.ca_file,
    }
    values.update(overrides)
    return MsalSettings(**values)  # type: ignore[arg-type]


async def test_msal_client_credentials_over_https(entra, tls, cache_hooks):
    provider = MsalClientCredentials(msal_settings(entra, tls), cache_hooks=cache_hooks)
    token = await provider.token()
    assert entra.is_valid(token.value, SCOPE)
    assert entra.discovery_requests == 1
    [issued] = entra.token_requests("client_credentials")
    assert issued.scope.startswith(SCOPE)
    assert token.headers() == {"Authorization": f"Bearer {token.value}"}
    assert "app-secret" not in repr(msal_settings(entra, tls))
    assert cache_hooks.saves == 1


async def test_msal_renews_before_expiry_without_delaying_requests(entra, tls, vtime):
    entra.token_lifetime = 299  # under MSAL's own 5-minute window: it always asks Entra
    provider = MsalClientCredentials(
        msal_settings(entra, tls), refresh_margin=240, clock=vtime.clock
    )
    first = await provider.token()
    vtime.advance(30)
    assert await provider.token() == first
    assert len(entra.issued) == 1
    entra.latency = 0.3  # a slow authority must not slow requests down
    vtime.advance(40)  # 229 s left < 240 s margin
    assert (await provider.token()) == first
    renewal = provider.refreshing()
    assert renewal is not None and not renewal.done()  # the request did not wait for it
    second = await renewal
    assert second.value != first.value
    assert (await provider.token()) == second
    assert len(entra.issued) == 2


async def test_msal_token_cache_persisted_across_restarts(entra, tls, cache_hooks):
    first = await MsalClientCredentials(msal_settings(entra, tls), cache_hooks=cache_hooks).token()
    assert len(cache_hooks.blobs) == 1
    assert "app-secret" not in next(iter(cache_hooks.blobs.values()))
    restarted = MsalClientCredentials(msal_settings(entra, tls), cache_hooks=cache_hooks)
    assert (await restarted.token()).value == first.value
    assert len(entra.issued) == 1  # no second login


async def test_msal_wrong_secret_is_auth_error(entra, tls):
    provider = MsalClientCredentials(msal_settings(entra, tls, client_secret="nope"))
    with pytest.raises(CrmAuthError, match="invalid_client"):
        await provider.token()


async def test_msal_unreachable_authority_is_unavailable(tls):
    settings = MsalSettings(
        client_id="app-id",
        client_secret="s",
        authority="https://127.0.0.1:9/tenant",
        scopes=(SCOPE,),
        instance_discovery=False,
        verify=tls.ca_file,
        timeout=1,
    )
    with pytest.raises((CrmUnavailable, CrmAuthError)):
        await MsalClientCredentials(settings).token()


async def test_msal_on_behalf_of(entra, tls, cache_hooks):
    obo = MsalOnBehalfOf(msal_settings(entra, tls), cache_hooks=cache_hooks)
    user = obo.for_user("teams-sso-token")
    assert obo.for_user("teams-sso-token") is user
    token = await user.token()
    assert entra.is_valid(token.value)
    [issued] = entra.token_requests("urn:ietf:params:oauth:grant-type:jwt-bearer")
    assert issued.subject == "user:teams-sso-token"
    assert (await user.token()) == token  # cached
    assert cache_hooks.saves >= 1
    with pytest.raises(CrmAuthError, match="invalid_grant"):
        await obo.for_user("forged").token()
