"""Inbound Bot Framework authentication over real HTTP, against a local token issuer.

The app is configured as a registered bot (``MicrosoftAppId`` set) whose OpenID metadata
URL and token issuer point at :class:`LocalIssuer`. Accepted activities must be handled;
every forged, stale or misdirected token must get a 401 and leave no trace: nothing
stored, nothing sent to the connector.

Outbound replies: a bot replying to a message asks Entra for its own token
(``MicrosoftAppCredentials.get_access_token``, MSAL) before calling the connector. That
leg is not what these tests are about, so the accepted-``invoke`` test needs none (the
answer rides on the HTTP response) and the accepted-``message`` test replaces only that
method with a recorder, which also shows the reply is signed for the bot's own tenant.
The real sign-in, MSAL against a local Entra, is ``test_bot_login_authority.py``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient
from botframework.connector.auth import JwtTokenExtractor, MicrosoftAppCredentials
from botframework.connector.auth import jwt_token_extractor as sdk_extractor
from jwt.algorithms import RSAAlgorithm

from bot.adapters.teams import openid
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import card_action, message
from tests.auth.openid_issuer import LocalIssuer, SigningKey, tampered
from tests.connector import FakeConnector

Client = TestClient[Any, Any]

APP_ID = "6f1f4e52-6a3c-4d0c-9c55-0a1b2c3d4e5f"
APP_TENANT = "72f988bf-0000-4000-8000-00000000c0de"
ELSEWHERE = "https://smba.trafficmanager.net/emea/"


def registered_bot(tmp_path: Path, issuer: LocalIssuer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "app_id": APP_ID,
        "app_password": "not-a-real-secret",
        "app_type": "SingleTenant",
        "app_tenant_id": APP_TENANT,
        "openid_metadata_url": issuer.metadata_url,
        "token_issuer": issuer.issuer,
        # the platform's part is played by the demo CRM and commands, turned on explicitly
        "demo_crm": True,
        "demo_commands": True,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], tmp_path: Path, issuer: LocalIssuer
) -> AsyncIterator[Client]:
    yield await aiohttp_client(create_app(registered_bot(tmp_path, issuer)))


async def stored(client: Client) -> list[str]:
    assert client.app is not None
    store = client.app[CONTEXT].store
    return [key async for key in store.keys("")]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def demo_call(service_url: str) -> dict[str, Any]:
    """An invoke whose whole answer is the HTTP response: no outbound call, no token."""
    return card_action(service_url, "demoCall", {"from": "+1 555 0100"})


# --- accepted -----------------------------------------------------------------------


async def test_valid_token_invoke_is_handled(
    client: Client, issuer: LocalIssuer, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    token = issuer.mint(audience=APP_ID, service_url=url)

    response = await client.post("/api/messages", json=demo_call(url), headers=bearer(token))

    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "Simulated call started" in body["value"]
    assert await stored(client), "the handled invoke stored the demo interaction"
    assert fake.sent == [], "the answer rode on the HTTP response: no outbound call"
    assert (issuer.metadata_requests, issuer.jwks_requests) == (1, 1)


async def test_valid_token_message_is_handled_and_answered(
    client: Client,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = connector
    outbound: list[str] = []

    def entra_token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        outbound.append(self.oauth_endpoint)
        return "outbound-token-from-a-fake-entra"

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", entra_token)
    token = issuer.mint(audience=APP_ID, service_url=url)

    response = await client.post("/api/messages", json=message(url, "hi"), headers=bearer(token))

    assert response.status in (200, 201), await response.text()
    [welcome] = fake.cards()
    assert "Welcome to crmcard" in str(welcome.card)
    assert any(key for key in await stored(client)), "the conversation reference was stored"
    assert outbound and set(outbound) == {f"https://login.microsoftonline.com/{APP_TENANT}"}


async def test_keys_are_fetched_once_for_concurrent_first_requests(
    client: Client, issuer: LocalIssuer, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    issuer.jwks_delay = 0.2
    token = issuer.mint(audience=APP_ID, service_url=url)

    responses = await asyncio.gather(
        *(
            client.post("/api/messages", json=demo_call(url), headers=bearer(token))
            for _ in range(5)
        )
    )

    assert [response.status for response in responses] == [200] * 5
    assert (issuer.metadata_requests, issuer.jwks_requests) == (1, 1)


# --- refused ------------------------------------------------------------------------

ROGUE = SigningKey.generate("rogue-key")


def _headers(case: str, issuer: LocalIssuer, url: str) -> dict[str, str]:
    def token(**kwargs: Any) -> str:
        return issuer.mint(**{"audience": APP_ID, "service_url": url, **kwargs})

    match case:
        case "no Authorization header":
            return {}
        case "empty Authorization header":
            return {"Authorization": ""}
        case "bearer without a token":
            return {"Authorization": "Bearer "}
        case "not a JWT":
            return bearer("not.a.jwt")
        case "Basic scheme":
            return {"Authorization": f"Basic {token()}"}
        case "expired":
            return bearer(token(expires_in=-10 * 60))  # beyond the SDK's 5 minutes' leeway
        case "no expiry":
            return bearer(token(exp=None))
        case "not yet valid":
            return bearer(token(nbf=int(time.time()) + 3600))
        case "wrong audience":
            return bearer(token(audience="another-bot-app-id"))
        case "no audience":
            return bearer(token(audience=None))
        case "wrong issuer":
            return bearer(token(iss="https://issuer.example.net/"))
        case "no issuer":
            return bearer(token(iss=None))
        case "signed with a key not in the JWKS, published kid":
            return bearer(token(key=ROGUE, kid=issuer.key.kid))
        case "tampered payload":
            return bearer(tampered(token(service_url=ELSEWHERE), serviceurl=url))
        case "unknown kid":
            return bearer(token(key=ROGUE))
        case "no kid":
            return bearer(token(kid=None))
        case "HS256 with a made-up secret":
            return bearer(token(algorithm="HS256"))
        case "alg none":
            return bearer(token(algorithm="none"))
        case "serviceUrl claim of another service":
            return bearer(token(service_url=ELSEWHERE))
        case "no serviceUrl claim":
            return bearer(token(service_url=None))
        case "key not endorsed for msteams":
            skype_only = SigningKey.generate("skype-only-key", endorsements=["skype"])
            issuer.published.append(skype_only)
            return bearer(token(key=skype_only))
    raise AssertionError(case)


REFUSED = [
    "no Authorization header",
    "empty Authorization header",
    "bearer without a token",
    "not a JWT",
    "Basic scheme",
    "expired",
    "no expiry",
    "not yet valid",
    "wrong audience",
    "no audience",
    "wrong issuer",
    "no issuer",
    "signed with a key not in the JWKS, published kid",
    "tampered payload",
    "unknown kid",
    "no kid",
    "HS256 with a made-up secret",
    "alg none",
    "serviceUrl claim of another service",
    "no serviceUrl claim",
    "key not endorsed for msteams",
]


@pytest.mark.parametrize("case", REFUSED)
async def test_refused_with_401_and_no_side_effect(
    case: str, client: Client, issuer: LocalIssuer, connector: tuple[FakeConnector, str]
) -> None:
    fake, url = connector
    headers = _headers(case, issuer, url)

    # A message would store the conversation reference and send the welcome card.
    response = await client.post("/api/messages", json=message(url, "hi"), headers=headers)

    assert response.status == 401, await response.text()
    assert await stored(client) == []
    assert fake.sent == []


async def test_issuer_override_alone_still_requires_the_public_issuer(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
) -> None:
    """Only the metadata URL overridden: ``iss`` must still be the Bot Framework's.

    Left to itself the SDK would expect ``iss`` to be ``None``: it refused genuine tokens
    (and answered a token without ``iss`` with a 500).
    """
    _, url = connector
    settings = registered_bot(tmp_path, issuer, token_issuer=None)
    client: Client = await aiohttp_client(create_app(settings))

    no_issuer = issuer.mint(audience=APP_ID, service_url=url, iss=None)
    refused = await client.post("/api/messages", json=demo_call(url), headers=bearer(no_issuer))
    assert refused.status == 401
    assert await stored(client) == []

    public = issuer.mint(audience=APP_ID, service_url=url, iss="https://api.botframework.com")
    accepted = await client.post("/api/messages", json=demo_call(url), headers=bearer(public))
    assert accepted.status == 200, await accepted.text()


async def test_unreachable_keys_are_a_server_error_not_an_acceptance(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
) -> None:
    fake, url = connector
    settings = registered_bot(tmp_path, issuer, openid_metadata_url=f"{issuer.url}/missing")
    client: Client = await aiohttp_client(create_app(settings))
    token = issuer.mint(audience=APP_ID, service_url=url)

    response = await client.post("/api/messages", json=message(url, "hi"), headers=bearer(token))

    assert response.status == 503
    assert await stored(client) == []
    assert fake.sent == []


async def test_a_failed_key_fetch_is_not_retried_on_every_request(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url = connector
    fetches: list[str] = []

    def unreachable(metadata_url: str) -> list[dict[str, Any]]:
        fetches.append(metadata_url)
        raise ConnectionError("the OpenID endpoint is down")

    monkeypatch.setattr(openid, "_fetch_signing_keys", unreachable)
    settings = registered_bot(tmp_path, issuer, openid_metadata_url=f"{issuer.url}/down")
    client: Client = await aiohttp_client(create_app(settings))
    token = issuer.mint(audience=APP_ID, service_url=url)
    for _ in range(3):
        response = await client.post(
            "/api/messages", json=message(url, "hi"), headers=bearer(token)
        )
        assert response.status == 503
        assert 0 < int(response.headers["Retry-After"]) <= 60
        assert response.content_type == "application/problem+json"
    assert len(fetches) == 1  # backed off: the next try is after Retry-After


async def test_tokens_the_sdk_checks_must_expire_too() -> None:
    """Tokens of other issuers (emulator, skills) go to the SDK, whose PyJWT checks ``exp``
    only when present: the strict wrapper refuses a token without one first."""
    accepted: list[str | None] = []

    async def sdk_accepts_everything(*args: Any) -> str:
        accepted.append(args[-1])
        return "identity"

    strict = openid.StrictInboundAuthentication(inner=None)
    no_expiry = jwt.encode(
        {"iss": "someone"}, "a-test-only-hmac-key-of-32-bytes!", algorithm="HS256"
    )
    with pytest.raises(PermissionError, match="no expiry"):
        await strict._checked(sdk_accepts_everything, f"Bearer {no_expiry}")
    expiring = jwt.encode(
        {"iss": "someone", "exp": time.time() + 60},
        "a-test-only-hmac-key-of-32-bytes!",
        algorithm="HS256",
    )
    assert await strict._checked(sdk_accepts_everything, f"Bearer {expiring}") == "identity"
    assert await strict._checked(sdk_accepts_everything, None) == "identity"  # no token
    assert accepted == [f"Bearer {expiring}", None]


async def test_cached_keys_outlive_a_failed_refresh(
    client: Client,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, url = connector
    token = issuer.mint(audience=APP_ID, service_url=url)
    first = await client.post("/api/messages", json=demo_call(url), headers=bearer(token))
    assert first.status == 200
    JwtTokenExtractor.metadataCache[issuer.metadata_url].last_updated = datetime.min
    issuer.stop()  # the daily refresh is due and the issuer is gone

    with caplog.at_level(logging.WARNING, logger="bot.adapters.teams.openid"):
        again = await client.post("/api/messages", json=demo_call(url), headers=bearer(token))

    assert again.status == 200, await again.text()
    assert "keeping the cached ones" in caplog.text


# --- unauthenticated local mode -------------------------------------------------------


async def test_without_app_id_requests_are_unauthenticated_and_it_says_so(
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    connector: tuple[FakeConnector, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, url = connector
    assert not settings.app_id
    with caplog.at_level(logging.WARNING, logger="bot.adapters.teams.sdk"):
        client: Client = await aiohttp_client(create_app(settings))
    [warning] = [r for r in caplog.records if r.name == "bot.adapters.teams.sdk"]
    assert warning.levelno == logging.WARNING
    assert "NOT authenticated" in warning.getMessage()

    response = await client.post("/api/messages", json=message(url, "hi"))

    assert response.status in (200, 201), await response.text()
    assert "Welcome to crmcard" in str(fake.cards()[0].card)
    assert await stored(client)


# --- the event loop while keys are fetched ------------------------------------------


async def _health_during_slow_jwks(client: Client, issuer: LocalIssuer, url: str) -> None:
    """Post an activity whose token needs keys served in 1 s; meanwhile ask ``/healthz``."""
    issuer.jwks_delay = 1.0
    token = issuer.mint(audience=APP_ID, service_url=url)
    post = asyncio.create_task(
        client.post("/api/messages", json=demo_call(url), headers=bearer(token))
    )
    # Wait (without holding the loop) until the bot is fetching the JWKS.
    assert await asyncio.to_thread(issuer.jwks_requested.wait, 10)
    health = await client.get("/healthz")
    assert health.status == 200
    issuer.events.append("healthz answered")
    response = await post
    assert response.status == 200, await response.text()


async def test_sdk_key_fetch_alone_blocks_the_event_loop(
    client: Client,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The finding: botbuilder's own ``_OpenIdMetadata`` uses ``requests.get`` on the loop."""
    _, url = connector
    monkeypatch.setattr(sdk_extractor, "_OpenIdMetadata", openid._SdkOpenIdMetadata)

    await _health_during_slow_jwks(client, issuer, url)

    # /healthz could only be answered after the JWKS response reached the bot.
    assert issuer.events == ["metadata served", "jwks served", "healthz answered"]


async def test_event_loop_stays_responsive_while_keys_are_fetched(
    client: Client, issuer: LocalIssuer, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    assert sdk_extractor._OpenIdMetadata is openid.AsyncOpenIdMetadata

    await _health_during_slow_jwks(client, issuer, url)

    assert issuer.events == ["metadata served", "healthz answered", "jwks served"]


# --- cost: one decode, one signature check, keys parsed once -------------------------


async def test_a_channel_token_is_decoded_once_and_verified_once(
    client: Client,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK would decode it four times and re-parse the signing key every request; the
    Bot Connector sends one token with every activity for about an hour. A key set fetched
    anew is parsed anew: what the old keys verified is verified again."""
    _, url = connector
    calls: dict[str, int] = {"verify": 0, "from_jwk": 0, "sdk": 0}

    def counted(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    openid.decode_jwt.cache_clear()
    monkeypatch.setattr(openid._RS256, "verify", counted("verify", openid._RS256.verify))
    monkeypatch.setattr(
        openid.RSAAlgorithm, "from_jwk", staticmethod(counted("from_jwk", RSAAlgorithm.from_jwk))
    )
    monkeypatch.setattr(jwt, "decode", counted("sdk", jwt.decode))
    monkeypatch.setattr(jwt, "get_unverified_header", counted("sdk", jwt.get_unverified_header))
    token = issuer.mint(audience=APP_ID, service_url=url)

    assert [await _status(client, url, bearer(token)) for _ in range(3)] == [200] * 3
    assert calls == {"verify": 1, "from_jwk": 1, "sdk": 0}
    assert openid.decode_jwt.cache_info().misses == 1

    metadata = JwtTokenExtractor.get_open_id_metadata(issuer.metadata_url)
    metadata.keys = list(metadata.keys)  # what a refresh leaves: the key set anew
    assert await _status(client, url, bearer(token)) == 200
    assert calls == {"verify": 2, "from_jwk": 2, "sdk": 0}


async def _status(client: Client, url: str, headers: dict[str, str]) -> int:
    """The status a demo call sent with ``headers`` is answered with."""
    response = await client.post("/api/messages", json=demo_call(url), headers=headers)
    await response.read()
    return response.status


SPLICED = "the accepted token's payload with another token's signature"
EXPIRED_SINCE = "the accepted token, expired since"


@pytest.mark.parametrize("case", [*REFUSED, SPLICED, EXPIRED_SINCE])
async def test_a_token_accepted_before_lets_no_refused_one_through(
    case: str,
    client: Client,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What was decoded and verified for an accepted token answers for that token only,
    and its claims are checked again on every request."""
    _, url = connector
    accepted = issuer.mint(audience=APP_ID, service_url=url, expires_in=60)
    assert await _status(client, url, bearer(accepted)) == 200
    if case == SPLICED:
        other = issuer.mint(audience=APP_ID, service_url=url)
        headers = bearer(accepted.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1])
    elif case == EXPIRED_SINCE:
        later = time.time() + 60 + openid.CLOCK_TOLERANCE_SECONDS + 1
        monkeypatch.setattr(openid, "time", SimpleNamespace(time=lambda: later))
        headers = bearer(accepted)
    else:
        headers = _headers(case, issuer, url)

    assert await _status(client, url, headers) == 401
