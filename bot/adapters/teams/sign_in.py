"""Bot SSO: the agent's Teams SSO token, handed over by Teams' token exchange.

Shown an OAuthCard whose ``tokenExchangeResource`` names crmcard's SSO app
(``api://<domain>/<client id>``), Teams gets the agent's SSO token silently and sends it
in a ``signin/tokenExchange`` invoke ``{id, connectionName, token}``
(https://learn.microsoft.com/microsoftteams/platform/bots/how-to/authentication/bot-sso-code).
The token is checked as the tab's is (:class:`~bot.adapters.teams.sso.SsoValidator`), must
name the sender of the invoke in its tenant, and is kept for the agent's delegated CRM
calls (:meth:`~bot.adapters.crm.agent_tokens.AgentTokens.remember`).

The answer is 200 with a ``TokenExchangeInvokeResponse`` ``{id, connectionName}``, or 412
Precondition Failed with its ``failureDetail`` when the token cannot be used, which tells
Teams to show the card's sign-in button instead (Bot Framework's
``TeamsSSOTokenExchangeMiddleware`` answers the same way).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from botbuilder.core import InvokeResponse
from botbuilder.schema import Activity

from bot.adapters.crm.agent_tokens import AgentTokens
from bot.adapters.teams.openid import OpenIdMetadataUnavailable
from bot.adapters.teams.sso import InvalidSsoToken, SsoValidator

log = logging.getLogger(__name__)

TOKEN_EXCHANGE = "signin/tokenExchange"


async def exchange(
    activity: Activity, tenant_id: str, validator: SsoValidator, agent_tokens: AgentTokens
) -> InvokeResponse:
    """Answer one ``signin/tokenExchange`` invoke of ``tenant_id``; see the module."""
    value: Any = activity.value if isinstance(activity.value, dict) else {}
    echo = {
        "id": str(value.get("id") or ""),
        "connectionName": str(value.get("connectionName") or ""),
    }
    token = value.get("token")
    sender = activity.from_property.aad_object_id if activity.from_property else None

    def refused(detail: str) -> InvokeResponse:
        log.info("refused a Teams token exchange: %s", detail)
        body = {**echo, "failureDetail": detail}
        return InvokeResponse(status=int(HTTPStatus.PRECONDITION_FAILED), body=body)

    if not isinstance(token, str) or not token:
        return refused("the invoke carries no token")
    try:
        agent = await validator.validate(token)
    except InvalidSsoToken as error:
        return refused(f"the token was refused: {error}")
    except OpenIdMetadataUnavailable:
        return refused("sign-in cannot be checked just now")
    if agent.tenant_id != tenant_id or agent.object_id != sender:
        return refused("the token is not the sender's")
    await agent_tokens.remember(agent)
    return InvokeResponse(status=int(HTTPStatus.OK), body=echo)
