"""On-Behalf-Of: the agent's Teams SSO token exchanged for a downstream (CRM) token.

For CRM calls that must run as the agent (their permissions, their audit trail) rather
than as crmcard. One MSAL confidential client per tenant and scope set, with the SSO app's
credentials, against ``{entra_authority}/{tid}``; its token cache lives sealed in the
store under the tenant's prefix (:class:`StoreTokenCaches`).

Delegated CRM access (``CrmConfig.access = "delegated"``) needs the acting agent's user
assertion when the call is made, not when the agent signed in: :meth:`AgentTokens.remember`
keeps each agent's latest validated SSO token (from the tab, or the bot's Teams token
exchange) sealed in the same store until it expires, and
:meth:`AgentTokens.acting_agent_token` is the CRM client's token provider that exchanges
it for the agent who is acting (:mod:`bot.services.acting_agent`). Once that SSO token
has expired (a write-back after a long call, an agent who closed Teams), the agent's
token comes from MSAL's cache alone, renewed with the refresh token the exchange left
there, off the event loop; with neither it refuses with
:class:`~bot.services.crm.AgentNotSignedIn`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable

from bot.adapters.crm.credentials import AccessToken
from bot.adapters.crm.on_behalf_of import MsalOnBehalfOf
from bot.adapters.crm.tokens import MsalSettings, RenewingTokenProvider
from bot.adapters.storage.token_caches import StoreTokenCaches
from bot.adapters.teams.sso import SsoIdentity
from bot.i18n import t
from bot.services import acting_agent
from bot.services.crm import AgentNotSignedIn, CrmAuthError
from bot.services.secret_box import SecretBox
from bot.services.store import Store
from bot.settings import Settings

log = logging.getLogger(__name__)

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
ASSERTION_MARGIN_SECONDS = 60.0
"""An SSO token this close to its expiry is not offered to Entra any more."""


class AgentTokens:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        box: SecretBox,
        *,
        verify: bool | str = True,
        instance_discovery: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.box = box
        self.verify = verify
        # Microsoft's instance discovery only knows Microsoft's own authorities.
        self.instance_discovery = (
            settings.entra_authority.rstrip("/") == PUBLIC_AUTHORITY
            if instance_discovery is None
            else instance_discovery
        )
        self.clock = clock
        self.wall_clock = wall_clock
        self._clients: dict[tuple[str, tuple[str, ...]], MsalOnBehalfOf] = {}
        self._signed_in: dict[tuple[str, str], SsoIdentity] = {}
        self.sign_in_listeners: list[Callable[[str, str], Awaitable[None]]] = []
        """Called with (tenant id, object id) when an agent with no fresh token known here
        signs in (their write-backs waiting for it are due then)."""

    def _client(self, tenant_id: str, scopes: tuple[str, ...]) -> MsalOnBehalfOf:
        client = self._clients.get((tenant_id, scopes))
        if client is None:
            client_id, secret = self.settings.sso_app_id, self.settings.sso_secret
            if not client_id or not secret:
                raise CrmAuthError(
                    "On-Behalf-Of needs the SSO app's client id and secret "
                    "(CRMCARD_SSO_CLIENT_ID / CRMCARD_SSO_CLIENT_SECRET)"
                )
            client = MsalOnBehalfOf(
                MsalSettings(
                    client_id=client_id,
                    client_secret=secret,
                    authority=f"{self.settings.entra_authority.rstrip('/')}/{tenant_id}",
                    scopes=scopes,
                    instance_discovery=self.instance_discovery,
                    verify=self.verify,
                ),
                cache_hooks=StoreTokenCaches(self.store, self.box, tenant_id),
                cache_key=f"obo:{client_id}:{' '.join(scopes)}",
                clock=self.clock,
            )
            self._clients[(tenant_id, scopes)] = client
        return client

    async def on_behalf_of(self, agent: SsoIdentity, scopes: tuple[str, ...]) -> AccessToken:
        """A token for ``scopes`` acting as ``agent`` (cached until shortly before expiry).

        Raises :class:`CrmAuthError` when Entra refuses (consent missing, token revoked)
        and :class:`~bot.services.crm.CrmUnavailable` when it cannot be reached.
        """
        if not agent.token:
            raise CrmAuthError(t("the agent's SSO token is needed for On-Behalf-Of"))
        return await self._client(agent.tenant_id, tuple(scopes)).for_user(agent.token).token()

    async def remember(self, agent: SsoIdentity) -> None:
        """Keep ``agent``'s validated SSO token as their assertion for delegated CRM calls."""
        key = (agent.tenant_id, agent.object_id)
        known = self._signed_in.get(key)
        if known is not None and known.token == agent.token:
            return
        self._signed_in[key] = agent
        blob = json.dumps({"token": agent.token, "exp": agent.expires_at})
        await self._assertions(agent.tenant_id).save(_assertion_name(agent.object_id), blob)
        if known is None or not self._fresh(known):
            for listener in self.sign_in_listeners:
                try:
                    await listener(agent.tenant_id, agent.object_id)
                except Exception:  # the sign-in itself succeeded; the worker retries anyway
                    log.exception("a sign-in listener failed")

    async def signed_in(self, tenant_id: str, object_id: str) -> SsoIdentity | None:
        """The agent's remembered SSO token while it is still good for On-Behalf-Of."""
        agent = self._signed_in.get((tenant_id, object_id))
        if agent is None or not self._fresh(agent):
            blob = await self._assertions(tenant_id).load(_assertion_name(object_id))
            try:
                saved = json.loads(blob) if blob else {}
                agent = SsoIdentity(
                    tenant_id, object_id, token=str(saved["token"]), expires_at=saved["exp"]
                )
            except (KeyError, TypeError, ValueError):
                return None
            self._signed_in[(tenant_id, object_id)] = agent
        return agent if self._fresh(agent) else None

    def acting_agent_token(
        self, crm_name: str, tenant_id: str, scopes: tuple[str, ...]
    ) -> ActingAgentToken:
        """The token provider of a delegated CRM connection of ``tenant_id``."""
        return ActingAgentToken(self, crm_name, tenant_id, scopes)

    def _fresh(self, agent: SsoIdentity) -> bool:
        return agent.expires_at - ASSERTION_MARGIN_SECONDS > self.wall_clock()

    def _assertions(self, tenant_id: str) -> StoreTokenCaches:
        return StoreTokenCaches(self.store, self.box, tenant_id)


def _assertion_name(object_id: str) -> str:
    return f"sso-assertion:{object_id}"


class ActingAgentToken:
    """A :class:`~bot.adapters.crm.tokens.TokenProvider` for the agent who is acting.

    Each call exchanges (or takes from MSAL's cache) the acting agent's SSO token
    On-Behalf-Of, or renews their cached token once it has expired; with no agent, another
    tenant's agent, or an agent who has not signed in (or whose sign-in can no longer be
    renewed), it raises :class:`AgentNotSignedIn` -- never falls back to crmcard's own
    access.
    """

    def __init__(
        self, tokens: AgentTokens, crm_name: str, tenant_id: str, scopes: tuple[str, ...]
    ) -> None:
        self.tokens = tokens
        self.crm_name = crm_name
        self.tenant_id = tenant_id
        self.scopes = scopes

    async def _provider(self) -> RenewingTokenProvider:
        acting = acting_agent.current()
        if acting is None or acting.tenant_id != self.tenant_id:
            raise AgentNotSignedIn(
                f"{self.crm_name} is connected with each agent's own access and no agent "
                "is acting here"
            )
        client = self.tokens._client(self.tenant_id, self.scopes)
        agent = await self.tokens.signed_in(acting.tenant_id, acting.object_id)
        if agent is not None:
            return client.for_user(agent.token)
        return client.for_account(acting.object_id)

    async def token(self) -> AccessToken:
        provider = await self._provider()
        try:
            return await provider.token()
        except AgentNotSignedIn:
            raise AgentNotSignedIn(
                t("sign in to {crm} in the crmcard tab", crm=self.crm_name)
            ) from None

    async def invalidate(self, value: str) -> None:
        await (await self._provider()).invalidate(value)
