"""Inbound Bot Framework authentication, hardened around botbuilder-python 4.17.1.

The SDK validates the JWT on every ``POST /api/messages`` but has four defects this module
repairs without forking it:

1. ``_OpenIdMetadata._refresh`` fetches the OpenID metadata and the JWKS with a blocking
   ``requests.get`` (no timeout) *on the event loop*: on the first activity, once a day
   after that and on key rollover the whole bot stalls for two round trips (forever if
   the endpoint hangs). :class:`AsyncOpenIdMetadata` fetches in a worker thread with a
   timeout, one fetch at a time per URL, and keeps serving the last good keys if a
   refresh fails.
2. A token whose ``kid`` is not in the JWKS raises ``IndexError`` (the SDK's refresh on
   an unknown key was unreachable); now the keys are refreshed (at most hourly) and the
   token is refused.
3. Only ``PermissionError`` means 401 to the route, but an expired, tampered or garbage
   token surfaces as a PyJWT error or a bare ``Exception`` and an empty ``Authorization``
   header as an ``AttributeError``: all 500s. :class:`StrictInboundAuthentication` turns
   every refusal into ``PermissionError``; only "the signing keys cannot be fetched"
   (:class:`OpenIdMetadataUnavailable`) stays a server error.
4. Setting either override (``openid_metadata_url`` / ``token_issuer``) switches the SDK to
   its parameterized mode, where every value not given is ``None``: with only the metadata
   URL set, genuine tokens (``iss`` = ``https://api.botframework.com``) are refused, and
   the unset login URL leaves outbound replies without an Entra authority. Values not
   overridden keep their public-cloud defaults.

And one cost: the SDK decodes each token four times (is it a skill's? the emulator's?
an allowed issuer? its header), builds its validators anew and re-parses the signing
key from its JWK for every request. A Bot Connector token (the only kind Teams sends)
is read here once: one decode, the signing key parsed once per key and cached, one
signature check (:class:`ChannelTokens`). The Bot Connector sends the same token with
every activity for about an hour, so a token seen before is not decoded again and its
signature, once verified with a key, is not verified again with that key; its claims
(expiry, audience, service URL...) are checked on every request. Any other token
(emulator, skill) still goes through the SDK, which accepts or refuses it as before.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import orjson
import requests
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import CallerIdConstants
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    JwtTokenExtractor,
    ServiceClientCredentialsFactory,
)
from botframework.connector.auth import jwt_token_extractor as _sdk
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from bot.errors import Unavailable
from bot.services.recently_used import RecentlyUsed

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 10.0
REFRESH_EVERY = timedelta(days=1)
REFRESH_ON_UNKNOWN_KEY_AFTER = timedelta(hours=1)
RETRY_FAILED_REFRESH_AFTER = timedelta(minutes=1)
CLOCK_TOLERANCE_SECONDS = 300  # the SDK's: 5 minutes either side of exp and nbf
TOKENS_KEPT = 64
"""Tokens kept decoded, and signatures kept as verified: a bot sees a few at a time."""

_SdkOpenIdMetadata: Any = _sdk._OpenIdMetadata
_SdkOpenIdConfig: Any = _sdk._OpenIdConfig


class OpenIdMetadataUnavailable(Unavailable, RuntimeError):
    """The signing keys could not be fetched and none are cached: a server-side failure."""


def _fetch_signing_keys(metadata_url: str) -> list[dict[str, Any]]:
    """The JWKS behind an OpenID metadata document (blocking: run it in a thread)."""
    with requests.Session() as session:
        response = session.get(metadata_url, timeout=FETCH_TIMEOUT_SECONDS)
        response.raise_for_status()
        jwks_uri = response.json()["jwks_uri"]
        response = session.get(jwks_uri, timeout=FETCH_TIMEOUT_SECONDS)
        response.raise_for_status()
        keys = response.json()["keys"]
    if not isinstance(keys, list):
        raise ValueError(f"{jwks_uri}: 'keys' is not a list")
    return [key for key in keys if isinstance(key, dict)]


class AsyncOpenIdMetadata(_SdkOpenIdMetadata):  # type: ignore[misc]
    """The SDK's per-URL signing-key cache, refreshed off the event loop."""

    def __init__(self, url: str | None) -> None:
        super().__init__(url)
        self.keys: list[dict[str, Any]] = []
        self._refreshing: asyncio.Task[None] | None = None
        # Keys parsed from ``self.keys``, by kid: parsing a JWK costs more than verifying.
        self._parsed: dict[str, Any] = {}
        self._parsed_from: list[dict[str, Any]] | None = None
        self._unavailable_until: datetime | None = None

    async def get(self, key_id: str | None) -> Any:
        if not self.url:
            raise PermissionError("no OpenID metadata is configured for this kind of token")
        if not self.keys and self._unavailable_until is not None:
            wait = (self._unavailable_until - datetime.now()).total_seconds()
            if wait > 0:  # the last fetch failed: do not hammer the issuer on every request
                raise OpenIdMetadataUnavailable(
                    f"the token signing keys of {self.url} cannot be fetched just now",
                    retry_after=wait,
                )
        if self.last_updated < datetime.now() - REFRESH_EVERY:
            await self._refresh()
        key = self._find(key_id)
        if key is None and self.last_updated < datetime.now() - REFRESH_ON_UNKNOWN_KEY_AFTER:
            await self._refresh()
            key = self._find(key_id)
        if key is None:
            raise PermissionError(f"the token's signing key {key_id!r} is not published")
        return key

    async def _refresh(self) -> None:
        """Fetch the keys once however many requests are waiting for them."""
        loop = asyncio.get_running_loop()
        task = self._refreshing
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._refreshing = loop.create_task(self._fetch())
        # A waiter that gives up must not cancel the fetch the others are waiting for.
        await asyncio.shield(task)

    async def _fetch(self) -> None:
        try:
            keys = await asyncio.to_thread(_fetch_signing_keys, self.url)
        except Exception as error:
            if not self.keys:
                self._unavailable_until = datetime.now() + RETRY_FAILED_REFRESH_AFTER
                raise OpenIdMetadataUnavailable(
                    f"cannot fetch the token signing keys from {self.url}: {error}",
                    retry_after=RETRY_FAILED_REFRESH_AFTER.total_seconds(),
                ) from error
            log.warning(
                "cannot refresh the token signing keys from %s (%s); keeping the cached ones",
                self.url,
                error,
            )
            self.last_updated = datetime.now() - REFRESH_EVERY + RETRY_FAILED_REFRESH_AFTER
            return
        self.keys = keys
        self.last_updated = datetime.now()
        self._unavailable_until = None

    def _find(self, key_id: str | None) -> Any:
        if key_id is None:
            return None
        if self._parsed_from is not self.keys:  # refreshed: parse the new keys as asked
            self._parsed, self._parsed_from = {}, self.keys
        if key_id in self._parsed:
            return self._parsed[key_id]
        for key in self.keys:
            if key.get("kid") == key_id:
                try:
                    public_key = RSAAlgorithm.from_jwk(json.dumps(key))
                except (InvalidKeyError, ValueError, TypeError, KeyError):
                    log.warning("ignoring the malformed signing key %r from %s", key_id, self.url)
                    return None
                found = _SdkOpenIdConfig(public_key, key.get("endorsements", []))
                self._parsed[key_id] = found
                return found
        return None


def install_async_openid_metadata() -> None:
    """Make every SDK token extractor use :class:`AsyncOpenIdMetadata` (idempotent)."""
    if _sdk._OpenIdMetadata is AsyncOpenIdMetadata:
        return
    _sdk._OpenIdMetadata = AsyncOpenIdMetadata
    cache = JwtTokenExtractor.metadataCache
    for url, metadata in list(cache.items()):
        if not isinstance(metadata, AsyncOpenIdMetadata):
            del cache[url]


_RS256 = RSAAlgorithm(RSAAlgorithm.SHA256)


def _base64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass(frozen=True)
class Jwt:
    """A compact JWS split and decoded, not yet verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


@lru_cache(maxsize=TOKENS_KEPT)
def decode_jwt(token: str) -> Jwt:
    """The one decode of a token; :class:`PermissionError` if it is not a JWT.

    A token seen again is answered from memory: the same string always decodes the same,
    and nothing changes a decoded token (:class:`Jwt` is frozen, its claims are copied
    before they leave this module)."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = orjson.loads(_base64url(header_part))
        claims = orjson.loads(_base64url(claims_part))
        signature = _base64url(signature_part)
    except (ValueError, binascii.Error) as error:  # orjson.JSONDecodeError is a ValueError
        raise PermissionError(f"invalid token: not a JWT ({error})") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise PermissionError("invalid token: not a JWT")
    return Jwt(header, claims, f"{header_part}.{claims_part}".encode(), signature)


@dataclass(frozen=True)
class ChannelTokens:
    """Validates the Bot Connector's tokens as the SDK's channel validation does.

    RS256 only, signed by a published key endorsed for the activity's channel, ``iss``
    the channel's issuer, ``aud`` this bot, ``serviceurl`` the activity's service URL,
    ``exp``/``nbf`` within five minutes' tolerance.
    """

    app_id: str
    issuer: str
    metadata_url: str
    # (signing input, signature) -> the public key that verified them
    _verified: RecentlyUsed[tuple[bytes, bytes], Any] = field(
        default_factory=lambda: RecentlyUsed(TOKENS_KEPT), init=False, repr=False, compare=False
    )

    def issued(self, token: Jwt) -> bool:
        return token.claims.get("iss") == self.issuer

    async def identity(self, token: Jwt, channel_id: str | None, service_url: str) -> Any:
        if token.header.get("alg") != "RS256":
            raise PermissionError(f"token signing algorithm {token.header.get('alg')!r} refused")
        key_id = token.header.get("kid")
        key = await JwtTokenExtractor.get_open_id_metadata(self.metadata_url).get(key_id)
        if key is None:  # the SDK's own key cache, when installed, answers None
            raise PermissionError(f"the token's signing key {key_id!r} is not published")
        if key_id and key.endorsements and channel_id and channel_id not in key.endorsements:
            raise PermissionError(f"the signing key is not endorsed for {channel_id!r}")
        self._verify(token, key.public_key)
        claims = token.claims
        now = time.time()
        expires, not_before = claims.get("exp"), claims.get("nbf")
        if not isinstance(expires, int | float) or expires < now - CLOCK_TOLERANCE_SECONDS:
            raise PermissionError("the token has expired")
        if isinstance(not_before, int | float) and not_before > now + CLOCK_TOLERANCE_SECONDS:
            raise PermissionError("the token is not valid yet")
        if not self.app_id or claims.get("aud") != self.app_id:
            raise PermissionError("the token is not for this bot")
        if claims.get("serviceurl") != service_url:
            raise PermissionError("the token's serviceurl is not the activity's")
        return ClaimsIdentity(dict(claims), True)

    def _verify(self, token: Jwt, public_key: Any) -> None:
        """The signature check, made once per signature and key: verifying the same bytes
        with the same key always gives the same answer (a refreshed key set is parsed
        anew, so its keys verify again)."""
        signed = (token.signing_input, token.signature)
        if self._verified.recall(signed) is public_key:
            return
        if not _RS256.verify(token.signing_input, public_key, token.signature):
            raise PermissionError("the token's signature does not verify")
        self._verified.keep(signed, public_key)


def _require_expiry(auth_header: str | None) -> None:
    """A bearer token without a numeric ``exp`` never expires: refuse it (the SDK's PyJWT
    checks ``exp`` only when it is present)."""
    scheme, _, token = (auth_header or "").partition(" ")
    if scheme != "Bearer" or not token.strip():
        return  # no token: the SDK refuses (or, unauthenticated, allows) as configured
    try:
        claims = decode_jwt(token.strip()).claims
    except Exception:
        return  # not a JWT: the SDK refuses it with its own reason
    if not isinstance(claims.get("exp"), int | float):
        raise PermissionError("the token has no expiry (exp)")


class StrictInboundAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """Delegates to the SDK; every refused caller becomes a ``PermissionError`` (401).

    With ``channel`` set, Bot Connector tokens are validated by :class:`ChannelTokens`.
    """

    def __init__(
        self, inner: Any, channel: ChannelTokens | None = None, caller_id: str | None = None
    ) -> None:
        self._inner = inner
        self._channel = channel
        self._caller_id = caller_id

    async def _from_channel(self, activity: Any, auth_header: str | None) -> Any:
        """The request's result if it carries a Bot Connector token; None otherwise."""
        scheme, _, token = (auth_header or "").strip().partition(" ")
        if self._channel is None or scheme != "Bearer" or not token.strip():
            return None
        try:
            decoded = decode_jwt(token.strip())
            if not self._channel.issued(decoded):
                return None  # the emulator's or a skill's: the SDK decides
            identity = await self._channel.identity(
                decoded, activity.channel_id, activity.service_url
            )
        except (PermissionError, OpenIdMetadataUnavailable) as error:
            log.warning("refused an inbound Bot Framework request: %s", error)
            raise
        except Exception as error:  # a JWK that does not fit its algorithm...
            log.warning("refused an inbound Bot Framework request: %r", error)
            raise PermissionError(f"invalid token: {error}") from error
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = self._inner.get_originating_audience()
        result.caller_id = self._caller_id
        result.connector_factory = self._inner.create_connector_factory(identity)
        return result

    async def _checked(self, authenticate: Any, auth_header: str | None, *args: Any) -> Any:
        # An empty header is "no header": the SDK's parameterized mode crashes on "".
        header = (auth_header or "").strip() or None
        _require_expiry(header)
        try:
            return await authenticate(*args, header)
        except (PermissionError, OpenIdMetadataUnavailable) as error:
            log.warning("refused an inbound Bot Framework request: %s", error)
            raise
        except Exception as error:
            # PyJWT's ExpiredSignatureError, InvalidSignatureError, DecodeError..., and the
            # SDK's bare Exception for a disallowed algorithm or a missing endorsement.
            log.warning("refused an inbound Bot Framework request: %r", error)
            raise PermissionError(f"invalid token: {error}") from error

    async def authenticate_request(self, activity: Any, auth_header: str | None) -> Any:
        result = await self._from_channel(activity, auth_header)
        if result is not None:
            return result
        return await self._checked(self._inner.authenticate_request, auth_header, activity)

    async def authenticate_streaming_request(
        self, auth_header: str | None, channel_id_header: str | None
    ) -> Any:
        async def streaming(header: str | None) -> Any:
            return await self._inner.authenticate_streaming_request(header, channel_id_header)

        return await self._checked(streaming, auth_header)

    async def authenticate_channel_request(self, auth_header: str | None) -> Any:
        return await self._checked(self._inner.authenticate_channel_request, auth_header)

    def create_connector_factory(self, claims_identity: Any) -> Any:
        return self._inner.create_connector_factory(claims_identity)

    async def create_user_token_client(self, claims_identity: Any) -> Any:
        return await self._inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> Any:
        return self._inner.get_originating_audience()


_PUBLIC_CLOUD = {
    "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": (
        AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    ),
    "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER": AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
    "TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL": (
        AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
    ),
    "TO_CHANNEL_FROM_BOT_LOGIN_URL": AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX,
    "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE": AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
    "OAUTH_URL": AuthenticationConstants.OAUTH_URL,
    "CALLER_ID": CallerIdConstants.public_azure_channel,
}


def with_public_cloud_defaults(config: object) -> object:
    """``config`` with public-cloud values for whatever an override leaves unset."""
    values = dict(vars(config))
    overridden = [name for name in _PUBLIC_CLOUD if values.get(name)]
    if not overridden:
        return config  # the SDK's built-in public-cloud mode
    for name, default in _PUBLIC_CLOUD.items():
        if not values.get(name):
            values[name] = default
    return SimpleNamespace(**values)


def create_authentication(
    config: object, credentials: ServiceClientCredentialsFactory | None = None
) -> BotFrameworkAuthentication:
    """What ``CloudAdapter`` authenticates with: the SDK's, repaired as described above.

    ``credentials`` makes the bot's outbound credentials (None: the SDK's, from ``config``).
    """
    install_async_openid_metadata()
    configured = with_public_cloud_defaults(config)
    inner = ConfigurationBotFrameworkAuthentication(configured, credentials_factory=credentials)
    values = vars(configured)
    app_id = values.get("APP_ID") or ""
    if not app_id:  # unauthenticated local mode: the SDK's anonymous path
        return StrictInboundAuthentication(inner)
    channel = ChannelTokens(
        app_id=app_id,
        issuer=values.get("TO_BOT_FROM_CHANNEL_TOKEN_ISSUER")
        or _PUBLIC_CLOUD["TO_BOT_FROM_CHANNEL_TOKEN_ISSUER"],
        metadata_url=values.get("TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL")
        or _PUBLIC_CLOUD["TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL"],
    )
    caller_id = values.get("CALLER_ID") or _PUBLIC_CLOUD["CALLER_ID"]
    return StrictInboundAuthentication(inner, channel, caller_id)
