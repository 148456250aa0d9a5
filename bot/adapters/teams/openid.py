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
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import requests
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import CallerIdConstants
from botframework.connector.auth import (
    AuthenticationConstants,
    BotFrameworkAuthentication,
    JwtTokenExtractor,
)
from botframework.connector.auth import jwt_token_extractor as _sdk
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import InvalidKeyError

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 10.0
REFRESH_EVERY = timedelta(days=1)
REFRESH_ON_UNKNOWN_KEY_AFTER = timedelta(hours=1)
RETRY_FAILED_REFRESH_AFTER = timedelta(minutes=1)

_SdkOpenIdMetadata: Any = _sdk._OpenIdMetadata
_SdkOpenIdConfig: Any = _sdk._OpenIdConfig


class OpenIdMetadataUnavailable(RuntimeError):
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

    async def get(self, key_id: str | None) -> Any:
        if not self.url:
            raise PermissionError("no OpenID metadata is configured for this kind of token")
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
                raise OpenIdMetadataUnavailable(
                    f"cannot fetch the token signing keys from {self.url}: {error}"
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

    def _find(self, key_id: str | None) -> Any:
        for key in self.keys:
            if key_id is not None and key.get("kid") == key_id:
                try:
                    public_key = RSAAlgorithm.from_jwk(json.dumps(key))
                except (InvalidKeyError, ValueError, TypeError, KeyError):
                    log.warning("ignoring the malformed signing key %r from %s", key_id, self.url)
                    return None
                return _SdkOpenIdConfig(public_key, key.get("endorsements", []))
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


class StrictInboundAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """Delegates to the SDK; every refused caller becomes a ``PermissionError`` (401)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def _checked(self, authenticate: Any, auth_header: str | None, *args: Any) -> Any:
        # An empty header is "no header": the SDK's parameterized mode crashes on "".
        header = (auth_header or "").strip() or None
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


def create_authentication(config: object) -> BotFrameworkAuthentication:
    """What ``CloudAdapter`` authenticates with: the SDK's, repaired as described above."""
    install_async_openid_metadata()
    inner = ConfigurationBotFrameworkAuthentication(with_public_cloud_defaults(config))
    return StrictInboundAuthentication(inner)
