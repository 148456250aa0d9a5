"""Teams SSO tokens (Entra ID v2.0 access tokens) minted by the local OpenID issuer.

The issuer serves the keys (as ``login.microsoftonline.com/common/v2.0`` does); the
tokens carry what Entra puts in them: ``iss`` = ``{authority}/{tid}/v2.0``, ``aud`` = the
SSO app's ``api://<domain>/<client id>``, ``tid``, ``oid``, ``scp``, ``ver`` = ``2.0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.settings import Settings
from tests.auth.openid_issuer import LocalIssuer

SSO_CLIENT_ID = "5d0c3a1e-7b8f-4a2c-9e6d-1f2a3b4c5d6e"
BOT_APP_ID = "6f1f4e52-6a3c-4d0c-9c55-0a1b2c3d4e5f"
PUBLIC_URL = "https://crmcard.example.com"
AUDIENCE = f"api://crmcard.example.com/{SSO_CLIENT_ID}"
TENANT_A = "aaaaaaaa-0000-4000-8000-00000000000a"
TENANT_B = "bbbbbbbb-0000-4000-8000-00000000000b"
AGENT_A = "a0a0a0a0-0000-4000-8000-0000000000a1"
AGENT_B = "b0b0b0b0-0000-4000-8000-0000000000b1"


def authority(issuer: LocalIssuer) -> str:
    """The Entra authority the app is configured with: the local issuer's address."""
    return f"{issuer.url}/entra"


def sso_settings(tmp_path: Path, issuer: LocalIssuer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "app_id": BOT_APP_ID,
        "app_password": "bot-secret",
        "app_type": "MultiTenant",
        "public_url": PUBLIC_URL,
        "sso_client_id": SSO_CLIENT_ID,
        "sso_client_secret": "sso-secret",
        "sso_openid_metadata_url": issuer.metadata_url,
        "entra_authority": authority(issuer),
        "openid_metadata_url": issuer.metadata_url,
        "token_issuer": issuer.issuer,
        "api_keys": {TENANT_A: "key-a", TENANT_B: "key-b"},
        "admin_keys": {TENANT_A: "admin-a", TENANT_B: "admin-b"},
        # the platform's part is played by the demo CRM and commands, turned on explicitly
        "demo_crm": True,
        "demo_commands": True,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def sso_token(
    issuer: LocalIssuer,
    *,
    tenant: str = TENANT_A,
    agent: str = AGENT_A,
    audience: str | None = AUDIENCE,
    **claims: Any,
) -> str:
    values: dict[str, Any] = {
        "iss": f"{authority(issuer)}/{tenant}/v2.0",
        "tid": tenant,
        "oid": agent,
        "scp": "access_as_user",
        "ver": "2.0",
        "name": "Avery Agent",
        "preferred_username": "avery@contoso.example",
        **claims,
    }
    return issuer.mint(audience=audience, service_url=None, **values)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
