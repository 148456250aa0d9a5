"""Oracle B2C Service adapter against the Connect REST API contract fake."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from bot.adapters.crm.oracle import OracleCrm, OracleSettings, roql_literal
from bot.domain.records import NewRecord, RecordRef
from bot.services.crm import (
    CrmThrottled,
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)
from tests.crm.conftest import ServerFactory, VirtualTime
from tests.crm.fakes.oracle import APP_CONTEXT, OracleFake, parse_roql

JANE_PHONE = "+14155550100"


async def start(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    vtime: VirtualTime,
    fake: OracleFake | None = None,
    **settings: Any,
) -> tuple[OracleFake, OracleCrm]:
    fake = fake or OracleFake()
    server = await aiohttp_server(fake.app)
    site = str(server.make_url("")).rstrip("/")
    if "token_url" in settings:
        settings["token_url"] = site + settings["token_url"]
    else:
        settings.setdefault("username", "api_user")
        settings.setdefault("password", "0racle!")
    crm = OracleCrm(
        session,
        OracleSettings(
            site_url=site,
            ui_url_template="https://acme.custhelp.com/AgentWeb/#/{object}/{id}",
            **settings,
        ),
        settings_id="osvc",
        **vtime.http_options(),
    )
    return fake, crm


async def test_search_by_phone_sends_roql_with_app_context(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(phones=[JANE_PHONE], record_types=["contact"]))
    assert [r.title for r in records] == ["Jane Doe"]
    jane = records[0]
    assert jane.subtitle == "jane@example.com"
    assert jane.url == f"https://acme.custhelp.com/AgentWeb/#/Contact/{jane.ref.id}"
    request = fake.requests_to("/services/rest/connect/v1.4/queryResults")[0]
    assert request.headers[APP_CONTEXT] == "crmcard customer card"
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(b"api_user:0racle!").decode()
    )
    query = parse_roql(request.query["query"])
    assert query.table == "contacts"
    assert query.where == ("like", "phones.rawNumber", "%4155550100%")  # digits, unformatted


async def test_search_email_name_and_organizations(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(emails=["jane@example.com"], name="Acme"))
    assert [(r.ref.type, r.title) for r in records] == [
        ("contact", "Jane Doe"),
        ("account", "Acme Corp"),
    ]


@pytest.mark.parametrize(
    "hostile",
    [
        "x' OR id > '0",
        "x'; SELECT id FROM accounts; --",
        "\\' OR 1=1 OR emails.address LIKE '%",
        "o'brien%",
    ],
)
async def test_roql_injection_is_neutralised(aiohttp_server, session, vtime, hostile):
    fake, crm = await start(aiohttp_server, session, vtime)
    assert await crm.search(SearchCriteria(emails=[hostile], name=hostile)) == []
    for text in fake.queries:
        assert ";" not in text
        where = parse_roql(text).where
        assert where[0] in ("or", "like", "eq")
        nodes = where[1] if where[0] == "or" else [where]
        assert [n[1] for n in nodes] in (["emails.address", "lookupName"], ["name"])


def test_roql_literal_keeps_real_identifiers():
    assert roql_literal("jane.doe+tag@example.com") == "jane.doe+tag@example.com"
    assert roql_literal("+1 (415) 555-0100") == "+1 (415) 555-0100"
    assert roql_literal("Zoë O'Brien") == "Zoë O\\'Brien"
    assert roql_literal("a\\b") == "a\\\\b"
    assert roql_literal(";\n") is None
    assert roql_literal("100%", like=True) == "100"


async def test_apostrophes_are_escaped_not_lost(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    fake.add_contact("Sean", "O'Brien", "sean@example.ie", "+353 1 234 5678")
    records = await crm.search(SearchCriteria(name="O'Brien"))
    assert [r.title for r in records] == ["Sean O'Brien"]
    assert any("lookupName LIKE '%O\\'Brien%'" in q for q in fake.queries)


async def test_paging_with_limit_offset(aiohttp_server, session, vtime):
    fake = OracleFake(seed=False)
    for i in range(23):
        fake.add_contact("Pat", f"Pager{i}", None, "+15550000000")
    _, crm = await start(aiohttp_server, session, vtime, fake, page_size=10, max_results=50)
    records = await crm.search(SearchCriteria(phones=["+15550000000"]))
    assert len(records) == 23
    offsets = [parse_roql(q).offset for q in fake.queries]
    assert offsets == [0, 10, 20]


async def test_get_related_and_missing(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    [jane] = await crm.search(SearchCriteria(phones=[JANE_PHONE], record_types=["contact"]))
    assert (await crm.get(jane.ref)) == jane
    related = await crm.related(jane.ref)
    assert [(r.ref.type, r.title) for r in related] == [
        ("account", "Acme Corp"),
        ("case", "Printer on fire"),
        ("case", "Refund request"),
    ]
    assert related[2].subtitle and related[2].subtitle.endswith("Solved")
    assert [r.title for r in await crm.related(related[1].ref)] == ["Jane Doe"]
    assert [r.title for r in await crm.related(related[0].ref)] == ["Jane Doe"]
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="osvc", type="contact", id="9999"))
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="osvc", type="contact", id="1 OR 1=1"))
    with pytest.raises(NotSupported):
        await crm.get(RecordRef(crm="osvc", type="lead", id="1"))


async def test_create_contact_and_incident(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    contact = await crm.create(
        "contact", NewRecord(fields={"name": "Ann Lee", "email": "ann@example.com"})
    )
    assert contact.title == "Ann Lee" and contact.fields["emails.address"] == "ann@example.com"
    sent = fake.requests_to("/services/rest/connect/v1.4/contacts")[-1].json()
    assert sent == {
        "name": {"first": "Ann", "last": "Lee"},
        "emails": [{"address": "ann@example.com", "addressType": {"id": 0}}],
    }
    case = await crm.create(
        "case", NewRecord(fields={"subject": "Call back"}), related_to=contact.ref
    )
    assert case.title == "Call back"
    assert [r.title for r in await crm.related(case.ref)] == ["Ann Lee"]


async def test_problem_details_are_mapped(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    with pytest.raises(InvalidRecord, match="already used by another contact"):
        await crm.create("contact", NewRecord(fields={"name": "J D", "email": "jane@example.com"}))


async def test_missing_app_context_is_refused_by_the_fake(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    crm.http.default_headers.pop("OSvC-CREST-Application-Context")
    with pytest.raises(InvalidRecord, match="Application-Context"):
        await crm.search(SearchCriteria(phones=[JANE_PHONE]))


async def test_oauth_client_credentials_and_429(aiohttp_server, session, vtime):
    fake, crm = await start(
        aiohttp_server,
        session,
        vtime,
        token_url="/oauth/token",
        client_id="osvc-client",
        client_secret="osvc-secret",
    )
    fake.throttle(1, retry_after=4)
    assert await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    assert vtime.sleeps == [4.125]  # the 4 s asked, plus rand()=0.5 of a 0.25 s spread
    request = fake.requests_to("/services/rest/connect/v1.4/queryResults")[-1]
    assert request.headers["Authorization"].startswith("Bearer tok_")
    fake.tokens.expire_all()
    assert await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    assert fake.tokens.issued == 2
    fake.throttle(1, retry_after=600)
    with pytest.raises(CrmThrottled):
        await crm.search(SearchCriteria(phones=[JANE_PHONE]))
