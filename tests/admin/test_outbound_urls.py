"""Where a CRM configuration may point: https only, vendor kinds on their documented
domains, generic REST on public hosts (checked after DNS resolution and again for every
socket, so DNS rebinding gains nothing), the operator's allowance for local fakes, and a
changed endpoint needs the secret again."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from bot.adapters.crm.directory import StoreDirectory
from bot.adapters.storage.local import LocalStore
from bot.services.audit import Actor, Door
from bot.services.crm_configs import ConfigInvalid, CrmConfigs, parse_config
from bot.services.crm_url_policy import RefusedAddress, UrlPolicy, guarded_socket_factory
from bot.services.secret_box import SecretBox

STRICT = UrlPolicy()
ADMIN = Actor("alice", Door.api)


def config(kind: str, base_url: str | None, auth: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"settingsId": "c1", "kind": kind, "displayName": "CRM"}
    if base_url is not None:
        body["baseUrl"] = base_url
    if auth is not None:
        body["auth"] = auth
    return parse_config("t1", body)


@pytest.fixture
async def configs(tmp_path: Path) -> Any:
    store = LocalStore(tmp_path / "state.sqlite3")
    yield CrmConfigs(store, SecretBox.from_setting(SecretBox.new_key()))  # strict: the default
    await store.close()


UNSAFE = {
    "http": (config("zendesk", "http://acme.zendesk.com"), ["baseUrl"], "https"),
    "metadata": (config("rest", "https://169.254.169.254/latest"), ["baseUrl"], "link-local"),
    "loopback": (config("rest", "https://127.0.0.1:8080"), ["baseUrl"], "loopback"),
    "ipv6 loopback": (config("rest", "https://[::1]/"), ["baseUrl"], "loopback"),
    "decimal ip": (config("rest", "https://2130706433/"), ["baseUrl"], "canonical"),
    "hex ip": (config("rest", "https://0x7f000001/"), ["baseUrl"], "canonical"),
    "private": (config("rest", "https://10.0.0.5"), ["baseUrl"], "private"),
    "multicast": (config("rest", "https://224.0.0.1"), ["baseUrl"], "multicast"),
    "mapped": (config("rest", "https://[::ffff:127.0.0.1]/"), ["baseUrl"], "loopback"),
    "resolves to loopback": (config("rest", "https://localhost:9000"), ["baseUrl"], "resolves"),
    "look-alike": (
        config("zendesk", "https://acme.zendesk.com.evil.example"),
        ["baseUrl"],
        "not a zendesk domain",
    ),
    "user info": (config("zendesk", "https://u:p@acme.zendesk.com"), ["baseUrl"], "user name"),
    "login url": (
        config(
            "salesforce",
            "https://acme.my.salesforce.com",
            {
                "type": "salesforce_jwt",
                "clientId": "c",
                "username": "u",
                "loginUrl": "https://login.evil.example",
            },
        ),
        ["auth", "loginUrl"],
        "not a salesforce domain",
    ),
    "authority": (
        config(
            "dynamics",
            "https://contoso.crm4.dynamics.com",
            {
                "type": "entra_client_credentials",
                "directoryTenantId": "contoso.example",
                "clientId": "c",
                "authorityHost": "https://169.254.169.254",
            },
        ),
        ["auth", "authorityHost"],
        "link-local",
    ),
    "token url": (
        config(
            "rest",
            "https://8.8.8.8",
            {"type": "oauth_client_credentials", "clientId": "c", "tokenUrl": "http://8.8.4.4/t"},
        ),
        ["auth", "tokenUrl"],
        "https",
    ),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
async def test_every_unsafe_url_class_is_refused_with_the_field(
    configs: CrmConfigs, case: str
) -> None:
    unsafe, loc, says = UNSAFE[case]
    with pytest.raises(ConfigInvalid) as refused:
        await configs.create(unsafe, ADMIN)
    [problem] = refused.value.field_errors
    assert problem["loc"] == loc and says in problem["msg"], problem
    assert await configs.list("t1") == []


SAFE = [
    config("zendesk", "https://acme.zendesk.com"),
    config(
        "salesforce",
        "https://acme--uat.sandbox.my.salesforce.com",
        {
            "type": "salesforce_jwt",
            "clientId": "c",
            "username": "u",
            "loginUrl": "https://test.salesforce.com",
        },
    ),
    config("dynamics", "https://contoso.crm4.dynamics.com"),
    config("servicenow", "https://acme.service-now.com"),
    config("freshdesk", "https://acme.freshdesk.com"),
    config("kustomer", "https://api.kustomerapp.com"),
    config("oracle", "https://acme.custhelp.com"),
    config("rest", "https://8.8.8.8/api"),  # a public address: no DNS needed here
]


@pytest.mark.parametrize("safe", SAFE, ids=lambda c: c.kind.value)
async def test_documented_vendor_domains_and_public_hosts_are_accepted(
    configs: CrmConfigs, safe: Any
) -> None:
    await configs.create(safe, ADMIN)


async def test_the_operator_widens_a_vendor_and_allows_local_fakes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state.sqlite3")
    box = SecretBox.from_setting(SecretBox.new_key())
    try:
        sovereign = CrmConfigs(
            store,
            box,
            url_policy=UrlPolicy(extra_domains={"dynamics": [".crm.microsoftdynamics.de"]}),
        )
        await sovereign.create(
            config("dynamics", "https://contoso.crm.microsoftdynamics.de"), ADMIN
        )
        local = CrmConfigs(store, box, url_policy=UrlPolicy(allow_local=True))
        fake = config("zendesk", "http://127.0.0.1:8123").model_copy(update={"settings_id": "c2"})
        await local.create(fake, ADMIN)
    finally:
        await store.close()


async def test_a_changed_endpoint_needs_the_secret_again(configs: CrmConfigs) -> None:
    zd = config(
        "zendesk", "https://acme.zendesk.com", {"type": "api_key", "username": "a@b.example"}
    )
    await configs.create(zd.model_copy(update={"secret": SecretStr("t0ken")}), ADMIN)
    with pytest.raises(ConfigInvalid) as refused:
        await configs.update("t1", "c1", {"baseUrl": "https://other.zendesk.com"}, ADMIN)
    assert refused.value.field_errors[0]["loc"] == ["secret"]
    renamed = await configs.update("t1", "c1", {"displayName": "Zendesk EU"}, ADMIN)
    assert renamed.version == 2  # other changes need no secret
    moved = await configs.update(
        "t1", "c1", {"baseUrl": "https://other.zendesk.com", "secret": "n3w"}, ADMIN
    )
    assert moved.config.base_url == "https://other.zendesk.com"
    assert configs.secret_of(moved) is not None
    assert configs.secret_of(moved).get_secret_value() == "n3w"  # type: ignore[union-attr]


class Rebinding(AbstractResolver):
    """A DNS answer that changed since the configuration was saved: now it is loopback."""

    async def resolve(
        self, host: str, port: int = 0, family: Any = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        pass


async def _get(url: str, factory: Callable[..., socket.socket] | None) -> int:
    connector = aiohttp.TCPConnector(resolver=Rebinding(), socket_factory=factory)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(url) as answer:
        return answer.status


async def test_every_connection_is_checked_again_so_dns_rebinding_fails(tmp_path: Path) -> None:
    async def internal(request: web.Request) -> web.Response:
        return web.Response(text="internal")

    app = web.Application()
    app.router.add_get("/", internal)
    async with TestServer(app, host="127.0.0.1") as server:
        url = f"http://crm.rebind.example:{server.port}/"
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await _get(url, guarded_socket_factory(STRICT))
        assert isinstance(refused.value.os_error, RefusedAddress)
        assert "loopback" in str(refused.value.os_error)
        assert await _get(url, guarded_socket_factory(UrlPolicy(allow_local=True))) == 200

        # the CRM session every adapter shares carries the same check
        store = LocalStore(tmp_path / "state.sqlite3")
        directory = StoreDirectory(CrmConfigs(store, SecretBox.from_setting(SecretBox.new_key())))
        try:
            with pytest.raises(aiohttp.ClientConnectorError):
                async with directory.session.get(f"http://127.0.0.1:{server.port}/"):
                    pass
        finally:
            await directory.close()
            await store.close()
