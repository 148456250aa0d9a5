"""bench.crm_fanout's parts whose mistakes would not crash the bench but skew what it
reports: crmcard configured without JWT, its bot identity or the Blob store, requests
miscounted."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.crm_fanout import crmcard_settings, request_mix
from bench.production import APP_ID
from bot.settings import Settings, StoreKind

ISSUER = SimpleNamespace(
    metadata_url="http://127.0.0.1:1/.well-known/openid-configuration", issuer="https://issuer"
)
IDENTITY = {
    "MicrosoftAppPassword": "secret",
    "CRMCARD_BOT_LOGIN_URL": "https://127.0.0.1:2",
    "CRMCARD_BOT_LOGIN_ALLOW_LOCAL": "true",
}


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_crmcard_checks_inbound_tokens_against_the_local_issuer_on_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = "UseDevelopmentStorage=true"
    env = crmcard_settings(tmp_path, ISSUER, IDENTITY, [0, 6], blob, "c1")  # type: ignore[arg-type]
    settings = settings_of(env, monkeypatch)
    assert settings.authenticated and settings.app_id == APP_ID
    assert settings.app_type == "SingleTenant"
    assert settings.app_password.get_secret_value() == "secret"
    assert settings.bot_login_url == IDENTITY["CRMCARD_BOT_LOGIN_URL"]
    assert settings.openid_metadata_url == ISSUER.metadata_url
    assert settings.token_issuer == ISSUER.issuer
    assert settings.store is StoreKind.blob and settings.blob_container == "c1"
    assert not settings.demo_mode and not settings.uses_demo_crm
    assert set(settings.api_keys) == {"fanout-tenant-0", "fanout-tenant-6"}


def test_the_local_store_keeps_jwt_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = crmcard_settings(tmp_path, ISSUER, IDENTITY, [6], None)  # type: ignore[arg-type]
    settings = settings_of(env, monkeypatch)
    assert settings.authenticated and settings.store is StoreKind.local


def test_requests_per_card_by_method_with_the_failed_answers() -> None:
    answers = {"GET 200": 30, "GET 404": 10, "PUT 201": 20, "PUT 412": 1, "DELETE 202": 2}
    assert request_mix(answers, 10) == "GET 4.00 (404: 1.00), PUT 2.10 (412: 0.10), DELETE 0.20"
