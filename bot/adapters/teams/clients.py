"""The bot's outbound clients, built once and reused across turns.

``CloudAdapter`` builds a new ``ConnectorClient`` and ``UserTokenClient`` for every turn
(msrest configuration, a requests session, retry policy...): most of a bare turn's CPU.
They depend only on the bot identity, the service URL and the audience, so one per
combination serves every turn; the credentials inside cache and renew their own tokens.
The connector clients are :class:`bot.adapters.teams.connector.Connector` on one shared
aiohttp session, never the SDK's msrest one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import ClientSession, TCPConnector
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
)

from bot.adapters.teams.connector import Connector
from bot.services.recently_used import RecentlyUsed

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
    """The SDK's connector factory's credentials, with :class:`Connector` clients."""

    def __init__(
        self, inner: ConnectorFactory, owner: ReusingClients, identity: tuple[Any, ...]
    ) -> None:
        self._inner = inner
        self._owner = owner
        self._identity = identity

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (*self._identity, service_url, audience)
        cache = self._owner.connectors
        client = cache.get(key)
        if client is None:
            sdk = self._inner  # the SDK's _ConnectorFactoryImpl: how it makes credentials
            credentials = await sdk._credential_factory.create_credentials(
                sdk._app_id,
                audience or sdk._to_channel_from_bot_oauth_scope,
                sdk._login_endpoint,
                sdk._validate_authority,
            )
            client = Connector(service_url, credentials, self._owner.session)
            cache.keep(key, client)
        return client


class ReusingClients(BotFrameworkAuthentication):  # type: ignore[misc]
    """Wraps the SDK's authentication so connector and token clients are built once."""

    def __init__(self, inner: BotFrameworkAuthentication) -> None:
        self._inner = inner
        self.connectors: RecentlyUsed[tuple[Any, ...], Connector] = RecentlyUsed(_MAX_CLIENTS)
        self._token_clients: dict[tuple[Any, ...], Any] = {}
        self._proactive: RecentlyUsed[tuple[str, str], Connector] = RecentlyUsed(_MAX_CLIENTS)
        self._session: ClientSession | None = None

    def session(self) -> ClientSession:
        """The aiohttp session every connector sends on (made on first use, on the loop)."""
        if self._session is None or self._session.closed:
            self._session = ClientSession(connector=TCPConnector(limit=100))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self.connectors.clear()
        self._proactive.clear()

    def _reusing(self, factory: ConnectorFactory | None, claims: ClaimsIdentity | None) -> Any:
        if factory is None:
            return None
        return _ReusingConnectorFactory(factory, self, _identity_key(claims))

    async def connector(self, bot_app_id: str, service_url: str) -> Connector:
        """The client a proactive send uses, as ``continue_conversation`` would make it;
        found again without the SDK's claims and connector factory (every card sent)."""
        client = self._proactive.get((bot_app_id, service_url))
        if client is None:
            client = await self._proactive_connector(bot_app_id, service_url)
            self._proactive.keep((bot_app_id, service_url), client)
        return client

    async def _proactive_connector(self, bot_app_id: str, service_url: str) -> Connector:
        claims = ClaimsIdentity(
            {
                AuthenticationConstants.AUDIENCE_CLAIM: bot_app_id,
                AuthenticationConstants.APP_ID_CLAIM: bot_app_id,
            },
            True,
        )
        client: Connector = await self.create_connector_factory(claims).create(service_url)
        return client

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
