"""A model's own validation rules (``raise ValueError(t(...))``) reach the admin or the
platform in their language, over HTTP: the problem's detail and the refused field's
``msg`` (what the console shows next to the field), never pydantic's "Value error, ..."
in English. One refusal per area: CRM configuration, routing, tenant settings, record
policies, data subjects, caller lookup, interaction events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.settings import Settings
from bot.web.app import create_app
from tests.activities import interaction_event

ADMIN = {"X-Admin-Key": "demo-admin-key"}
PLATFORM = {"X-Api-Key": "demo-key"}

CASES: dict[str, tuple[str, str, dict[str, Any], dict[str, str], list[Any], dict[str, str]]] = {
    "crm configuration": (
        "POST",
        "/api/admin/crms",
        {"settingsId": "z", "kind": "zendesk", "displayName": "Z", "baseUrl": "ftp://z.example"},
        ADMIN,
        ["baseUrl"],
        {
            "en": "must be an http(s) URL",
            "de": "muss eine http(s)-URL sein",
            "fr": "doit être une URL http(s)",
        },
    ),
    "routing": (
        "PUT",
        "/api/admin/routing",
        {"defaultQueue": "General", "defaultSkills": ["billing", " "]},
        ADMIN,
        ["defaultSkills"],
        {
            "en": "skill names cannot be empty",
            "de": "Skill-Namen dürfen nicht leer sein",
            "fr": "les noms de compétences ne peuvent pas être vides",
        },
    ),
    "tenant settings": (
        "PUT",
        "/api/admin/tenant",
        {"defaultRegion": "ZZ"},
        ADMIN,
        ["defaultRegion"],
        {
            "en": "'ZZ' is not a region with phone numbers (e.g. DE, FR, GB, US)",
            "de": "'ZZ' ist keine Region mit Telefonnummern (z. B. DE, FR, GB, US)",
            "fr": "'ZZ' n'est pas une région avec des numéros de téléphone "
            "(par ex. DE, FR, GB, US)",
        },
    ),
    "record policies": (
        "PUT",
        "/api/admin/policies/sales",
        {"titleTemplate": "{CALL_TYPE"},
        ADMIN,
        ["titleTemplate"],
        {
            "en": "unbalanced brace in the title template",
            "de": "unausgeglichene geschweifte Klammer in der Titelvorlage",
            "fr": "accolade non appariée dans le modèle de titre",
        },
    ),
    "data subjects": (
        "POST",
        "/api/admin/data-subjects/export",
        {},
        ADMIN,
        [],
        {
            "en": "give a phone, an email or a cardId",
            "de": "geben Sie phone, email oder cardId an",
            "fr": "indiquez phone, email ou cardId",
        },
    ),
    "caller lookup": (
        "POST",
        "/api/lookup",
        {"phone": "+15550100", "email": "a@example.com"},
        PLATFORM,
        [],
        {
            "en": "give exactly one of phone, email, accountNumber, caseNumber (got phone, email)",
            "de": "geben Sie genau eines von phone, email, accountNumber, caseNumber an "
            "(erhalten: phone, email)",
            "fr": "indiquez exactement un parmi phone, email, accountNumber, caseNumber "
            "(reçu : phone, email)",
        },
    ),
    "interaction events": (
        "POST",
        "/api/interactions",
        {**interaction_event("call-7", "assigned"), "customer": {"name": "Jane Roe"}},
        PLATFORM,
        [],
        {
            "en": "customer needs at least one of phone, email or handle",
            "de": "customer braucht mindestens phone, email oder handle",
            "fr": "customer demande au moins phone, email ou handle",
        },
    ),
}
DETAIL = {
    "crm configuration": {
        "de": "Die CRM-Konfiguration ist ungültig",
        "fr": "La configuration du CRM n'est pas valide",
    },
    "routing": {"de": "Die Routing-Regeln sind ungültig", "fr": "Les règles de routage"},
    "tenant settings": {"de": "Die Mandanteneinstellungen", "fr": "Les paramètres du locataire"},
    "record policies": {"de": "Die Regel zum Anlegen", "fr": "La règle de création"},
    "data subjects": {"de": "Die betroffene Person", "fr": "La personne concernée"},
    "caller lookup": {"de": "Die Anruferabfrage", "fr": "La recherche d'appelant"},
    "interaction events": {"de": "Das Interaktionsereignis", "fr": "L'événement d'interaction"},
}


@pytest.mark.parametrize("language", ["en", "de", "fr"])
@pytest.mark.parametrize("area", sorted(CASES))
async def test_a_models_own_rule_is_refused_in_the_readers_language(
    aiohttp_client: Callable[..., Any], settings: Settings, area: str, language: str
) -> None:
    client = await aiohttp_client(create_app(settings))
    method, path, body, headers, loc, says = CASES[area]
    response = await client.request(
        method, path, json=body, headers={**headers, "Accept-Language": f"{language};q=0.9"}
    )
    problem = await response.json()
    assert response.status == 422, problem
    [refused] = [e for e in problem["errors"] if e["type"] == "value_error"]
    assert (refused["loc"], refused["msg"]) == (loc, says[language])
    assert "Value error" not in problem["detail"]
    assert says[language] in problem["detail"]
    if language != "en":
        assert problem["detail"].startswith(DETAIL[area][language]), problem["detail"]
