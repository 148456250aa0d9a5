"""One contract, every vendor adapter against its fake: what the card relies on whichever
CRM answers. Vendor-specific behaviour (query languages, paging, auth flows, payloads)
stays in the vendor modules; what all adapters must do the same way is here, once.
"""

from __future__ import annotations

import pytest

from bot.domain.records import RecordRef
from bot.services.crm import (
    CrmAuthError,
    CrmThrottled,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)
from tests.crm.vendors import MISSING_IDS, VENDORS, WITHOUT_WRITES, Env, connect

CALLER = "+14155550100"

REFUSED_CREDENTIALS = {
    "salesforce": "Salesforce session expired and could not be renewed",
    "dynamics": "Microsoft sign-in",
    "servicenow": "ServiceNow refused our credentials",
    "zendesk": "Zendesk refused our credentials",
    "freshdesk": "Freshdesk refused our API key",
    "kustomer": "Kustomer refused our API key",
    "oracle": "Oracle B2C Service refused our credentials",
    "rest": "REST CRM refused our credentials",
}
"""How each adapter says its credentials were refused."""

pytestmark = pytest.mark.parametrize("vendor", VENDORS)


@pytest.fixture
def env(aiohttp_server, session, vtime, entra, tls) -> Env:
    return Env(aiohttp_server, session, vtime, entra, tls)


async def test_a_found_record_reads_back_the_same(env, vendor):
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100")
    [found] = await connected.crm.search(SearchCriteria(phones=[CALLER]))
    assert found.ref.crm == connected.crm.settings_id
    again = await connected.crm.get(found.ref)
    assert (again.ref, again.title) == (found.ref, found.title)


async def test_an_email_lookup_finds_the_person_and_no_one_else(env, vendor):
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100", "jane@example.com")
    connected.add_person("John", "(415) 555-0101", "john@example.com")
    found = await connected.crm.search(SearchCriteria(emails=["jane@example.com"]))
    assert [r.title.strip() for r in found] == ["Jane"]


async def test_a_name_lookup_finds_the_person_and_no_one_else(env, vendor):
    if vendor == "rest":
        pytest.skip("the harness's REST connection has no name search template")
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100", "jane@example.com")
    connected.add_person("John", "(415) 555-0101", "john@example.com")
    found = await connected.crm.search(SearchCriteria(name="Jane"))
    assert [r.title.strip() for r in found] == ["Jane"]


async def test_a_caller_with_phone_and_email_is_found_once(env, vendor):
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100", "jane@example.com")
    found = await connected.crm.search(SearchCriteria(phones=[CALLER], emails=["jane@example.com"]))
    assert [r.title.strip() for r in found] == ["Jane"]


async def test_missing_and_malformed_ids_are_no_such_record(env, vendor):
    connected = await connect(vendor, env)
    person_type = "contact"
    for record_id in (MISSING_IDS[vendor], "../../etc/passwd", "1' OR '1'='1"):
        with pytest.raises(RecordNotFound):
            await connected.crm.get(RecordRef(crm="x", type=person_type, id=record_id))


async def test_a_short_limit_is_waited_out_a_long_one_is_reported(env, vendor):
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100")
    criteria = SearchCriteria(phones=[CALLER])
    if vendor == "salesforce":  # 403 REQUEST_LIMIT_EXCEEDED carries no Retry-After
        connected.throttle(1, 0)
        with pytest.raises(CrmThrottled, match="API limit"):
            await connected.crm.search(criteria)
        assert env.vtime.sleeps == []
        assert await connected.crm.search(criteria)
        return
    connected.throttle(1, 4)
    assert await connected.crm.search(criteria)
    assert env.vtime.sleeps == [4.125]  # the 4 s asked, plus rand()=0.5 of a 0.25 s spread
    connected.throttle(1, 3600)
    with pytest.raises(CrmThrottled) as caught:
        await connected.crm.search(criteria)
    assert caught.value.retry_after == 3600.0
    assert env.vtime.sleeps == [4.125]  # never waited an hour inside a lookup
    connected.throttle(30, 1)  # a burst longer than the retry budget
    with pytest.raises(CrmThrottled):
        await connected.crm.search(criteria)


async def test_a_passing_server_error_is_retried(env, vendor):
    connected = await connect(vendor, env)
    connected.add_person("Jane", "(415) 555-0100")
    connected.fail(503)
    assert [r.title.strip() for r in await connected.crm.search(SearchCriteria(phones=[CALLER]))]
    assert len(env.vtime.sleeps) == 1  # one backoff, then the answer


async def test_refused_credentials_are_an_auth_error(env, vendor):
    connected = await connect(vendor, env, bad_credentials=True)
    with pytest.raises(CrmAuthError, match=REFUSED_CREDENTIALS[vendor]):
        await connected.crm.search(SearchCriteria(phones=[CALLER]))


async def test_writes_the_crm_does_not_have_are_refused_clearly(env, vendor):
    if vendor not in WITHOUT_WRITES:
        pytest.skip("updates and timeline entries are written (see the vendor module)")
    connected = await connect(vendor, env)
    ref = RecordRef(crm="x", type="contact", id=MISSING_IDS[vendor])
    name = connected.crm.display_name
    with pytest.raises(NotSupported, match=f"{name} does not support updating records"):
        await connected.crm.update(ref, {"name": "x"})
    with pytest.raises(NotSupported, match=f"{name} does not support timeline activities"):
        await connected.crm.create_timeline_activity(ref, "subject", "description")
