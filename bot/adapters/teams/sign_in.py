"""Bot SSO: the agent's Teams SSO token, handed over by Teams' token exchange.

A tenant with a CRM connected with delegated access (``CrmConfig.access``) needs each
agent's own token. When the agent has none that crmcard could use, the bot asks for it
(https://learn.microsoft.com/microsoftteams/platform/bots/how-to/authentication/bot-sso-code):

- in the agent's personal chat, an OAuthCard whose ``tokenExchangeResource`` names
  crmcard's SSO app (``api://<host>/<client id>``, the manifest's
  ``webApplicationInfo.resource``). Teams gets the agent's SSO token silently and sends it
  in a ``signin/tokenExchange`` invoke ``{id, connectionName, token}``;
- in the message extension (search and link unfurling), a ``silentAuth`` result: Teams
  gets the token the same way and sends the query again with ``authentication.token``
  (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/authentication/message-extension-sso-code).

Either token is checked as the tab's is (:class:`~bot.adapters.teams.sso.SsoValidator`),
must name the sender in its tenant, and is kept for the agent's delegated CRM calls
(:meth:`~bot.adapters.crm.agent_tokens.AgentTokens.remember`).

The exchange is answered 200 with a ``TokenExchangeInvokeResponse`` ``{id,
connectionName}``, or 412 Precondition Failed with its ``failureDetail`` when the token
cannot be used, which tells Teams to show the card's sign-in button instead (Bot
Framework's ``TeamsSSOTokenExchangeMiddleware`` answers the same way); a message
extension query whose token cannot be used gets an ``auth`` result with that link. The
link opens crmcard's sign-in page (``/tab/sign-in``), which asks Teams for the token in
the page (where Teams can ask the agent's consent) and hands it to crmcard; Teams then
sends ``signin/verifyState``, answered 200 once the agent's token is kept, else 412.
crmcard exchanges the token itself (On-Behalf-Of), so no Bot Service OAuth connection is
involved: ``connectionName`` is only echoed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from botbuilder.core import CardFactory, InvokeResponse
from botbuilder.schema import ActionTypes, Activity, Attachment, CardAction, OAuthCard

from bot.adapters.crm.agent_tokens import AgentTokens
from bot.adapters.teams.openid import OpenIdMetadataUnavailable
from bot.adapters.teams.sso import InvalidSsoToken, SsoIdentity, SsoValidator, sso_audiences
from bot.domain.crm_config import Access
from bot.i18n import AgentLocale, localize, t
from bot.services.crm_configs import CrmConfigs
from bot.services.tenant_cache import PerTenant
from bot.settings import Settings

log = logging.getLogger(__name__)

TOKEN_EXCHANGE = "signin/tokenExchange"
VERIFY_STATE = "signin/verifyState"
CONNECTION_NAME = "crmcard-sso"
"""Echoed by Teams in the exchange; crmcard needs no Bot Service OAuth connection."""
SIGN_IN_PATH = "/tab/sign-in"


class SignIn:
    """What the bot needs to ask an agent for their Teams SSO token and to keep it."""

    def __init__(
        self,
        settings: Settings,
        configs: CrmConfigs,
        validator: SsoValidator,
        tokens: AgentTokens,
        *,
        list_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.configs = configs
        self.validator = validator
        self.tokens = tokens
        self._delegated: PerTenant[list[str]] = PerTenant(list_ttl, clock)
        configs.listeners.append(self.forget)

    def forget(self, tenant_id: str) -> None:
        """The tenant's CRM configurations changed here: read them again."""
        self._delegated.forget(tenant_id)

    async def delegated_crms(self, tenant_id: str) -> list[str]:
        """The display names of the tenant's CRMs connected with delegated access (read
        again at most every ``list_ttl`` seconds, or at once after a change made here:
        message extension queries come often)."""
        return await self._delegated.get(tenant_id, lambda: self._listed(tenant_id))

    async def _listed(self, tenant_id: str) -> list[str]:
        return [
            stored.config.display_name
            for stored in await self.configs.list(tenant_id)
            if stored.config.enabled and stored.config.access is Access.DELEGATED
        ]

    async def needed(self, tenant_id: str, agent_id: str) -> list[str]:
        """The tenant's delegated CRMs (display names) when the agent has no token kept
        for them; empty when nothing needs the agent's sign-in."""
        if not agent_id:
            return []
        names = await self.delegated_crms(tenant_id)
        if names and await self.tokens.signed_in(tenant_id, agent_id) is not None:
            return []
        return names

    def sign_in_url(self, locale: AgentLocale) -> str:
        query = urlencode({"locale": locale.language})
        return f"{self.settings.public_url.rstrip('/')}{SIGN_IN_PATH}?{query}"

    def resource(self) -> str:
        """The SSO app's Application ID URI: the ``tokenExchangeResource`` Teams asks for."""
        return sso_audiences(self.settings.sso_app_id, self.settings.public_url)[0]

    def oauth_card(self, crms: list[str], locale: AgentLocale) -> Attachment:
        """The OAuthCard that lets Teams hand over the agent's token silently."""
        text = t(
            "{crms} shows each agent their own records: crmcard signs you in with Teams.",
            crms=", ".join(crms),
        )
        return CardFactory.oauth_card(
            OAuthCard(
                text=localize(text, locale),
                connection_name=CONNECTION_NAME,
                token_exchange_resource={"id": str(uuid.uuid4()), "uri": self.resource()},
                buttons=[
                    CardAction(
                        type=ActionTypes.signin,
                        title=localize(t("Sign in"), locale),
                        value=self.sign_in_url(locale),
                    )
                ],
            )
        )

    def compose_extension_auth(self, silent: bool, locale: AgentLocale) -> InvokeResponse:
        """A message extension's ``silentAuth`` (Teams tries SSO first) or ``auth`` result."""
        body = {
            "composeExtension": {
                "type": "silentAuth" if silent else "auth",
                "suggestedActions": {
                    "actions": [
                        {
                            "type": "openUrl",
                            "title": localize(t("Sign in to crmcard"), locale),
                            "value": self.sign_in_url(locale),
                        }
                    ]
                },
            }
        }
        return InvokeResponse(status=int(HTTPStatus.OK), body=body)

    async def keep(self, activity: Activity, tenant_id: str, token: Any) -> str | None:
        """Keep ``token`` as the sender's; why it cannot be used otherwise (None: kept)."""
        if not isinstance(token, str) or not token:
            return "the invoke carries no token"
        try:
            agent: SsoIdentity = await self.validator.validate(token)
        except InvalidSsoToken as error:
            return f"the token was refused: {error}"
        except OpenIdMetadataUnavailable:
            return "sign-in cannot be checked just now"
        sender = activity.from_property.aad_object_id if activity.from_property else None
        if agent.tenant_id != tenant_id or agent.object_id != sender:
            return "the token is not the sender's"
        await self.tokens.remember(agent)
        return None

    async def exchange(self, activity: Activity, tenant_id: str) -> InvokeResponse:
        """Answer one ``signin/tokenExchange`` invoke of ``tenant_id``; see the module."""
        value: Any = activity.value if isinstance(activity.value, dict) else {}
        echo = {
            "id": str(value.get("id") or ""),
            "connectionName": str(value.get("connectionName") or ""),
        }
        refused = await self.keep(activity, tenant_id, value.get("token"))
        if refused is not None:
            log.info("refused a Teams token exchange: %s", refused)
            body = {**echo, "failureDetail": refused}
            return InvokeResponse(status=int(HTTPStatus.PRECONDITION_FAILED), body=body)
        return InvokeResponse(status=int(HTTPStatus.OK), body=echo)

    async def verify_state(self, activity: Activity, tenant_id: str) -> InvokeResponse:
        """``signin/verifyState``: the sign-in page closed; is the agent's token kept now?"""
        sender = activity.from_property.aad_object_id if activity.from_property else ""
        if await self.tokens.signed_in(tenant_id, sender or "") is not None:
            return InvokeResponse(status=int(HTTPStatus.OK), body={})
        log.info("signin/verifyState of an agent whose token crmcard does not hold")
        return InvokeResponse(
            status=int(HTTPStatus.PRECONDITION_FAILED),
            body={"failureDetail": "the sign-in did not reach crmcard"},
        )

    async def compose_extension(
        self, activity: Activity, tenant_id: str, locale: AgentLocale
    ) -> InvokeResponse | None:
        """Before a message extension query: keep the token Teams sent with it, or ask for
        one when a delegated CRM needs it; None when the query may go ahead."""
        value: Any = activity.value if isinstance(activity.value, dict) else {}
        authentication = value.get("authentication")
        if isinstance(authentication, dict) and "token" in authentication:
            refused = await self.keep(activity, tenant_id, authentication.get("token"))
            if refused is None:
                return None
            log.info("refused the token of a message extension query: %s", refused)
            return self.compose_extension_auth(False, locale)
        agent = activity.from_property.aad_object_id if activity.from_property else ""
        if await self.needed(tenant_id, agent or ""):
            return self.compose_extension_auth(True, locale)
        return None
