"""CRM configuration models and the client factory, end to end against the fakes."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import SecretStr, ValidationError

from bot.adapters.crm.dynamics import DynamicsClient
from bot.adapters.crm.factory import build_client
from bot.adapters.crm.salesforce import SalesforceClient
from bot.domain.crm_config import (
    CrmConfig,
    CrmKind,
    EntraClientCredentialsAuth,
    FieldMapping,
    SalesforceJwtAuth,
)
from bot.domain.records import RecordRef
from bot.services.crm import CrmAuthError, NotSupported, SearchCriteria
from tests.crm.conftest import MemoryCacheHooks, RsaKeys, ServerFactory, Tls
from tests.crm.fakes.dynamics import FakeDataverse
from tests.crm.fakes.entra import FakeEntra
from tests.crm.fakes.salesforce import FakeSalesforce


def test_secret_never_serialised_or_shown():
    config = CrmConfig(
        settings_id="sf-main",
        tenant_id="t1",
        kind=CrmKind.SALESFORCE,
        display_name="Acme Salesforce",
        base_url="https://acme.my.salesforce.com/",
        auth=SalesforceJwtAuth(client_id="ck", username="u@acme.example"),
        secret=SecretStr("-----BEGIN PRIVATE KEY-----"),
        field_mappings=[FieldMapping(crm_field="Contact.Title", card_field="Job title")],
    )
    dumped = config.model_dump(mode="json")
    assert "secret" not in dumped and "PRIVATE" not in repr(config)
    assert dumped["base_url"] == "https://acme.my.salesforce.com"
    assert dumped["auth"]["type"] == "salesforce_jwt"
    restored = CrmConfig.model_validate(dumped)
    assert restored.secret is None and restored.auth == config.auth
    assert config.mappings == {"Contact.Title": "Job title"}


def test_validation():
    with pytest.raises(ValidationError):
        CrmConfig(settings_id="bad id!", tenant_id="t", kind="salesforce", display_name="x")
    with pytest.raises(ValidationError):
        CrmConfig(settings_id="a", tenant_id="t", kind="nosuchcrm", display_name="x")
    with pytest.raises(ValidationError):
        CrmConfig(settings_id="a", tenant_id="t", kind="rest", display_name="x", base_url="ftp://x")
    config = CrmConfig.model_validate(
        {
            "settings_id": "a",
            "tenant_id": "t",
            "kind": "zendesk",
            "display_name": "Z",
            "auth": {"type": "api_key", "username": "agent@x.example/token"},
        }
    )
    assert config.auth is not None and config.auth.type == "api_key"


async def test_incomplete_disabled_and_missing_secret(session: aiohttp.ClientSession):
    base = {"settings_id": "a", "tenant_id": "t", "display_name": "X"}
    with pytest.raises(CrmAuthError, match="REST endpoints are not configured"):
        build_client(
            CrmConfig(kind=CrmKind.REST, base_url="https://crm.example.com", **base),
            session=session,
        )
    with pytest.raises(NotSupported, match="disabled"):
        build_client(CrmConfig(kind=CrmKind.SALESFORCE, enabled=False, **base), session=session)
    with pytest.raises(CrmAuthError):
        build_client(
            CrmConfig(
                kind=CrmKind.SALESFORCE, auth=SalesforceJwtAuth(client_id="c", username="u"), **base
            ),
            session=session,
        )
    demo = build_client(CrmConfig(kind=CrmKind.DEMO, **base), session=session)
    assert demo.settings_id == "a"


async def test_builds_a_working_salesforce_client(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession, rsa_keys: RsaKeys
):
    fake = FakeSalesforce(public_key_pem=rsa_keys.public_pem)
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    jane = fake.add(
        "Contact", FirstName="Jane", LastName="Doe", Title="CTO", Email="jane@acme.example"
    )
    config = CrmConfig(
        settings_id="sf-main",
        tenant_id="t1",
        kind=CrmKind.SALESFORCE,
        display_name="Acme Salesforce",
        auth=SalesforceJwtAuth(
            login_url=fake.base_url, client_id=fake.client_id, username="integration@acme.example"
        ),
        field_mappings=[FieldMapping(crm_field="Contact.Title", card_field="Job title")],
    )
    client = build_client(config, session=session, secret=SecretStr(rsa_keys.private_pem))
    assert isinstance(client, SalesforceClient)
    [found] = await client.search(SearchCriteria(emails=["jane@acme.example"]))
    assert found.ref == RecordRef(crm="sf-main", type="contact", id=jane)
    assert found.fields["Job title"] == "CTO"


async def test_builds_a_working_dynamics_client_with_persisted_token_cache(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    entra: FakeEntra,
    tls: Tls,
    cache_hooks: MemoryCacheHooks,
):
    fake = FakeDataverse(entra=entra)
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    acme = fake.add("accounts", name="Acme Corp", address1_city="Seattle")
    config = CrmConfig(
        settings_id="d365",
        tenant_id="t1",
        kind=CrmKind.DYNAMICS,
        display_name="Contoso",
        base_url=fake.base_url,
        auth=EntraClientCredentialsAuth(
            directory_tenant_id=entra.tenant,
            client_id="app-id",
            authority_host=entra.base_url,
            instance_discovery=False,
        ),
        secret=SecretStr("app-secret"),
        field_mappings=[FieldMapping(crm_field="address1_city", card_field="City")],
    )
    for _ in range(2):  # a restart: the second client reuses the persisted MSAL cache
        client = build_client(
            config, session=session, token_cache_hooks=cache_hooks, tls_verify=tls.ca_file
        )
        assert isinstance(client, DynamicsClient)
        record = await client.get(RecordRef(crm="d365", type="account", id=acme))
        assert record.fields["City"] == "Seattle"
    assert list(cache_hooks.blobs) == ["t1/d365/msal"]
    assert len(entra.issued) == 1


async def test_salesforce_task_external_id_field_comes_from_the_configuration(
    session: aiohttp.ClientSession, rsa_keys: RsaKeys
):
    config = CrmConfig(
        settings_id="sf",
        tenant_id="t",
        kind=CrmKind.SALESFORCE,
        display_name="SF",
        base_url="https://acme.my.salesforce.com",
        auth=SalesforceJwtAuth(client_id="c", username="u"),
        task_external_id_field="Crmcard_Key__c",
    )
    client = build_client(config, session=session, secret=SecretStr(rsa_keys.private_pem))
    assert isinstance(client, SalesforceClient)
    assert client.task_external_id_field == "Crmcard_Key__c"
    with pytest.raises(ValueError):
        CrmConfig(**{**config.model_dump(), "task_external_id_field": "bad name!"})
