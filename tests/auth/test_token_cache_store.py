"""MSAL token caches sealed in the store, and the deployment key that seals them.

MSAL talks to a local Entra authority over real HTTPS (``tests.crm.fakes.entra``). Two
instances share one SQLite store: the second reuses the first one's token without asking
Entra. What is stored is sealed: no token, no secret in the clear, and a blob moved to
another tenant's key (or opened with another key) is an empty cache, not an error.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from bot.adapters.crm.tokens import MsalClientCredentials, MsalSettings
from bot.adapters.storage.local import LocalStore
from bot.adapters.storage.secret_key import MissingSecretKey, secret_box
from bot.adapters.storage.token_caches import StoreTokenCaches
from bot.services import keys
from bot.services.secret_box import SecretBox
from bot.settings import Settings, StoreKind
from bot.web.app import create_app
from tests.crm.conftest import Tls
from tests.crm.fakes.entra import FakeEntra

SCOPE = "https://contoso.crm.dynamics.com/.default"
TENANT = "tenant-a"


def msal(entra: FakeEntra, tls: Tls) -> MsalSettings:
    return MsalSettings(
        client_id="app-id",
        client_secret="app-secret",
        authority=entra.authority,
        scopes=(SCOPE,),
        instance_discovery=False,
        verify=tls.ca_file,
    )


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **overrides)  # type: ignore[call-arg]


async def test_a_second_instance_reuses_the_token_from_the_store(
    tmp_path: Path, entra: FakeEntra, tls: Tls
) -> None:
    config = settings(tmp_path)
    first_store = LocalStore(tmp_path / "shared.sqlite3")
    second_store = LocalStore(tmp_path / "shared.sqlite3")
    try:
        first = MsalClientCredentials(
            msal(entra, tls),
            cache_hooks=StoreTokenCaches(first_store, secret_box(config), TENANT),
            cache_key="tenant-a/d365/msal",
        )
        token = await first.token()
        assert len(entra.token_requests()) == 1

        # another process: its own store connection, the key read back from the data dir
        second = MsalClientCredentials(
            msal(entra, tls),
            cache_hooks=StoreTokenCaches(second_store, secret_box(config), TENANT),
            cache_key="tenant-a/d365/msal",
        )
        assert (await second.token()).value == token.value
        assert len(entra.token_requests()) == 1, "the second instance did not sign in again"

        [key] = [key async for key in first_store.keys("")]
        assert key.startswith(f"tenants/{TENANT}/token-caches/")
        document = await first_store.read(key)
        assert document is not None
        assert token.value.encode() not in document.data
        assert b"app-secret" not in document.data
        assert b"tenant-a/d365/msal" not in key.encode()
    finally:
        await first_store.close()
        await second_store.close()


async def test_a_cache_moved_to_another_tenant_or_key_does_not_open(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s.sqlite3")
    box = SecretBox.from_setting(SecretBox.new_key())
    try:
        tenant_a = StoreTokenCaches(store, box, "tenant-a")
        await tenant_a.save("msal", '{"AccessToken": {}}')
        assert await tenant_a.load("msal") == '{"AccessToken": {}}'
        await tenant_a.save("msal", '{"AccessToken": {"x": {}}}')  # replaced, not duplicated
        assert await tenant_a.load("msal") == '{"AccessToken": {"x": {}}}'

        tenant_b = StoreTokenCaches(store, box, "tenant-b")
        assert await tenant_b.load("msal") is None
        stolen = await store.read(tenant_a.document_key("msal"))
        assert stolen is not None
        await store.create(tenant_b.document_key("msal"), stolen.data)
        assert await tenant_b.load("msal") is None, "sealed for tenant A's key only"

        other_key = StoreTokenCaches(store, SecretBox.from_setting(SecretBox.new_key()), "tenant-a")
        assert await other_key.load("msal") is None
    finally:
        await store.close()


def test_embedded_store_generates_a_private_key_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings(tmp_path)
    with caplog.at_level(logging.WARNING):
        box = secret_box(config)
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "generated a secret key" in caplog.text
    assert str(path) in caplog.text
    caplog.clear()
    again = secret_box(config)
    assert "generated" not in caplog.text
    assert again.open(box.seal(b"x", "k"), "k") == b"x", "the same key after a restart"


def test_configured_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    key = SecretBox.new_key()
    box = secret_box(settings(tmp_path, secret_key=key))
    assert SecretBox.from_setting(key).open(box.seal(b"x", "k"), "k") == b"x"
    assert not (tmp_path / "data" / "secret.key").exists()
    with pytest.raises(MissingSecretKey, match="not usable"):
        secret_box(settings(tmp_path, secret_key="too-short"))


def test_blob_store_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    config = settings(
        tmp_path, store=StoreKind.blob, blob_connection_string="UseDevelopmentStorage=true"
    )
    with pytest.raises(
        MissingSecretKey, match="CRMCARD_SECRET_KEY is required with the Blob store"
    ):
        secret_box(config)
    with pytest.raises(MissingSecretKey):
        create_app(config, store=LocalStore(tmp_path / "unused.sqlite3"))
    assert not (tmp_path / "data" / "secret.key").exists()


def test_token_cache_keys_start_with_the_tenant() -> None:
    assert keys.token_cache("t/1", "abc") == "tenants/t%2F1/token-caches/abc"
