"""What the admin API refuses reaches the admin in their language (over HTTP, German and
French): an unsafe CRM URL next to its field, a CRM configuration that exists, a missing
admin key, an outbox filter of no status, an unknown workflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.settings import Settings
from bot.web.app import create_app

ADMIN = {"X-Admin-Key": "demo-admin-key"}
ZENDESK = {"settingsId": "z", "kind": "zendesk", "displayName": "Z"}
WORDS = {
    "unsafe": {
        "de": ("Unsichere CRM-URL", "muss eine https-URL sein"),
        "fr": ("URL de CRM non sûre", "doit être une URL https"),
    },
    "loopback": {
        "de": ("Unsichere CRM-URL", "127.0.0.1 ist eine Adresse (Loopback)"),
        "fr": ("URL de CRM non sûre", "127.0.0.1 est une adresse de bouclage"),
    },
    "exists": {
        "de": "Die CRM-Konfiguration 'z' existiert bereits",
        "fr": "La configuration de CRM 'z' existe déjà",
    },
    "no admin": {"de": "Melden Sie sich als Administrator", "fr": "connectez-vous en tant"},
    "status": {"de": "status muss eines von", "fr": "status doit être l'une des valeurs"},
    "workflow": {"de": "Kein Workflow 'nope'", "fr": "Aucun workflow 'nope'"},
}


@pytest.mark.parametrize("language", ["de", "fr"])
async def test_admin_refusals_are_in_the_admins_language(
    aiohttp_client: Callable[..., Any], settings: Settings, language: str
) -> None:
    strict = settings.model_copy(update={"crm_allow_local_urls": False})
    client = await aiohttp_client(create_app(strict))
    asked = {**ADMIN, "Accept-Language": language}

    async def problem(method: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
        response = await client.request(method, path, **kwargs)
        body: dict[str, Any] = await response.json()
        assert response.status == status, body
        return body

    for case, url in (("unsafe", "http://acme.zendesk.com"), ("loopback", "https://127.0.0.1")):
        kind = "rest" if case == "loopback" else "zendesk"
        body = {**ZENDESK, "kind": kind, "baseUrl": url}
        refused = await problem("POST", "/api/admin/crms", 422, json=body, headers=asked)
        detail, msg = WORDS[case][language]
        assert refused["detail"].startswith(detail), refused
        assert [(e["loc"], e["msg"]) for e in refused["errors"]] == [(["baseUrl"], msg)]

    created = {**ZENDESK, "baseUrl": "https://acme.zendesk.com"}
    await problem("POST", "/api/admin/crms", 201, json=created, headers=asked)
    again = await problem("POST", "/api/admin/crms", 409, json=created, headers=asked)
    assert again["detail"] == WORDS["exists"][language]

    nobody = await problem("GET", "/api/admin/crms", 401, headers={"Accept-Language": language})
    assert nobody["detail"].startswith(WORDS["no admin"][language])
    status = await problem("GET", "/api/admin/outbox?status=lost", 422, headers=asked)
    assert status["detail"].startswith(WORDS["status"][language])
    run = await problem(
        "POST",
        "/api/workflows/nope/execute",
        404,
        json={},
        headers={"X-Api-Key": "demo-key", "Accept-Language": language},
    )
    assert run["detail"] == WORDS["workflow"][language]
