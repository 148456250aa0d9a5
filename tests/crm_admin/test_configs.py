"""CRM configurations in the store: CRUD, audit, sealed secrets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.adapters.storage.local import LocalStore
from bot.domain.crm_config import CrmConfig, CrmKind
from bot.services import audit, keys
from bot.services.audit import Actor, Door
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
            "settingsId": settings_id,
            "kind": "zendesk",
            "displayName": "Zendesk",
            "baseUrl": "https://acme.zendesk.com",
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
    created = await configs.create(zendesk(), Actor("alice", Door.cli))
    assert created.version == 1 and created.has_secret
    assert [s.config.settings_id for s in await configs.list("t1")] == ["zd"]
    assert await configs.list("t2") == []

    changed = await configs.update(
        "t1", "zd", {"displayName": "Zendesk EU"}, Actor("bob", Door.cli)
    )
    assert changed.config.display_name == "Zendesk EU" and changed.version == 2
    assert configs.secret_of(changed) == SecretStr(SECRET)  # the secret survives a change

    disabled = await configs.disable("t1", "zd", Actor("bob", Door.cli))
    assert not disabled.config.enabled and disabled.version == 3
    again = await configs.disable(
        "t1", "zd", Actor("bob", Door.cli)
    )  # no change, no new version or audit
    assert again.version == 3

    await configs.delete("t1", "zd", Actor("carol", Door.cli))
    assert await configs.get("t1", "zd") is None
    with pytest.raises(ConfigNotFound):
        await configs.delete("t1", "zd", Actor("carol", Door.cli))

    entries = await audit.query(configs.store, "t1")
    assert [(e.kind, e.actor, e.door, e.target) for e in entries] == [
        ("crm.create", "alice", Door.cli, "zd"),
        ("crm.update", "bob", Door.cli, "zd"),
        ("crm.disable", "bob", Door.cli, "zd"),
        ("crm.delete", "carol", Door.cli, "zd"),
    ]
    create, update, disable, delete = entries
    assert create.before is None and create.after["secret"] == "***"
    assert (update.before["displayName"], update.after["displayName"]) == (
        "Zendesk",
        "Zendesk EU",
    )
    assert (disable.before["enabled"], disable.after["enabled"]) == (True, False)
    assert delete.before["version"] == 3 and delete.after is None
    assert await audit.query(configs.store, "t2") == []


async def test_secret_sealed_in_store_and_audit(configs: CrmConfigs, store: LocalStore):
    stored = await configs.create(zendesk(), Actor("alice", Door.cli))
    await configs.rotate_secret("t1", "zd", SecretStr("n3w-" + SECRET), Actor("alice", Door.cli))
    data = await all_documents(store)
    assert SECRET.encode() not in data
    assert b"n3w-" not in data
    assert SECRET not in str(stored.public())
    [_, rotation] = await audit.query(configs.store, "t1")
    assert rotation.kind == "crm.rotateSecret"
    assert rotation.before["secret"] == rotation.after["secret"] == "***"
    assert rotation.before["version"] == 1 and rotation.after["version"] == 2
    current = await configs.require("t1", "zd")
    assert configs.secret_of(current) == SecretStr("n3w-" + SECRET)
    assert current.version == 2


async def test_sealed_secret_does_not_open_under_another_tenant(
    configs: CrmConfigs, store: LocalStore
):
    await configs.create(zendesk("t1"), Actor("alice", Door.cli))
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
        parse_config("t1", {"settingsId": "bad id!", "kind": "nope", "displayName": ""})
    assert {d["loc"][0] for d in invalid.value.field_errors} >= {
        "settingsId",
        "kind",
        "displayName",
    }
    with pytest.raises(ConfigInvalid):  # the body cannot name another tenant
        parse_config("t1", {**zendesk().model_dump(by_alias=True), "tenantId": "t2"})
    await configs.create(zendesk(), Actor("alice", Door.cli))
    with pytest.raises(ConfigExists):
        await configs.create(zendesk(), Actor("alice", Door.cli))
    with pytest.raises(ConfigInvalid):
        await configs.update("t1", "zd", {"baseUrl": "ftp://nope"}, Actor("bob", Door.cli))
    with pytest.raises(ConfigInvalid) as moved:  # a new host needs the secret again
        await configs.update(
            "t1", "zd", {"baseUrl": "https://evil.zendesk.com"}, Actor("bob", Door.cli)
        )
    assert moved.value.field_errors[0]["loc"] == ["secret"]
    with pytest.raises(ConfigInvalid):
        await configs.update("t1", "zd", {"settingsId": "other"}, Actor("bob", Door.cli))
    with pytest.raises(ConfigNotFound):
        await configs.update("t1", "nope", {"displayName": "x"}, Actor("bob", Door.cli))
    assert (await configs.require("t1", "zd")).version == 1
    assert (await configs.require("t1", "zd")).config.kind == CrmKind.ZENDESK


async def test_secrets_never_reach_the_logs(configs: CrmConfigs, caplog: pytest.LogCaptureFixture):
    caplog.set_level("DEBUG")
    await configs.create(zendesk(), Actor("alice", Door.cli))
    await configs.rotate_secret("t1", "zd", SecretStr("n3w-" + SECRET), Actor("alice", Door.cli))
    await configs.update("t1", "zd", {"displayName": "Zendesk 2"}, Actor("alice", Door.cli))
    assert caplog.records  # changes are logged...
    assert SECRET not in caplog.text  # ...without the secret
    assert repr(zendesk()).count(SECRET) == 0
