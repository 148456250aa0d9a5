"""The admin's overview adds up every instance's counts: two apps on one store stand in
for two instances behind the load balancer (``bot.services.instance_counts``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.services import keys
from bot.services.instance_counts import InstanceCounts
from bot.services.store import put_model
from bot.settings import Settings
from bot.web.admin_health import COUNTS
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.crm.fakes.freshdesk import FreshdeskFake
from tests.crm_admin.test_health import A, _call, _health, connect_freshdesk

Client = TestClient[Any, Any]


@pytest.fixture
async def instances(
    aiohttp_client: Callable[..., Any], admin_settings: Settings
) -> tuple[Client, Client]:
    one: Client = await aiohttp_client(create_app(admin_settings))
    two: Client = await aiohttp_client(create_app(admin_settings))  # the same store
    return one, two


@pytest.fixture
async def connected(
    instances: tuple[Client, Client], freshdesk: tuple[FreshdeskFake, str]
) -> tuple[Client, Client]:
    """Two instances; tenant A's admin connected the Freshdesk fake through the first."""
    await connect_freshdesk(instances[0], freshdesk[1])
    return instances


async def test_an_instance_shows_the_calls_and_callers_another_counted(
    connected: tuple[Client, Client],
) -> None:
    one, two = connected
    await _call(one, 1, "+1 415 555 0100")  # Jane Doe: identified
    await _call(one, 2, "+1 415 555 0199")  # nobody
    assert (await _health(two))["identification"]["interactions"] == 0  # not shared yet

    await one.app[COUNTS].publish()  # what the instance does every minute
    seen = await _health(two)
    assert (seen["identification"]["interactions"], seen["identification"]["identified"]) == (
        2,
        1,
    )
    [crm] = seen["crms"]
    assert crm["recentCalls"] >= 2 and crm["recentErrors"] == 0, crm
    assert crm["circuit"] == "none"  # the answering instance's own: it has not called it

    await _call(two, 3, "+1 415 555 0100")  # the second instance's own count, at once
    both = await _health(two)
    assert both["identification"]["interactions"] == 3
    own = await _health(one)  # its own document is not counted twice
    assert own["identification"]["interactions"] == 2


async def test_a_changed_configuration_starts_afresh_on_every_instance(
    connected: tuple[Client, Client],
) -> None:
    one, two = connected
    await _call(one, 1, "+1 415 555 0100")
    await one.app[COUNTS].publish()
    assert (await _health(two))["crms"][0]["recentCalls"] >= 1

    rotated = await two.post("/api/admin/crms/fd/rotate-secret", json={"secret": "new"}, headers=A)
    assert rotated.status == 200, await rotated.text()
    [crm] = (await _health(two))["crms"]
    assert crm["recentCalls"] == 0  # the first instance's calls were made with the old one


async def test_unchanged_counts_are_not_written_again_and_stopped_instances_are_dropped(
    instances: tuple[Client, Client],
) -> None:
    one, two = instances
    await _call(one, 1, "+1 415 555 0199")
    counts = one.app[COUNTS]
    store = one.app[CONTEXT].store
    mine = keys.instance_counts("tenant-a", one.app[CONTEXT].instance_id)
    await counts.publish()
    written = await store.read(mine)
    await counts.publish()
    assert written is not None and (await store.read(mine)) == written  # no second write

    now = two.app[CONTEXT].clock()
    gone = InstanceCounts(instance_id="stopped", at=now - timedelta(days=2), callers=[])
    stale = keys.instance_counts("tenant-a", "stopped")
    await put_model(store, stale, gone)
    assert (await _health(two))["identification"]["interactions"] == 1
    assert await store.read(stale) is None  # deleted by the reader


async def test_an_instance_shares_its_last_counts_when_it_stops(
    instances: tuple[Client, Client],
) -> None:
    one, two = instances
    await _call(one, 1, "+1 415 555 0100")
    await one.close()  # a restart or scale-in, before its minute came round
    assert (await _health(two))["identification"]["interactions"] == 1
