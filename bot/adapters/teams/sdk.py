"""The Bot Framework SDK, set up once: every botbuilder import outside this folder is a bug.

botbuilder-python 4.17.1 is final; keeping it here means moving to the Microsoft 365
Agents SDK touches this folder only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from msrest.universal_http import requests as msrest_requests

from bot.adapters.teams.clients import ReusingClients
from bot.adapters.teams.login_authority import NamedAuthorityCredentialFactory
from bot.adapters.teams.openid import create_authentication
from bot.settings import Settings

Adapter = CloudAdapter
"""The SDK's adapter type, named here so code outside this folder never imports the SDK."""

log = logging.getLogger(__name__)


def fix_msrest_retry_policy() -> None:
    """Make msrest's ``ClientRetryPolicy()`` cheap.

    Its ``__init__`` tests ``i not in safe_codes`` for 999 codes against a 500-item *list*:
    half a million comparisons, and the SDK builds several per turn. A frozenset gives the
    same policy at a fraction of the cost.
    """
    policy = msrest_requests.ClientRetryPolicy
    if not isinstance(policy.safe_codes, frozenset):
        policy.safe_codes = frozenset(policy.safe_codes)  # type: ignore[assignment]


@dataclass(frozen=True)
class _BotFrameworkConfig:
    """The attribute names ``ConfigurationBotFrameworkAuthentication`` reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str | None
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str | None
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str | None
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str | None


def create_adapter(settings: Settings) -> CloudAdapter:
    fix_msrest_retry_policy()
    if not settings.authenticated:
        log.warning(
            "MicrosoftAppId is not set: inbound activities are NOT authenticated. "
            "Use this only for local development and the demo."
        )
    config = _BotFrameworkConfig(
        APP_ID=settings.app_id,
        APP_PASSWORD=settings.app_password.get_secret_value(),
        # The SDK's only credential-free path is its "MultiTenant" one.
        APP_TYPE=settings.app_type.value if settings.authenticated else "MultiTenant",
        APP_TENANTID=settings.app_tenant_id,
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=settings.openid_metadata_url,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=settings.token_issuer,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=settings.bot_login_authority,
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=settings.bot_oauth_scope or None,
    )
    credentials = None
    if settings.bot_login_authority:  # a SingleTenant identity (checked by the settings)
        credentials = NamedAuthorityCredentialFactory(
            settings.app_id, config.APP_PASSWORD, settings.app_tenant_id
        )
    # The SDK's inbound token checks, with its blocking key fetch and 500s repaired.
    adapter = CloudAdapter(ReusingClients(create_authentication(config, credentials)))

    async def on_error(context: TurnContext, error: Exception) -> None:
        log.exception("unhandled error in a bot turn", exc_info=error)
        if context.activity.type == "message":
            await context.send_activity("Sorry, something went wrong. Please try again.")

    adapter.on_turn_error = on_error
    return adapter


async def close_adapter(adapter: CloudAdapter) -> None:
    """Close the connections the adapter's connector clients keep open."""
    clients = adapter.bot_framework_authentication
    if isinstance(clients, ReusingClients):
        await clients.close()
