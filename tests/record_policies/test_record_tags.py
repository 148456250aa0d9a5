"""A policy's tags reach a real CRM: the record-creation path over HTTP (admin API,
platform webhook) with the Zendesk adapter against the Zendesk contract fake, where the
tags must arrive as the array Zendesk takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.crm.conftest import ServerFactory, Tls, VirtualTime, entra, session, tls, vtime
from tests.crm.fakes.entra import FakeEntra
from tests.crm.vendors import Connected, Env, connect
from tests.record_policies.test_record_creation import event, policy, stored
from tests.workflows.conftest import Client, CountingDemo, Directory

__all__ = ["entra", "session", "tls", "vtime"]


@pytest.fixture
async def zendesk_http(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    vtime: VirtualTime,
    entra: FakeEntra,
    tls: Tls,
) -> Connected:
    return await connect("zendesk", Env(aiohttp_server, session, vtime, entra, tls))


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    demo: CountingDemo,
    zendesk_http: Connected,
) -> Client:
    app = create_app(settings)
    app[CONTEXT].crms = Directory([demo, zendesk_http.crm])
    test_client: Client = await aiohttp_client(app)
    return test_client


async def test_a_policy_tags_its_zendesk_ticket(client: Client, zendesk_http: Connected) -> None:
    await policy(
        client,
        "_default",
        {"createRecords": True, "settingsId": "zd", "sessionTypeTags": True, "productTag": True},
    )
    await event(client, "call-1", "assigned", 0, session={"callType": "ivr"})
    [ticket] = zendesk_http.fake.data.tickets.values()
    assert ticket["tags"] == ["voice_inbound_ivr", "crmcard"]
    shown = (await stored(client, "call-1")).shown.current
    assert shown == [zendesk_http.crm.ref("case", ticket["id"]).key]
