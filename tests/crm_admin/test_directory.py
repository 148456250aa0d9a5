"""StoreDirectory: per-tenant clients from stored configurations, cached per version."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from bot.adapters.crm.demo import DemoCrm
from bot.adapters.crm.directory import BrokenCrm, StoreDirectory
from bot.adapters.crm.factory import build_client
from bot.adapters.crm.mapped import MappedCrm
from bot.domain.crm_config import CrmConfig
from bot.services.audit import Actor, Door
from bot.services.crm import CrmAuthError, CrmClient, SearchCriteria
from bot.services.crm_configs import CrmConfigs, parse_config


def demo_config(tenant: str, settings_id: str, **extra: Any) -> CrmConfig:
    return parse_config(
        tenant,
        {
            "settingsId": settings_id,
            "kind": "demo",
            "displayName": f"Demo {settings_id}",
            **extra,
        },
    )


class CountingBuilder:
    def __init__(self) -> None:
        self.built: list[tuple[str, str]] = []

    def __call__(self, config: CrmConfig, **kwargs: Any) -> CrmClient:
        self.built.append((config.tenant_id, config.settings_id))
        return build_client(config, **kwargs)


@pytest.fixture
async def directory(configs: CrmConfigs):
    directory = StoreDirectory(configs, build=CountingBuilder(), list_ttl=60)
    yield directory
    await directory.close()


async def test_each_tenant_gets_its_own_crms(configs: CrmConfigs, directory: StoreDirectory):
    await configs.create(demo_config("t1", "a"), Actor("admin", Door.cli))
    await configs.create(demo_config("t1", "b"), Actor("admin", Door.cli))
    await configs.create(demo_config("t2", "c"), Actor("admin", Door.cli))
    assert [c.settings_id for c in await directory.clients("t1")] == ["a", "b"]
    assert [c.settings_id for c in await directory.clients("t2")] == ["c"]
    assert await directory.clients("t3") == []


async def test_clients_are_cached_per_config_version(
    configs: CrmConfigs, directory: StoreDirectory
):
    builder = directory.build
    assert isinstance(builder, CountingBuilder)
    await configs.create(demo_config("t1", "a"), Actor("admin", Door.cli))
    await configs.create(demo_config("t1", "b"), Actor("admin", Door.cli))
    first = await directory.clients("t1")
    directory.forget("t1")  # even with the list re-read, unchanged configs are not rebuilt
    second = await directory.clients("t1")
    assert [id(c) for c in first] == [id(c) for c in second]
    assert builder.built == [("t1", "a"), ("t1", "b")]

    await configs.update(
        "t1", "a", {"displayName": "Renamed"}, Actor("admin", Door.cli)
    )  # forgets the list
    third = await directory.clients("t1")
    assert third[0] is not first[0] and third[1] is first[1]
    assert builder.built[-1] == ("t1", "a")
    assert directory.session is directory.session  # one shared session


async def test_calls_waiting_for_the_list_use_the_one_listed_meanwhile(
    configs: CrmConfigs, directory: StoreDirectory
):
    await configs.create(demo_config("t1", "a"), Actor("admin", Door.cli))
    listed: list[str] = []
    real_list = configs.list

    async def counted(tenant_id: str) -> Any:
        listed.append(tenant_id)
        return await real_list(tenant_id)

    configs.list = counted  # type: ignore[method-assign]
    found = await asyncio.gather(*(directory.clients("t1") for _ in range(20)))
    assert {tuple(c.settings_id for c in clients) for clients in found} == {("a",)}
    assert listed == ["t1"]


async def test_no_cookie_a_crm_sets_is_ever_sent_back(
    configs: CrmConfigs, aiohttp_server: Callable[..., Any]
):
    """One session serves every tenant: a session cookie one tenant's CRM set (ServiceNow's
    JSESSIONID) must not ride along on another tenant's call to the same host."""
    sent: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        sent.append(request.headers.get("Cookie"))
        response = web.json_response({"result": []})
        response.set_cookie("JSESSIONID", "tenant-a-session")
        return response

    app = web.Application()
    app.router.add_get("/api/now/table/sys_user", answer)
    server = await aiohttp_server(app)
    directory = StoreDirectory(configs)
    try:
        for _ in range(2):
            # a host name: cookie jars keep no cookies of bare IP addresses
            url = server.make_url("/api/now/table/sys_user").with_host("localhost")
            async with directory.session.get(url) as response:
                assert response.status == 200
    finally:
        await directory.close()
    assert sent == [None, None]


async def test_disabled_and_deleted_configs_are_not_used(
    configs: CrmConfigs, directory: StoreDirectory
):
    await configs.create(demo_config("t1", "a"), Actor("admin", Door.cli))
    await configs.create(demo_config("t1", "b"), Actor("admin", Door.cli))
    assert len(await directory.clients("t1")) == 2
    await configs.disable("t1", "a", Actor("admin", Door.cli))
    assert [c.settings_id for c in await directory.clients("t1")] == ["b"]
    await configs.delete("t1", "b", Actor("admin", Door.cli))
    assert await directory.clients("t1") == []
    await configs.set_enabled("t1", "a", True, Actor("admin", Door.cli))
    assert [c.settings_id for c in await directory.clients("t1")] == ["a"]


async def test_demo_crm_is_added_unless_a_config_takes_its_id(configs: CrmConfigs):
    demo = DemoCrm()
    directory = StoreDirectory(configs, always=[demo])
    try:
        assert await directory.clients("t1") == [demo]
        await configs.create(demo_config("t1", "zd-like"), Actor("admin", Door.cli))
        assert [c.settings_id for c in await directory.clients("t1")] == ["demo", "zd-like"]
        await configs.create(demo_config("t2", "demo", fieldMappings=[]), Actor("admin", Door.cli))
        [only] = await directory.clients("t2")
        assert only is not demo and only.display_name == "Demo CRM"
    finally:
        await directory.close()
    assert directory._session is None


async def test_a_config_without_credentials_becomes_a_problem_not_a_crash(
    configs: CrmConfigs, directory: StoreDirectory
):
    config = parse_config(
        "t1",
        {
            "settingsId": "zd",
            "kind": "zendesk",
            "displayName": "Zendesk",
            "baseUrl": "https://acme.zendesk.com",
            "auth": {"type": "api_key", "username": "a@b.c"},
        },
    )
    await configs.create(config, Actor("admin", Door.cli))
    [client] = await directory.clients("t1")
    assert isinstance(client, BrokenCrm)
    with pytest.raises(CrmAuthError, match="no credentials"):
        await client.search(SearchCriteria(phones=["+15550100"]))


async def test_mapped_configs_fill_card_fields(configs: CrmConfigs, directory: StoreDirectory):
    mappings = [
        {"crmField": "contact.title", "cardField": "Job title"},
        {"crmField": "language", "cardField": "Speaks"},
        {"crmField": "account.tier", "cardField": "Tier"},
    ]
    await configs.create(demo_config("t1", "a", fieldMappings=mappings), Actor("admin", Door.cli))
    [client] = await directory.clients("t1")
    assert isinstance(client, MappedCrm)
    records = await client.search(SearchCriteria(phones=["+15550100"]))
    by_type = {r.ref.type: r for r in records}
    assert by_type["contact"].card_fields == {"Job title": "Heir apparent", "Speaks": "English"}
    assert by_type["account"].card_fields == {"Tier": "Gold"}


async def test_vendor_custom_fields_reach_the_card_fields(
    aiohttp_server: Any, configs: CrmConfigs, directory: StoreDirectory
):
    from tests.crm.fakes.zendesk import ZendeskFake

    fake = ZendeskFake()
    server = await aiohttp_server(fake.app)
    user = fake.add_user("Edward Ferrars", "edward@zd.example", "+15550100")
    user["user_fields"] = {"vip_level": "Gold", "empty": None}
    user["time_zone"] = "London"
    config = parse_config(
        "t1",
        {
            "settingsId": "zd",
            "kind": "zendesk",
            "displayName": "Zendesk",
            "baseUrl": str(server.make_url("")).rstrip("/"),
            "auth": {"type": "api_key", "username": "agent@example.com"},
            "secret": "zd-api-token",
            "fieldMappings": [
                {"crmField": "contact.vip_level", "cardField": "VIP"},
                {"crmField": "time_zone", "cardField": "Time zone"},
                {"crmField": "empty", "cardField": "Empty"},
            ],
        },
    )
    await configs.create(config, Actor("admin", Door.cli))
    [client] = await directory.clients("t1")
    [edward] = [
        r
        for r in await client.search(SearchCriteria(phones=["+15550100"]))
        if r.ref.type == "contact"
    ]
    assert edward.card_fields == {"VIP": "Gold", "Time zone": "London"}
