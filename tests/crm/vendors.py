"""Every vendor adapter connected to its contract fake the same way, for suites that run
one contract over all vendors (phone lookup, request costs).

:func:`connect` starts a vendor's fake (empty), builds its adapter with a virtual clock
and gives back a :class:`Connected`: the adapter, the fake, and ``add_person(name,
phone)`` seeding a person-level record whose phone is stored exactly as given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.adapters.crm.dynamics import DynamicsClient
from bot.adapters.crm.freshdesk import FreshdeskCrm, FreshdeskSettings
from bot.adapters.crm.http import ResilientHttp
from bot.adapters.crm.kustomer import KustomerCrm, KustomerSettings
from bot.adapters.crm.oracle import OracleCrm, OracleSettings
from bot.adapters.crm.salesforce import SalesforceClient
from bot.adapters.crm.servicenow import ServiceNowCrm, ServiceNowSettings
from bot.adapters.crm.tokens import MsalClientCredentials, MsalSettings, StaticSecret
from bot.adapters.crm.zendesk import ZendeskCrm, ZendeskSettings
from bot.services.crm import CrmClient
from tests.crm.conftest import ServerFactory, Tls, VirtualTime
from tests.crm.fakes.dynamics import FakeDataverse
from tests.crm.fakes.entra import FakeEntra
from tests.crm.fakes.freshdesk import FreshdeskFake
from tests.crm.fakes.kustomer import KustomerFake
from tests.crm.fakes.oracle import OracleFake
from tests.crm.fakes.salesforce import FakeSalesforce
from tests.crm.fakes.servicenow import ServiceNowFake
from tests.crm.fakes.zendesk import ZendeskFake

VENDORS = ("salesforce", "dynamics", "servicenow", "zendesk", "freshdesk", "kustomer", "oracle")


@dataclass
class Env:
    """What connecting an adapter needs (pytest fixtures of tests/crm/conftest.py)."""

    aiohttp_server: ServerFactory
    session: aiohttp.ClientSession
    vtime: VirtualTime
    entra: FakeEntra
    tls: Tls

    def http_options(self) -> dict[str, Any]:
        return {
            "clock": self.vtime.clock,
            "sleep": self.vtime.sleep,
            "rand": lambda: 0.5,
            "wall_clock": lambda: 1_700_000_000.0,
        }


@dataclass
class Connected:
    crm: CrmClient
    fake: Any
    add_person: Callable[[str, str], None]

    @property
    def requests(self) -> int:
        """Requests the fake answered so far."""
        return len(self.fake.requests)


async def _salesforce(env: Env) -> Connected:
    fake = FakeSalesforce(public_key_pem="")
    server = await env.aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    fake.tokens["00Dfake!static"] = True
    http = ResilientHttp(
        env.session, name="Salesforce", auth=StaticSecret("00Dfake!static"), **env.http_options()
    )
    crm = SalesforceClient(
        settings_id="sf", display_name="Salesforce", http=http, instance_url=fake.base_url
    )

    def add(name: str, phone: str) -> None:
        fake.add("Contact", FirstName=name, LastName="", Phone=phone)

    return Connected(crm, fake, add)


async def _dynamics(env: Env) -> Connected:
    fake = FakeDataverse(entra=env.entra)
    server = await env.aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    auth = MsalClientCredentials(
        MsalSettings(
            client_id="app-id",
            client_secret="app-secret",
            authority=env.entra.authority,
            scopes=(f"{fake.base_url}/.default",),
            instance_discovery=False,
            verify=env.tls.ca_file,
        )
    )
    http = ResilientHttp(env.session, name="Dynamics", auth=auth, **env.http_options())
    crm = DynamicsClient(settings_id="d", display_name="Dynamics", http=http, org_url=fake.base_url)

    def add(name: str, phone: str) -> None:
        fake.add("contacts", firstname=name, lastname="", telephone1=phone)

    return Connected(crm, fake, add)


async def _servicenow(env: Env) -> Connected:
    fake = ServiceNowFake(seed=False)
    server = await env.aiohttp_server(fake.app)
    crm = ServiceNowCrm(
        env.session,
        ServiceNowSettings(
            instance_url=str(server.make_url("")), username="integration", password="s3cret!"
        ),
        settings_id="sn",
        **env.http_options(),
    )

    def add(name: str, phone: str) -> None:
        fake.add("customer_contact", name=name, first_name=name, email="", phone=phone)

    return Connected(crm, fake, add)


async def _zendesk(env: Env) -> Connected:
    fake = ZendeskFake(seed=False)
    server = await env.aiohttp_server(fake.app)
    crm = ZendeskCrm(
        env.session,
        ZendeskSettings(
            base_url=str(server.make_url("")), email="agent@example.com", api_token="zd-api-token"
        ),
        settings_id="zd",
        **env.http_options(),
    )
    return Connected(crm, fake, lambda name, phone: fake.add_user(name, None, phone) and None)


async def _freshdesk(env: Env) -> Connected:
    fake = FreshdeskFake(seed=False)
    server = await env.aiohttp_server(fake.app)
    crm = FreshdeskCrm(
        env.session,
        FreshdeskSettings(helpdesk_url=str(server.make_url("")), api_key="fd-api-key"),
        settings_id="fd",
        **env.http_options(),
    )
    return Connected(crm, fake, lambda name, phone: fake.add_contact(name, None, phone) and None)


async def _kustomer(env: Env) -> Connected:
    fake = KustomerFake(seed=False)
    server = await env.aiohttp_server(fake.app)
    crm = KustomerCrm(
        env.session,
        KustomerSettings(api_key="kust-api-key", api_url=str(server.make_url(""))),
        settings_id="ku",
        **env.http_options(),
    )
    return Connected(crm, fake, lambda name, phone: fake.add_customer(name, None, phone) and None)


async def _oracle(env: Env) -> Connected:
    fake = OracleFake(seed=False)
    server = await env.aiohttp_server(fake.app)
    crm = OracleCrm(
        env.session,
        OracleSettings(site_url=str(server.make_url("")), username="api_user", password="0racle!"),
        settings_id="or",
        **env.http_options(),
    )
    return Connected(
        crm, fake, lambda name, phone: fake.add_contact(name, "", None, phone) and None
    )


_CONNECT: dict[str, Callable[[Env], Awaitable[Connected]]] = {
    "salesforce": _salesforce,
    "dynamics": _dynamics,
    "servicenow": _servicenow,
    "zendesk": _zendesk,
    "freshdesk": _freshdesk,
    "kustomer": _kustomer,
    "oracle": _oracle,
}


async def connect(vendor: str, env: Env) -> Connected:
    return await _CONNECT[vendor](env)
