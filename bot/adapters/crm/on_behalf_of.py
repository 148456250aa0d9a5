"""On-Behalf-Of: the agent's Teams SSO token (from the tab or the bot's sign-in) exchanged
through MSAL for a CRM token that acts as that agent.

The exchange only: whose assertion is used when, and where it is kept, is
:class:`bot.adapters.crm.agent_tokens.AgentTokens`'s. The MSAL client and its persisted
token cache are the CRM credentials' (:class:`bot.adapters.crm.tokens.MsalApp`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time

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


class MsalOnBehalfOf:
    """Exchange the agent's Teams SSO token On-Behalf-Of for a CRM token, per user.

    ``for_user(assertion)`` gives a :class:`TokenProvider` for that user, cached by a
    hash of the assertion (never the assertion itself as a key).
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
        self.max_users = max_users
        key = cache_key or f"msal-obo:{settings.authority}:{settings.client_id}"
        self._msal = MsalApp(settings, cache_hooks, key)
        self._users: dict[str, _OboUser] = {}

    def for_user(self, user_assertion: str) -> RenewingTokenProvider:
        key = hashlib.sha256(user_assertion.encode()).hexdigest()
        provider = self._users.get(key)
        if provider is None:
            if len(self._users) >= self.max_users:
                self._users.pop(next(iter(self._users)))
            provider = _OboUser(self, user_assertion)
            self._users[key] = provider
        return provider

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


class _OboUser(RenewingTokenProvider):
    def __init__(self, owner: MsalOnBehalfOf, user_assertion: str) -> None:
        super().__init__(refresh_margin=owner.refresh_margin, clock=owner.clock)
        self._owner = owner
        self._assertion = user_assertion

    async def invalidate(self, value: str) -> None:
        await super().invalidate(value)
        await self._owner._msal.evict(value)

    async def _fetch(self) -> AccessToken:
        return await self._owner._exchange(self._assertion)
