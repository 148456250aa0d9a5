"""A local Microsoft Entra ID (OAuth 2.0 / OpenID) authority for MSAL to talk to.

Follows the public contracts of:
* OpenID Connect discovery on the Microsoft identity platform
  https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc
  (``/{tenant}/v2.0/.well-known/openid-configuration``)
* OAuth 2.0 client credentials flow
  https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
* OAuth 2.0 On-Behalf-Of flow
  https://learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow
  (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``,
  ``requested_token_use=on_behalf_of``; with ``offline_access`` and ``openid`` among the
  scopes, as MSAL asks, the answer also holds a ``refresh_token``, an ``id_token`` and the
  ``client_info`` ``{uid, utid}`` when ``client_info=1`` is sent)
* Refresh the access token (``grant_type=refresh_token``): a new access token of the same
  user and a rotated refresh token; an unknown or revoked one is ``invalid_grant``
  https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
* Tokens are issued in the fake's one ``tenant``; a token request in any other is
  ``AADSTS90002`` (tenant not found), as its discovery document is ``invalid_tenant``

MSAL only accepts https authorities, so tests serve this app over TLS with a throw-away
self-signed certificate (see ``conftest.tls``).

Fault knobs: ``latency`` (seconds per token request), ``token_lifetime`` (``expires_in``
of issued tokens), ``fail_next`` (answer the next N token requests with 503),
``expire_all()`` (every issued token stops being accepted by the fake resource servers),
``revoke_refresh_tokens()`` (a user's sign-in was revoked: refreshes are refused),
``app_removed`` (the tenant's administrator deleted the app's enterprise application:
every token request in the tenant is ``unauthorized_client`` with ``AADSTS700016``, the
app "was not found in the directory", as listed in
https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass, field

import jwt
from aiohttp import web


@dataclass
class Issued:
    token: str
    grant: str
    scope: str
    subject: str
    expires_at: float
    user: str | None = None
    """The signed-in user's Entra object id (``oid``) of a delegated token; None app-only."""


@dataclass
class FakeEntra:
    tenant: str = "contoso-tenant"
    clients: dict[str, str] = field(default_factory=lambda: {"app-id": "app-secret"})
    user_assertions: set[str] = field(default_factory=lambda: {"teams-sso-token"})
    token_lifetime: int = 3599
    latency: float = 0.0
    fail_next: int = 0
    app_removed: bool = False
    issued: list[Issued] = field(default_factory=list)
    discovery_requests: int = 0
    base_url: str = ""
    refresh_tokens: dict[str, Issued] = field(default_factory=dict)
    """A live refresh token -> the token it was issued beside (whose user it renews)."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        return app

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant}"

    def token_requests(self, grant: str | None = None) -> list[Issued]:
        return [i for i in self.issued if grant is None or i.grant == grant]

    def expire_all(self) -> None:
        for issued in self.issued:
            issued.expires_at = 0.0

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()

    def is_valid(self, token: str, scope_prefix: str = "") -> bool:
        return self.issued_token(token, scope_prefix) is not None

    def issued_token(self, token: str, scope_prefix: str = "") -> Issued | None:
        """The unexpired token ``token`` for a scope under ``scope_prefix``, if issued."""
        now = time.monotonic()
        return next(
            (
                i
                for i in self.issued
                if i.token == token and i.expires_at > now and i.scope.startswith(scope_prefix)
            ),
            None,
        )

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_requests += 1
        tenant = request.match_info["tenant"]
        if tenant != self.tenant:
            return web.json_response({"error": "invalid_tenant"}, status=400)
        base = f"{self.base_url}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "tenant_region_scope": "EU",
            }
        )

    def _error(
        self, status: int, error: str, description: str, code: int = 7000215
    ) -> web.Response:
        return web.json_response(
            {
                "error": error,
                "error_description": description,
                "error_codes": [code],
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
            },
            status=status,
        )

    async def _token(self, request: web.Request) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.fail_next > 0:
            self.fail_next -= 1
            return self._error(503, "temporarily_unavailable", "AADSTS90033: try again")
        if request.match_info["tenant"] != self.tenant:
            tenant = request.match_info["tenant"]
            return self._error(
                400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.", 90002
            )
        form = await request.post()
        client_id = str(form.get("client_id", ""))
        secret = str(form.get("client_secret", ""))
        if self.app_removed:
            return self._error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in "
                f"the directory '{self.tenant}'. This can happen if the application has not "
                "been installed by the administrator of the tenant or consented to by any "
                "user in the tenant.",
                700016,
            )
        if self.clients.get(client_id) != secret or not secret:
            return self._error(401, "invalid_client", "AADSTS7000215: Invalid client secret.")
        grant = str(form.get("grant_type", ""))
        scope = str(form.get("scope", ""))
        subject = client_id
        user: str | None = None
        if grant == "client_credentials":
            pass
        elif (
            grant == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            and form.get("requested_token_use") == "on_behalf_of"
        ):
            assertion = str(form.get("assertion", ""))
            if assertion not in self.user_assertions:
                return self._error(400, "invalid_grant", "AADSTS50013: Assertion is invalid.")
            subject = f"user:{assertion}"
            user = _object_id(assertion)
        elif grant == "refresh_token":
            renewed = self.refresh_tokens.pop(str(form.get("refresh_token", "")), None)
            if renewed is None:
                return self._error(
                    400, "invalid_grant", "AADSTS700082: The refresh token has expired."
                )
            subject, user = renewed.subject, renewed.user
        else:
            return self._error(400, "unsupported_grant_type", "AADSTS70003")
        token = f"entra-{uuid.uuid4().hex}"
        issued = Issued(token, grant, scope, subject, time.monotonic() + self.token_lifetime, user)
        self.issued.append(issued)
        answer: dict[str, object] = {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": token,
        }
        scopes = scope.split()
        if user is not None and "offline_access" in scopes:
            refresh = f"entra-rt-{uuid.uuid4().hex}"
            self.refresh_tokens[refresh] = issued
            answer["refresh_token"] = refresh
        if user is not None and "openid" in scopes:
            answer["id_token"] = self._id_token(client_id, user)
        if user is not None and form.get("client_info") == "1":
            info = json.dumps({"uid": user, "utid": self.tenant}).encode()
            answer["client_info"] = base64.urlsafe_b64encode(info).decode().rstrip("=")
        return web.json_response(answer)

    def _id_token(self, client_id: str, user: str) -> str:
        """An ID token of ``user`` (MSAL reads its claims; it does not check a signature)."""
        now = int(time.time())
        claims = {
            "iss": f"{self.authority}/v2.0",
            "aud": client_id,
            "sub": f"sub-{user}",
            "oid": user,
            "tid": self.tenant,
            "preferred_username": f"{user}@{self.tenant}",
            "iat": now,
            "exp": now + self.token_lifetime,
        }
        return jwt.encode(claims, "the local Entra authority's ID token key", algorithm="HS256")


def _object_id(assertion: str) -> str | None:
    """The ``oid`` of a user assertion (a JWT Entra already trusts here; not re-verified)."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    oid = claims.get("oid")
    return str(oid) if oid else None
