"""CRM configurations in the store: CRUD, audit, sealed secrets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.adapters.crm.config import CrmConfig, CrmKind
from bot.adapters.storage.local import LocalStore
from bot.services import keys
from bot.services.crm_configs import (
    ConfigExists,
    ConfigInvalid,
    ConfigNotFound,
    CrmConfigs,
    parse_config,
)

SECRET = "s3cr3t-zendesk-token-value"


def zendesk(tenant: str = "t1", settings_id: str = "zd") -> CrmConfig:
    return parse_config(
        tenant,
        {
            "settings_id": settings_id,
            "kind": "zendesk",
            "display_name": "Zendesk",
            "base_url": "https://acme.zendesk.com",
            "auth": {"type": "api_key", "username": "agent@acme.example"},
            "secret": SECRET,
        },
    )


async def all_documents(store: LocalStore) -> bytes:
    data = b""
    async for key in store.keys("tenants/"):
        document = await store.read(key)
        assert document is not None
        data += key.encode() + b"\n" + document.data + b"\n"
    return data


async def test_create_list_get_update_disable_delete(configs: CrmConfigs):
    created = await configs.create(zendesk(), "alice")
    assert created.version == 1 and created.has_secret
    assert [s.config.settings_id for s in await configs.list("t1")] == ["zd"]
    assert await configs.list("t2") == []

    changed = await configs.update("t1", "zd", {"display_name": "Zendesk EU"}, "bob")
    assert changed.config.display_name == "Zendesk EU" and changed.version == 2
    assert configs.secret_of(changed) == SecretStr(SECRET)  # the secret survives a change

    disabled = await configs.disable("t1", "zd", "bob")
    assert not disabled.config.enabled and disabled.version == 3
    again = await configs.disable("t1", "zd", "bob")  # no change, no new version or audit
    assert again.version == 3

    await configs.delete("t1", "zd", "carol")
    assert await configs.get("t1", "zd") is None
    with pytest.raises(ConfigNotFound):
        await configs.delete("t1", "zd", "carol")

    audit = await configs.audit_log("t1")
    assert [(e.action, e.actor) for e in audit] == [
        ("create", "alice"),
        ("update", "bob"),
        ("disable", "bob"),
        ("delete", "carol"),
    ]
    assert audit[1].changes == {"display_name": {"from": "Zendesk", "to": "Zendesk EU"}}
    assert audit[2].changes == {"enabled": {"from": True, "to": False}}
    assert audit[0].changes["secret"] == {"from": None, "to": "***"}


async def test_secret_sealed_in_store_and_audit(configs: CrmConfigs, store: LocalStore):
    stored = await configs.create(zendesk(), "alice")
    await configs.rotate_secret("t1", "zd", SecretStr("n3w-" + SECRET), "alice")
    data = await all_documents(store)
    assert SECRET.encode() not in data
    assert b"n3w-" not in data
    assert SECRET not in str(stored.public())
    [_, rotation] = await configs.audit_log("t1")
    assert rotation.action == "rotate-secret"
    assert rotation.changes == {"secret": {"from": "***", "to": "***"}}
    current = await configs.require("t1", "zd")
    assert configs.secret_of(current) == SecretStr("n3w-" + SECRET)
    assert current.version == 2


async def test_sealed_secret_does_not_open_under_another_tenant(
    configs: CrmConfigs, store: LocalStore
):
    await configs.create(zendesk("t1"), "alice")
    document = await store.read(keys.crm_config("t1", "zd"))
    assert document is not None
    forged = document.data.replace(b'"tenant_id":"t1"', b'"tenant_id":"t2"')
    await store.create(keys.crm_config("t2", "zd"), forged)
    stolen = await configs.require("t2", "zd")
    from bot.services.secret_box import SecretBoxError

    with pytest.raises(SecretBoxError):
        configs.secret_of(stolen)


async def test_validation_and_conflicts(configs: CrmConfigs):
    with pytest.raises(ConfigInvalid) as invalid:
        parse_config("t1", {"settings_id": "bad id!", "kind": "nope", "display_name": ""})
    assert {d["loc"][0] for d in invalid.value.field_errors} >= {
        "settings_id",
        "kind",
        "display_name",
    }
    with pytest.raises(ConfigInvalid):  # the body cannot name another tenant
        parse_config("t1", {**zendesk().model_dump(), "tenant_id": "t2"})
    await configs.create(zendesk(), "alice")
    with pytest.raises(ConfigExists):
        await configs.create(zendesk(), "alice")
    with pytest.raises(ConfigInvalid):
        await configs.update("t1", "zd", {"base_url": "ftp://nope"}, "bob")
    with pytest.raises(ConfigInvalid):
        await configs.update("t1", "zd", {"secret": "x"}, "bob")
    with pytest.raises(ConfigInvalid):
        await configs.update("t1", "zd", {"settings_id": "other"}, "bob")
    with pytest.raises(ConfigNotFound):
        await configs.update("t1", "nope", {"display_name": "x"}, "bob")
    assert (await configs.require("t1", "zd")).version == 1
    assert (await configs.require("t1", "zd")).config.kind == CrmKind.ZENDESK


async def test_secrets_never_reach_the_logs(configs: CrmConfigs, caplog: pytest.LogCaptureFixture):
    caplog.set_level("DEBUG")
    await configs.create(zendesk(), "alice")
    await configs.rotate_secret("t1", "zd", SecretStr("n3w-" + SECRET), "alice")
    await configs.update("t1", "zd", {"display_name": "Zendesk 2"}, "alice")
    assert caplog.records  # changes are logged...
    assert SECRET not in caplog.text  # ...without the secret
    assert repr(zendesk()).count(SECRET) == 0
