"""The admin console: the page at ``/admin`` and the files it loads.

The console is a small TypeScript app (``console/src``, bundled by esbuild into
``console/dist`` by ``scripts/setup.sh``) that calls only the admin API
(``/api/admin/...``); it holds no rules of its own. This module serves it:

- ``GET /admin``: the page, with how to sign in embedded (never a secret): development
  mode without a ``MicrosoftAppId`` (the operator's bootstrap admin key), otherwise
  Entra ID through MSAL (authorization code + PKCE) for crmcard's multi-tenant app, or
  Teams SSO when Teams hosts it as the "Admin" personal tab.
- ``GET /admin/static/{name}``: the bundle (and the chunk only Teams loads), its stylesheet.
- ``GET /admin/locales/{lang}.json``: the console's catalogue in another language.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.adapters.teams.sso import application_id_uri
from bot.settings import Settings
from bot.web.interactions import SETTINGS
from bot.web.tab import FRAME_ANCESTORS

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "console" / "index.html"
DIST = REPO / "console" / "dist"
LOCALES = REPO / "bot" / "i18n" / "locales"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-]+\.(js|css)$")
_LANG = re.compile(r"^[a-z]{2}$")


def console_config(settings: Settings) -> dict[str, Any]:
    """How the page signs in: what MSAL and Teams need, public by nature."""
    if not settings.app_id:
        return {"mode": "development", "tenantId": settings.default_tenant_id}
    client_id = settings.sso_app_id
    authority = settings.entra_authority.rstrip("/")
    return {
        "mode": "entra",
        "clientId": client_id,
        "authority": f"{authority}/organizations",
        "knownAuthorities": [urlsplit(authority).netloc],
        "scopes": [f"{application_id_uri(client_id, settings.public_url)}/access_as_user"],
        "redirectUri": f"{settings.public_url.rstrip('/')}/admin",
        "consentUrl": f"{settings.public_url.rstrip('/')}/admin/consent",
    }


async def get_page(request: web.Request) -> web.Response:
    config = json.dumps(console_config(request.app[SETTINGS])).replace("<", "\\u003c")
    page = PAGE.read_text(encoding="utf-8").replace("__CONSOLE_CONFIG__", config)
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Content-Security-Policy": FRAME_ANCESTORS, "Cache-Control": "no-cache"},
    )


async def get_static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = DIST / name
    if not _STATIC_NAME.match(name) or not path.is_file():
        raise web.HTTPNotFound(text=f"{name} is not built: run scripts/setup.sh")
    kind = STATIC_TYPES[path.suffix]
    return web.FileResponse(
        path, headers={"Content-Type": f"{kind}; charset=utf-8", "Cache-Control": "no-cache"}
    )


async def get_locale(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    path = LOCALES / lang / "admin.json"
    if not _LANG.match(lang) or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": "application/json; charset=utf-8"})


def setup_console(app: web.Application) -> None:
    app.router.add_get("/admin", get_page)
    app.router.add_get("/admin/static/{name}", get_static)
    app.router.add_get("/admin/locales/{lang}.json", get_locale)
