"""The optional ticket database (``infra/ticket-database.json``) and how the main template
points the app at it: Entra-only PostgreSQL, the managed identity as its administrator."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, TicketStoreKind
from tests.infra.test_azuredeploy import (
    FAKE_PRINCIPAL_ID,
    FAKE_TENANT,
    INFRA,
    PARAMETER_VALUES,
    TEMPLATE_PATH,
    Arm,
)

DATABASE = INFRA / "ticket-database.json"


@pytest.fixture(scope="module")
def database() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DATABASE.read_text(encoding="utf-8"))
    return loaded


def evaluate(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    arm = Arm(template, parameters)
    return {
        "resources": {r["type"]: arm.value(r) for r in template["resources"]},
        "outputs": {n: arm.value(o["value"]) for n, o in template.get("outputs", {}).items()},
    }


def test_the_server_takes_entra_sign_ins_only(database: dict[str, Any]) -> None:
    deployed = evaluate(
        database, {"identityName": "crmcard-id-x", "identityPrincipalId": FAKE_PRINCIPAL_ID}
    )
    resources = deployed["resources"]
    server = resources["Microsoft.DBforPostgreSQL/flexibleServers"]
    auth = server["properties"]["authConfig"]
    assert (auth["activeDirectoryAuth"], auth["passwordAuth"]) == ("Enabled", "Disabled")
    assert auth["tenantId"] == FAKE_TENANT
    assert int(server["properties"]["version"]) >= 12  # websearch/plainto_tsquery, GIN
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", server["name"]), server["name"]
    admin = resources["Microsoft.DBforPostgreSQL/flexibleServers/administrators"]
    assert admin["name"] == f"{server['name']}/{FAKE_PRINCIPAL_ID}"
    assert admin["properties"]["principalType"] == "ServicePrincipal"
    assert admin["properties"]["principalName"] == "crmcard-id-x"
    db = resources["Microsoft.DBforPostgreSQL/flexibleServers/databases"]
    assert db["name"] == f"{server['name']}/crmcard"
    assert deployed["outputs"]["serverName"] == server["name"]
    # no secret anywhere: nothing to rotate
    for definition in database["parameters"].values():
        assert not definition["type"].lower().startswith("secure")
        assert definition.get("metadata", {}).get("description")
    # every parameter is used
    text = json.dumps([database["variables"], database["resources"], database["outputs"]])
    assert set(re.findall(r"parameters\('([^']+)'\)", text)) == set(database["parameters"])


def _app_settings(
    parameters: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Settings:
    template = json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))
    arm = Arm(template, {**PARAMETER_VALUES, **parameters})
    site = next(r for r in template["resources"] if r["type"] == "Microsoft.Web/sites")
    entries = arm.value(site["properties"]["siteConfig"]["appSettings"])
    for name in list(os.environ):
        if name.upper().startswith(("CRMCARD_", "MICROSOFTAPP")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for entry in entries:
        monkeypatch.setenv(entry["name"], entry["value"])
    return Settings(_env_file=None)


def test_the_app_uses_the_server_as_its_managed_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = _app_settings({"ticketPostgresServer": "crmcard-tickets-abc"}, monkeypatch, tmp_path)
    assert settings.ticket_store is TicketStoreKind.postgres
    assert settings.ticket_postgres_entra is True
    dsn = settings.ticket_postgres_dsn.get_secret_value()
    assert re.fullmatch(
        r"postgresql://crmcard-id-\w+@crmcard-tickets-abc\.postgres\.database\.azure\.com:5432"
        r"/crmcard\?sslmode=require",
        dsn,
    ), dsn


def test_without_the_server_each_instance_keeps_sqlite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = _app_settings({}, monkeypatch, tmp_path)
    assert settings.ticket_store is TicketStoreKind.sqlite
    assert settings.ticket_postgres_entra is False
    assert settings.ticket_postgres_dsn.get_secret_value() == ""
