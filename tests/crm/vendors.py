"""Every vendor adapter connected to its contract fake the same way, for suites that run
one contract over all vendors (tests/crm/test_contract.py, the phone lookup table, the
lookup bench).

:func:`connect` starts a vendor's fake (empty), builds its adapter with a virtual clock
and gives back a :class:`Connected`: the adapter, the fake, ``add_person(name, phone,
email)`` seeding a person-level record whose phone is stored exactly as given, and the
fake's fault knobs under one name (``throttle(count, seconds)``: the vendor's own
rate-limit answer; ``fail(status)``). ``bad_credentials=True`` connects with credentials
the fake refuses.
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
from bot.adapters.crm.rest import RestCrm, RestSettings
from bot.adapters.crm.salesforce import SalesforceClient
from bot.adapters.crm.servicenow import ServiceNowCrm, ServiceNowSettings
from bot.adapters.crm.tokens import MsalClientCredentials, MsalSettings, StaticSecret
from bot.adapters.crm.zendesk import ZendeskCrm, ZendeskSettings
from bot.domain.crm_config import RestEndpoints
from bot.services.crm import CrmClient
from tests.crm.conftest import ServerFactory, Tls, VirtualTime
from tests.crm.fakes.dynamics import FakeDataverse
from tests.crm.fakes.entra import FakeEntra
from tests.crm.fakes.freshdesk import FreshdeskFake
from tests.crm.fakes.kustomer import KustomerFake
from tests.crm.fakes.oracle import OracleFake
from tests.crm.fakes.rest import RestFake
from tests.crm.fakes.salesforce import FakeSalesforce
from tests.crm.fakes.servicenow import ServiceNowFake
from tests.crm.fakes.zendesk import ZendeskFake

VENDORS = (
    "salesforce",
    "dynamics",
    "servicenow",
    "zendesk",
    "freshdesk",
    "kustomer",
    "oracle",
    "rest",
)
WITHOUT_WRITES = ("servicenow", "zendesk", "freshdesk", "kustomer", "oracle", "rest")
"""Vendors whose adapters refuse updates and timeline entries (REST: none configured)."""
MISSING_IDS = {
    "salesforce": "003000000000999AAA",
    "dynamics": "00000000-0000-4000-8000-000000000999",
    "servicenow": "0" * 32,
    "zendesk": "999999",
    "freshdesk": "999999",
    "kustomer": "f" * 24,
    "oracle": "999999",
    "rest": "p-999",
}
"""A well-formed id no record has, per vendor."""
REST_MAPPING = {
    "id": "$.id",
    "title": "$.profile.displayName",
    "phone": "$.contact.phones[0].number",
    "email": "$.contact.emails[0]",
}


@dataclass
class Env:
    """What connecting an adapter needs (pytest fixtures of tests/crm/conftest.py)."""

    aiohttp_server: ServerFactory
    session: aiohttp.ClientSession
    vtime: VirtualTime
    entra: FakeEntra
    tls: Tls

    def http_options(self) -> dict[str, Any]:
        return self.vtime.http_options()


@dataclass
class Connected:
    crm: CrmClient
    fake: Any
    add_person: Callable[..., None]
    """``add_person(name, phone, email=None)``"""

    @property
    def requests(self) -> int:
        """Requests the fake answered so far."""
        return len(self.fake.requests)

    def throttle(self, count: int, seconds: int) -> None:
        """The next ``count`` requests hit the vendor's rate limit (``seconds`` is the
        Retry-After where the vendor sends one; Salesforce sends 403 without it)."""
        if isinstance(self.fake, FakeSalesforce):
            self.fake.throttle(count)
        elif isinstance(self.fake, FakeDataverse):
            self.fake.throttle(count, retry_after=str(seconds))
        else:
            self.fake.throttle(count, retry_after=seconds)

    def fail(self, status: int) -> None:
        """The next request is answered ``status``."""
        if isinstance(self.fake, FakeSalesforce | FakeDataverse):
            self.fake.fail_next.append(status)
        else:
            self.fake.fail(status)


async def _salesforce(env: Env, bad: bool) -> Connected:
    fake = FakeSalesforce(public_key_pem="")
    server = await env.aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    fake.tokens["00Dfake!static"] = not bad
    http = ResilientHttp(
        env.session, name="Salesforce", auth=StaticSecret("00Dfake!static"), **env.http_options()
    )
    crm = SalesforceClient(
        settings_id="sf", display_name="Salesforce", http=http, instance_url=fake.base_url
    )

    def add(name: str, phone: str, email: str | None = None) -> None:
        fake.add("Contact", FirstName=name, LastName="", Phone=phone, Email=email)

    return Connected(crm, fake, add)


async def _dynamics(env: Env, bad: bool) -> Connected:
    fake = FakeDataverse(entra=env.entra)
    server = await env.aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    auth = MsalClientCredentials(
        MsalSettings(
            client_id="app-id",
            client_secret="wrong" if bad else "app-secret",
            authority=env.entra.authority,
            scopes=(f"{fake.base_url}/.default",),
            instance_discovery=False,
            verify=env.tls.ca_file,
        )
    )
    http = ResilientHttp(env.session, name="Dynamics", auth=auth, **env.http_options())
    crm = DynamicsClient(settings_id="d", display_name="Dynamics", http=http, org_url=fake.base_url)

    def add(name: str, phone: str, email: str | None = None) -> None:
        fake.add("contacts", firstname=name, lastname="", telephone1=phone, emailaddress1=email)

    return Connected(crm, fake, add)


@dataclass(frozen=True)
class _Kit:
    """How to connect one of the adapters built on ``restkit``: its (empty) fake, the
    adapter's class, its settings for the fake's URL (refused credentials when asked),
    its settings id and how to seed a person."""

    fake: Callable[[], Any]
    adapter: Callable[..., CrmClient]
    settings: Callable[[str, bool], Any]
    settings_id: str
    add: Callable[[Any, str, str, str | None], object]


def _wrong(bad: bool, good: str) -> str:
    return "wrong" if bad else good


_KITS = {
    "servicenow": _Kit(
        lambda: ServiceNowFake(seed=False),
        ServiceNowCrm,
        lambda url, bad: ServiceNowSettings(
            instance_url=url, username="integration", password=_wrong(bad, "s3cret!")
        ),
        "sn",
        lambda fake, name, phone, email: fake.add(
            "customer_contact", name=name, first_name=name, email=email or "", phone=phone
        ),
    ),
    "zendesk": _Kit(
        lambda: ZendeskFake(seed=False),
        ZendeskCrm,
        lambda url, bad: ZendeskSettings(
            base_url=url, email="agent@example.com", api_token=_wrong(bad, "zd-api-token")
        ),
        "zd",
        lambda fake, name, phone, email: fake.add_user(name, email, phone),
    ),
    "freshdesk": _Kit(
        lambda: FreshdeskFake(seed=False),
        FreshdeskCrm,
        lambda url, bad: FreshdeskSettings(helpdesk_url=url, api_key=_wrong(bad, "fd-api-key")),
        "fd",
        lambda fake, name, phone, email: fake.add_contact(name, email, phone),
    ),
    "kustomer": _Kit(
        lambda: KustomerFake(seed=False),
        KustomerCrm,
        lambda url, bad: KustomerSettings(api_key=_wrong(bad, "kust-api-key"), api_url=url),
        "ku",
        lambda fake, name, phone, email: fake.add_customer(name, email, phone),
    ),
    "oracle": _Kit(
        lambda: OracleFake(seed=False),
        OracleCrm,
        lambda url, bad: OracleSettings(
            site_url=url, username="api_user", password=_wrong(bad, "0racle!")
        ),
        "or",
        lambda fake, name, phone, email: fake.add_contact(name, "", email, phone),
    ),
    "rest": _Kit(
        lambda: RestFake(seed=False, page_size=50),
        RestCrm,
        lambda url, bad: RestSettings(
            base_url=url,
            auth="bearer",
            secret=_wrong(bad, "rest-token"),
            endpoints=RestEndpoints(
                phone_search="/v2/people?phone={value}",
                email_search="/v2/people?email={value}",
                results_path="$.data.items",
                next_path="$.next",
                get_path="/v2/people/{id}",
                record_path="$.person",
                mapping=REST_MAPPING,
            ),
        ),
        "rest",
        lambda fake, name, phone, email: fake.add_person(name, email, phone),
    ),
}


def _kit(vendor: str) -> Callable[[Env, bool], Awaitable[Connected]]:
    kit = _KITS[vendor]

    async def connect_kit(env: Env, bad: bool) -> Connected:
        fake = kit.fake()
        server = await env.aiohttp_server(fake.app)
        crm = kit.adapter(
            env.session,
            kit.settings(str(server.make_url("")), bad),
            settings_id=kit.settings_id,
            **env.http_options(),
        )

        def add(name: str, phone: str, email: str | None = None) -> None:
            kit.add(fake, name, phone, email)

        return Connected(crm, fake, add)

    return connect_kit


_CONNECT: dict[str, Callable[[Env, bool], Awaitable[Connected]]] = {
    "salesforce": _salesforce,
    "dynamics": _dynamics,
    **{vendor: _kit(vendor) for vendor in _KITS},
}


async def connect(vendor: str, env: Env, *, bad_credentials: bool = False) -> Connected:
    return await _CONNECT[vendor](env, bad_credentials)
