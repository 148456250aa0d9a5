"""On-Behalf-Of: the agent's Teams SSO token (from the tab or the bot's sign-in) exchanged
through MSAL for a CRM token that acts as that agent.

The exchange, and the renewal of its token from MSAL's cache once the assertion has
expired: whose assertion is used when, and where it is kept, is
:class:`bot.adapters.crm.agent_tokens.AgentTokens`'s. The MSAL client and its persisted
token cache are the CRM credentials' (:class:`bot.adapters.crm.tokens.MsalApp`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.adapters.crm.credentials import AccessToken
from bot.adapters.crm.tokens import (
    Clock,
    MsalApp,
    MsalSettings,
    RenewingTokenProvider,
    TokenCacheHooks,
    msal_call,
    msal_result,
)
from bot.services.crm import AgentNotSignedIn
from bot.services.recently_used import RecentlyUsed


class MsalOnBehalfOf:
    """Exchange the agent's Teams SSO token On-Behalf-Of for a CRM token, per user.

    ``for_user(assertion)`` gives a :class:`TokenProvider` for that user, cached by a
    hash of the assertion (never the assertion itself as a key). ``for_account(oid)`` is
    the same user once their assertion has expired: the token from MSAL's cache alone,
    renewed with the refresh token the exchange left there (``acquire_token_silent``).
    """

    def __init__(
        self,
        settings: MsalSettings,
        *,
        cache_hooks: TokenCacheHooks | None = None,
        cache_key: str | None = None,
        refresh_margin: float = 240.0,
        clock: Clock = time.monotonic,
        max_users: int = 1000,
    ) -> None:
        self.settings = settings
        self.refresh_margin = refresh_margin
        self.clock = clock
        key = cache_key or f"msal-obo:{settings.authority}:{settings.client_id}"
        self._msal = MsalApp(settings, cache_hooks, key)
        self._users: RecentlyUsed[str, RenewingTokenProvider] = RecentlyUsed(max_users)

    def for_user(self, user_assertion: str) -> RenewingTokenProvider:
        key = hashlib.sha256(user_assertion.encode()).hexdigest()
        return self._provider(key, lambda: _UserToken(self, lambda: self._exchange(user_assertion)))

    def for_account(self, object_id: str) -> RenewingTokenProvider:
        """Raises :class:`AgentNotSignedIn` when MSAL's cache cannot renew the user's token."""
        return self._provider(
            f"account:{object_id}", lambda: _UserToken(self, lambda: self._silent(object_id))
        )

    def _provider(
        self, key: str, new: Callable[[], RenewingTokenProvider]
    ) -> RenewingTokenProvider:
        provider = self._users.get(key)
        if provider is None:
            provider = new()
            self._users.keep(key, provider)
        return provider

    async def _silent(self, object_id: str) -> AccessToken:
        app = await self._msal.app()
        await self._msal.reload()  # the sign-in may have been cached by another instance
        scopes = list(self.settings.scopes)

        def silent() -> Mapping[str, Any] | None:
            accounts = [a for a in app.get_accounts() if a.get("local_account_id") == object_id]
            if not accounts:
                return None
            result: Mapping[str, Any] | None = app.acquire_token_silent_with_error(
                scopes, accounts[0]
            )
            return result

        result = await asyncio.to_thread(msal_call, silent)
        if result is None or result.get("error") in ("invalid_grant", "interaction_required"):
            raise AgentNotSignedIn("no cached sign-in of this user can be renewed")
        token = msal_result(result, self.clock, "refresh")
        await self._msal.persist()
        return token

    async def _exchange(self, user_assertion: str) -> AccessToken:
        app = await self._msal.app()
        result = await asyncio.to_thread(
            msal_call,
            app.acquire_token_on_behalf_of,
            user_assertion,
            list(self.settings.scopes),
        )
        token = msal_result(result, self.clock, "on-behalf-of")
        await self._msal.persist()
        return token


class _UserToken(RenewingTokenProvider):
    """One user's token, fetched by ``fetch`` (the exchange, or the renewal from the cache)."""

    def __init__(self, owner: MsalOnBehalfOf, fetch: Callable[[], Awaitable[AccessToken]]) -> None:
        super().__init__(refresh_margin=owner.refresh_margin, clock=owner.clock)
        self._owner = owner
        self._fetch_token = fetch

    async def invalidate(self, value: str) -> None:
        await super().invalidate(value)
        await self._owner._msal.evict(value)

    async def _fetch(self) -> AccessToken:
        return await self._fetch_token()
