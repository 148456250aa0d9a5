"""Shared helpers of the REST vendor adapters, and the fakes' latency knob."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.crm.restkit import (
    all_at_once,
    clean_value,
    nest,
    next_url,
    parse_link_header,
    same_origin,
    wanted_types,
)
from bot.adapters.crm.zendesk import ZendeskCrm, ZendeskSettings
from bot.services.crm import CrmUnavailable, SearchCriteria
from bot.services.retry import RetryPolicy
from tests.crm.fakes.base import Faults
from tests.crm.fakes.zendesk import ZendeskFake


def test_link_header_parsing():
    header = (
        '<https://x.service-now.com/api/now/table/t?sysparm_offset=0>;rel="first",'
        '<https://x.service-now.com/api/now/table/t?sysparm_offset=10>;rel="next", '
        "<https://x/api?page=9>; rel=last"
    )
    links = parse_link_header(header)
    assert links["next"].endswith("sysparm_offset=10")
    assert links["last"] == "https://x/api?page=9"
    assert parse_link_header(None) == {}
    assert parse_link_header("garbage") == {}


def test_paging_links_must_stay_on_origin():
    base = "https://acme.freshdesk.com"
    assert str(next_url("/api/v2/tickets?page=2", base)) == base + "/api/v2/tickets?page=2"
    assert next_url("https://acme.freshdesk.com/api/v2/x", base) is not None
    assert next_url("https://evil.example/api/v2/x", base) is None
    assert next_url("http://acme.freshdesk.com/api/v2/x", base) is None
    assert next_url("//evil.example/x", base) is None
    assert next_url(None, base) is None
    assert not same_origin("https://acme.freshdesk.com:8443/", base)


def test_clean_value_and_nest():
    assert clean_value(" a\x00b\n\tc  ^d ", drop="^") == "a b c d"
    assert clean_value("x" * 500) == "x" * 200
    assert nest({"a.b": 1, "a.c": 2, "d": 3}) == {"a": {"b": 1, "c": 2}, "d": 3}


def test_wanted_types():
    assert wanted_types(SearchCriteria(), ("contact", "account", "case")) == [
        "contact",
        "account",
    ]
    assert wanted_types(SearchCriteria(record_types=["case"]), ("contact", "case")) == ["case"]


async def test_latency_beyond_attempt_timeout_is_unavailable(aiohttp_server, session, vtime):
    fake = ZendeskFake(Faults(latency=0.5))
    server = await aiohttp_server(fake.app)
    crm = ZendeskCrm(
        session,
        ZendeskSettings(
            base_url=str(server.make_url("")), email="agent@example.com", api_token="zd-api-token"
        ),
        settings_id="zd",
        policy=RetryPolicy(max_attempts=2),
        attempt_timeout=0.05,
        clock=vtime.clock,
        sleep=vtime.sleep,
        rand=lambda: 0.5,
    )
    with pytest.raises(CrmUnavailable, match="Zendesk unavailable"):
        await crm.search(SearchCriteria(phones=["+14155550100"]))
    assert len(vtime.sleeps) == 1


async def test_all_at_once_raises_the_first_failure_and_cancels_the_rest() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def waiting() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("waiting")
            raise
        return "never"

    async def failing() -> str:
        await started.wait()
        raise CrmUnavailable("CRM 2 is unavailable")

    async def answering() -> str:
        return "answer"

    assert await all_at_once([answering(), answering()]) == ["answer", "answer"]
    with pytest.raises(CrmUnavailable, match="CRM 2 is unavailable"):
        await all_at_once([waiting(), failing()])
    assert cancelled == ["waiting"]
