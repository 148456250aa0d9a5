"""The console page's sign-in configuration and its files, over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from bot.web.app import create_app
from tests.console.browser import REPO, ensure_bundle


def _config(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="console-config" type="application/json">(.*?)</script>', html)
    assert found is not None
    parsed: dict[str, Any] = json.loads(found.group(1))
    return parsed


async def test_development_mode_without_an_app_id(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/admin")
    assert response.status == 200
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]
    assert _config(await response.text()) == {"mode": "development", "tenantId": "demo-tenant"}


async def test_entra_sign_in_for_the_multi_tenant_app(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        app_id="bot-app",
        app_password="secret",
        app_type="MultiTenant",
        tenant_gate=False,
        sso_client_id="sso-app",
        public_url="https://crmcard.example.com",
    )
    client = await aiohttp_client(create_app(settings))
    config = _config(await (await client.get("/admin")).text())
    assert config["mode"] == "entra"
    assert config["clientId"] == "sso-app"
    assert config["scopes"] == ["api://crmcard.example.com/sso-app/access_as_user"]
    assert config["authority"] == "https://login.microsoftonline.com/organizations"
    assert config["redirectUri"] == "https://crmcard.example.com/admin"
    assert "secret" not in json.dumps(config)


async def test_serves_the_bundle_and_nothing_else(aiohttp_client: Any, tmp_path: Path) -> None:
    ensure_bundle()
    client = await aiohttp_client(create_app(Settings(_env_file=None, data_dir=tmp_path)))  # type: ignore[call-arg]
    bundle = await client.get("/admin/static/console.js")
    assert bundle.status == 200
    assert bundle.headers["Content-Type"].startswith("text/javascript")
    assert (await client.get("/admin/static/console.css")).status == 200
    for name in ("index.html", "..%2Fbuild.mjs", "console.js.map", ".%2Fconsole.js"):
        assert (await client.get(f"/admin/static/{name}")).status == 404
    assert (await client.get("/admin/locales/xx.json")).status == 404
    assert (await client.get("/admin/locales/..%2Fen.json")).status == 404


def test_console_sources_type_check_against_the_catalogue() -> None:
    """tsc --strict: among others, every string key used exists in the English catalogue."""
    tsc = REPO / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        pytest.fail("TypeScript is not installed: run scripts/setup.sh")
    done = subprocess.run(
        [str(tsc), "-p", str(REPO / "console")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
