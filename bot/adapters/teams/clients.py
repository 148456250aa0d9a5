"""Reusing the SDK's outbound clients across turns.

``CloudAdapter`` builds a new ``ConnectorClient`` and ``UserTokenClient`` for every turn
(msrest configuration, a requests session, retry policy...): most of a bare turn's CPU.
They depend only on the bot identity, the service URL and the audience, so one per
combination serves every turn; the credentials inside cache and renew their own tokens.
"""

from __future__ import annotations

from typing import Any

from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
)

_MAX_CLIENTS = 256


def _identity_key(claims_identity: ClaimsIdentity | None) -> tuple[Any, ...]:
    if claims_identity is None:
        return (None,)
    claims = claims_identity.claims or {}
    return (
        claims.get("aud"),
        claims.get("appid"),
        claims.get("azp"),
        claims_identity.is_authenticated,
    )


class _ReusingConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    def __init__(
        self, inner: ConnectorFactory, cache: dict[tuple[Any, ...], Any], identity: tuple[Any, ...]
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._identity = identity

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (*self._identity, service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            if len(self._cache) >= _MAX_CLIENTS:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = client
        return client


class ReusingClients(BotFrameworkAuthentication):  # type: ignore[misc]
    """Wraps the SDK's authentication so connector and token clients are built once."""

    def __init__(self, inner: BotFrameworkAuthentication) -> None:
        self._inner = inner
        self._connectors: dict[tuple[Any, ...], Any] = {}
        self._token_clients: dict[tuple[Any, ...], Any] = {}

    def _reusing(self, factory: ConnectorFactory | None, claims: ClaimsIdentity | None) -> Any:
        if factory is None:
            return None
        return _ReusingConnectorFactory(factory, self._connectors, _identity_key(claims))

    async def authenticate_request(self, activity: Any, auth_header: str | None) -> Any:
        result: AuthenticateRequestResult = await self._inner.authenticate_request(
            activity, auth_header
        )
        result.connector_factory = self._reusing(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str | None, channel_id_header: str | None
    ) -> Any:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    async def authenticate_channel_request(self, auth_header: str | None) -> Any:
        return await self._inner.authenticate_channel_request(auth_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> Any:
        return self._reusing(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> Any:
        key = _identity_key(claims_identity)
        client = self._token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._token_clients[key] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> Any:
        return self._inner.get_originating_audience()
