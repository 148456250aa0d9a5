"""On-Behalf-Of: the agent's Teams SSO token exchanged for a downstream (CRM) token.

For CRM calls that must run as the agent (their permissions, their audit trail) rather
than as crmcard. One MSAL confidential client per tenant and scope set, with the SSO app's
credentials, against ``{entra_authority}/{tid}``; its token cache lives sealed in the
store under the tenant's prefix (:class:`StoreTokenCaches`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.adapters.crm.tokens import AccessToken, MsalOnBehalfOf, MsalSettings
from bot.adapters.storage.token_caches import StoreTokenCaches
from bot.adapters.teams.sso import SsoIdentity
from bot.services.crm import CrmAuthError
from bot.services.secret_box import SecretBox
from bot.services.store import Store
from bot.settings import Settings

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


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
        self._clients: dict[tuple[str, tuple[str, ...]], MsalOnBehalfOf] = {}

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
            raise CrmAuthError("the agent's SSO token is needed for On-Behalf-Of")
        return await self._client(agent.tenant_id, tuple(scopes)).for_user(agent.token).token()
