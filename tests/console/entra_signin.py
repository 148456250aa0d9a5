"""A local Microsoft identity platform for a browser signing in with MSAL.js.

Follows the public contracts of the authorization code flow with PKCE for single-page
apps (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow):
``/{tenant}/v2.0/.well-known/openid-configuration``, ``/{tenant}/oauth2/v2.0/authorize``
(redirects back at once with ``code`` and ``state``, in the ``response_mode`` asked for:
the user "signs in" as :attr:`EntraSignIn.user`) and ``/{tenant}/oauth2/v2.0/token``
(``grant_type=authorization_code`` with the PKCE ``code_verifier``, checked against the
S256 ``code_challenge``; CORS as a SPA redirect URI has it). The access token is whatever
:attr:`EntraSignIn.access_token` mints, e.g. an SSO token of the suite's local issuer.

MSAL only accepts https authorities: serve the app over TLS (``tests.crm.conftest.tls``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    """An id token as MSAL.js reads it (MSAL.js does not check id token signatures)."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


@dataclass
class EntraSignIn:
    access_token: Callable[[dict[str, str]], str]
    """Mints the access token for the signed-in user (``{"tid", "oid", "name", ...}``)."""
    user: dict[str, str] = field(default_factory=dict)
    base_url: str = ""
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/entra/{tenant}/v2.0/.well-known/openid-configuration", self.metadata)
        app.router.add_get("/entra/{tenant}/oauth2/v2.0/authorize", self.authorize)
        app.router.add_route("OPTIONS", "/entra/{tenant}/oauth2/v2.0/token", self.preflight)
        app.router.add_post("/entra/{tenant}/oauth2/v2.0/token", self.token)
        return app

    async def metadata(self, request: web.Request) -> web.Response:
        root = f"{self.base_url}/entra/{request.match_info['tenant']}"
        return web.json_response(
            {
                "issuer": f"{self.base_url}/entra/{{tenantid}}/v2.0",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "token_endpoint": f"{root}/oauth2/v2.0/token",
                "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
                "jwks_uri": f"{root}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
            },
            headers=CORS,
        )

    async def authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return web.Response(status=400, text="authorization code with PKCE (S256) only")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": query["code_challenge"],
            "nonce": query.get("nonce", ""),
            "client_id": query["client_id"],
            "redirect_uri": query["redirect_uri"],
            "scope": query.get("scope", ""),
        }
        client_info = _b64(json.dumps({"uid": self.user["oid"], "utid": self.user["tid"]}).encode())
        answer = urlencode({"code": code, "state": query["state"], "client_info": client_info})
        mark = "?" if query.get("response_mode") == "query" else "#"
        raise web.HTTPFound(f"{query['redirect_uri']}{mark}{answer}")

    async def preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS)

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        grant = self.codes.pop(str(form.get("code", "")), None)
        verifier = str(form.get("code_verifier", ""))
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or _b64(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return web.json_response(
                {"error": "invalid_grant", "error_description": "AADSTS70008: bad code"},
                status=400,
                headers=CORS,
            )
        now = int(time.time())
        user = self.user
        self.issued.append(self.access_token(user))
        id_token = _unsigned_jwt(
            {
                "iss": f"{self.base_url}/entra/{user['tid']}/v2.0",
                "aud": grant["client_id"],
                "tid": user["tid"],
                "oid": user["oid"],
                "sub": user["oid"],
                "name": user.get("name", ""),
                "preferred_username": user.get("username", ""),
                "nonce": grant["nonce"],
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "ver": "2.0",
            }
        )
        return web.json_response(
            {
                "token_type": "Bearer",
                "scope": grant["scope"],
                "expires_in": 3600,
                "ext_expires_in": 3600,
                "access_token": self.issued[-1],
                "id_token": id_token,
                "client_info": _b64(json.dumps({"uid": user["oid"], "utid": user["tid"]}).encode()),
            },
            headers=CORS,
        )
