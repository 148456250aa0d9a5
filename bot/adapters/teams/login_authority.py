"""The bot identity's Bot Connector token from an Entra authority the operator names.

In a national or private cloud the bot signs in at that cloud's Entra
(``CRMCARD_BOT_LOGIN_URL``, the tenant ``MicrosoftAppTenantId`` appended), not at
``login.microsoftonline.com``. The SDK (botbuilder-python 4.17.1) picks its credentials by
the login URL's prefix and, for any host but the public and US Government ones, builds an
MSAL client with Microsoft's instance discovery on: MSAL then asks
``login.microsoftonline.com`` whether the authority is one of Microsoft's, which an
authority Microsoft does not list never is (``invalid_instance``), and an isolated cloud
cannot even ask. :class:`NamedAuthorityCredentialFactory` gives every credential the named
authority itself, instance discovery off (the operator vouches for the authority), with a
timeout; the token is then fetched by the SDK's own credentials code.
"""

from __future__ import annotations

from typing import Any

from botframework.connector.auth import (
    MicrosoftAppCredentials,
    PasswordServiceClientCredentialFactory,
)
from msal import ConfidentialClientApplication

MSAL_TIMEOUT_SECONDS = 10.0


class NamedAuthorityCredentials(MicrosoftAppCredentials):  # type: ignore[misc]
    """A client secret's tokens from one authority (``https://host/<tenant>``): the SDK's
    credentials, their MSAL client built with instance discovery off.

    ``get_access_token`` blocks (MSAL is synchronous, and its first call fetches the
    authority's OpenID configuration): callers run it in a worker thread."""

    app: Any  # the SDK's MSAL client, built on first use

    def __init__(self, app_id: str, password: str, authority: str, oauth_scope: str) -> None:
        super().__init__(app_id, password, oauth_scope=oauth_scope)
        self.oauth_endpoint = authority

    def get_access_token(self, force_refresh: bool = False) -> str:
        if self.app is None:  # the SDK's get_access_token uses the client it finds here
            self.app = ConfidentialClientApplication(
                self.microsoft_app_id,
                client_credential=self.microsoft_app_password,
                authority=self.oauth_endpoint,
                instance_discovery=False,
                timeout=MSAL_TIMEOUT_SECONDS,
            )
        return str(super().get_access_token(force_refresh))


class NamedAuthorityCredentialFactory(PasswordServiceClientCredentialFactory):  # type: ignore[misc]
    """The SDK's client-secret credential factory, each credential's authority the login
    endpoint the SDK is configured with (``TO_CHANNEL_FROM_BOT_LOGIN_URL``) as it is."""

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> MicrosoftAppCredentials:
        if await self.is_authentication_disabled():
            return MicrosoftAppCredentials.empty()
        if not await self.is_valid_app_id(app_id):
            raise PermissionError(f"{app_id!r} is not this bot's app id")
        return NamedAuthorityCredentials(app_id, self.password, login_endpoint, oauth_scope)
