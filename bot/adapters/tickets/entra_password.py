"""PostgreSQL passwords that are Microsoft Entra access tokens of the app's managed identity.

Azure Database for PostgreSQL flexible server can take Entra ID sign-ins only (no stored
password): the app's user-assigned managed identity is a database administrator, and the
password of each new connection is a token for ``https://ossrdbms-aad.database.windows.net``
from App Service's managed-identity endpoint (``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``).
asyncpg asks for the password on every connection attempt; a token is reused until five
minutes before it expires.

Docs: https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-connect-with-managed-identity
https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import aiohttp

RESOURCE = "https://ossrdbms-aad.database.windows.net"
REFRESH_MARGIN = 300.0


class ManagedIdentityPassword:
    """An async callable returning a current access token (asyncpg's ``password``)."""

    def __init__(
        self,
        client_id: str,
        *,
        endpoint: str | None = None,
        secret_header: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.endpoint = endpoint or os.environ.get("IDENTITY_ENDPOINT", "")
        self.secret_header = secret_header or os.environ.get("IDENTITY_HEADER", "")
        self.clock = clock
        self._token: str | None = None
        self._expires = 0.0

    async def __call__(self) -> str:
        if self._token is not None and self.clock() < self._expires - REFRESH_MARGIN:
            return self._token
        if not self.endpoint:
            raise RuntimeError("no managed identity here: IDENTITY_ENDPOINT is not set")
        params = {"resource": RESOURCE, "api-version": "2019-08-01"}
        if self.client_id:
            params["client_id"] = self.client_id
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                self.endpoint,
                params=params,
                headers={"X-IDENTITY-HEADER": self.secret_header},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response,
        ):
            if response.status != 200:
                raise RuntimeError(f"the managed identity endpoint answered {response.status}")
            body = await response.json()
        self._token = str(body["access_token"])
        self._expires = float(body.get("expires_on") or self.clock() + 3600)
        return self._token
