"""build_client for the Zendesk, ServiceNow, Kustomer, Freshdesk and Oracle kinds."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from bot.adapters.crm import factory
from bot.adapters.crm.config import BuildContext
from bot.adapters.crm.factory import build_client
from bot.adapters.crm.vendor_builders import VENDOR_BUILDERS
from bot.domain.crm_config import CrmConfig, CrmKind
from bot.services.crm import CrmAuthError, SearchCriteria
from tests.crm.fakes.base import FakeCrm
from tests.crm.fakes.freshdesk import FreshdeskFake
from tests.crm.fakes.kustomer import KustomerFake
from tests.crm.fakes.oracle import OracleFake
from tests.crm.fakes.servicenow import ServiceNowFake
from tests.crm.fakes.zendesk import ZendeskFake

CASES: list[tuple[CrmKind, type[FakeCrm], dict[str, Any], str, str]] = [
    (
        CrmKind.ZENDESK,
        ZendeskFake,
        {"type": "api_key", "username": "agent@example.com"},
        "zd-api-token",
        "Basic ",
    ),
    (
        CrmKind.ZENDESK,
        ZendeskFake,
        {"type": "oauth_client_credentials", "token_url": "unused", "client_id": "zd-client"},
        "zd-secret",
        "Bearer ",
    ),
    (
        CrmKind.SERVICENOW,
        ServiceNowFake,
        {"type": "basic", "username": "integration"},
        "s3cret!",
        "Basic ",
    ),
    (
        CrmKind.SERVICENOW,
        ServiceNowFake,
        {"type": "oauth_client_credentials", "token_url": "unused", "client_id": "sn-client"},
        "sn-secret",
        "Bearer ",
    ),
    (CrmKind.KUSTOMER, KustomerFake, {"type": "api_key"}, "kust-api-key", "Bearer "),
    (CrmKind.FRESHDESK, FreshdeskFake, {"type": "api_key"}, "fd-api-key", "Basic "),
    (CrmKind.ORACLE, OracleFake, {"type": "basic", "username": "api_user"}, "0racle!", "Basic "),
]


@pytest.mark.parametrize(("kind", "fake_type", "auth", "secret", "scheme"), CASES)
async def test_build_client_for_vendor_kinds(
    aiohttp_server, session, kind, fake_type, auth, secret, scheme
):
    assert kind in VENDOR_BUILDERS
    fake = fake_type()
    server = await aiohttp_server(fake.app)
    config = CrmConfig(
        settings_id="s1",
        tenant_id="t1",
        kind=kind,
        display_name=f"My {kind.value}",
        base_url=str(server.make_url("")),
        auth=auth,
    )
    ctx = BuildContext(session=session, secret=SecretStr(secret), token_cache_hooks=None)
    client = factory.BUILDERS[kind](config, ctx)
    assert client.settings_id == "s1" and client.display_name == f"My {kind.value}"
    records = await client.search(SearchCriteria(phones=["+14155550100"]))
    assert [r.title for r in records if r.ref.type == "contact"] == ["Jane Doe"]
    data_requests = [r for r in fake.requests if "oauth" not in r.path]
    assert data_requests[-1].headers["Authorization"].startswith(scheme)


async def test_the_factory_builds_vendor_kinds(session):
    config = CrmConfig(
        settings_id="s1",
        tenant_id="t1",
        kind=CrmKind.FRESHDESK,
        display_name="FD",
        base_url="https://acme.freshdesk.com",
        auth={"type": "api_key"},
    )
    client = build_client(config, session=session, secret=SecretStr("k"))
    assert client.display_name == "FD"
    with pytest.raises(CrmAuthError, match="no credentials"):
        build_client(config, session=session)
    wrong = CrmConfig.model_validate(
        {**config.model_dump(), "auth": {"type": "basic", "username": "u"}}
    )
    with pytest.raises(CrmAuthError, match="needs an API key"):
        build_client(wrong, session=session, secret=SecretStr("k"))
