"""The server's periodic ticket sync: which tenants it covers, one round at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.services import tenants
from bot.services.audit import Actor, Door
from bot.web.interactions import CONTEXT
from bot.web.tickets import TICKETING
from tests.tickets.fakes.zendesk_exports import served_with_one_solved_ticket, zendesk_config

ONBOARDED = "contoso-tenant"
"""A tenant named nowhere in the settings: it consented and set up its CRM itself."""


async def test_a_tenant_that_consented_has_its_tickets_synced_by_the_server(
    served: tuple[Any, str], aiohttp_server: Callable[..., Any]
) -> None:
    app, _ = served  # its own periodic sync is off: the test runs one round
    url = await served_with_one_solved_ticket(aiohttp_server)
    await tenants.record_consent(app[CONTEXT].store, ONBOARDED, at=datetime.now(UTC), by="admin")
    ticketing = app[TICKETING]
    config = zendesk_config(url).model_copy(update={"tenant_id": ONBOARDED})
    await ticketing.configs.create(config, Actor("its admin", Door.api))
    waits: list[float] = []

    async def end_after_the_first_round(seconds: float) -> None:
        waits.append(seconds)
        raise asyncio.CancelledError

    ticketing.sleep = end_after_the_first_round
    with pytest.raises(asyncio.CancelledError):
        await ticketing.run(15 * 60)

    assert waits == [15 * 60]
    [state] = await ticketing.last_syncs(ONBOARDED)
    assert state.last_report is not None
    assert (state.last_report.error, state.last_report.tickets_imported) == (None, 1)
