"""Freshdesk adapter against the Freshdesk API v2 contract fake."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from bot.adapters.crm.freshdesk import (
    NAME_LOOKUPS,
    FreshdeskCrm,
    FreshdeskSettings,
    search_queries,
)
from bot.domain.records import NewRecord, RecordRef
from bot.services.crm import (
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)
from tests.crm.conftest import HeldSearch, ServerFactory, VirtualTime
from tests.crm.fakes.freshdesk import FreshdeskFake, parse_search_query

JANE_PHONE = "+14155550100"


async def start(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    vtime: VirtualTime,
    fake: FreshdeskFake | None = None,
    **settings: Any,
) -> tuple[FreshdeskFake, FreshdeskCrm]:
    fake = fake or FreshdeskFake()
    server = await aiohttp_server(fake.app)
    settings.setdefault("api_key", "fd-api-key")
    crm = FreshdeskCrm(
        session,
        FreshdeskSettings(helpdesk_url=str(server.make_url("")), **settings),
        settings_id="fd",
        **vtime.http_options(),
    )
    return fake, crm


async def test_search_by_phone_and_email_with_api_key_auth(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(phones=["+14155550101"], emails=["jane@example.com"]))
    assert sorted(r.title for r in records) == ["Jane Doe", "John Smith"]
    requests = fake.requests_to("/api/v2/search/contacts")
    request = next(r for r in requests if r.query["query"].startswith('"email:'))
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"fd-api-key:X").decode()
    assert request.query["query"].startswith(
        "\"email:'jane@example.com' OR phone:'+14155550101' OR mobile:'+14155550101'"
        " OR phone:'(415) 555-0101' OR mobile:'(415) 555-0101'"
    )
    assert len(requests) <= 3  # the written forms of one number, under 512 characters each
    jane = next(r for r in records if r.title == "Jane Doe")
    assert jane.url == f"{crm.base}/a/contacts/{jane.ref.id}"


async def test_the_queries_of_one_search_are_asked_at_once(aiohttp_server, session, vtime):
    """A number's written forms need two filter queries; the second does not wait for the
    first one's answer, so the search takes one Freshdesk round trip instead of two."""
    held = HeldSearch({"results": [], "total": 0})
    server = await aiohttp_server(held.app("/api/v2/search/contacts"))
    crm = FreshdeskCrm(
        session,
        FreshdeskSettings(helpdesk_url=str(server.make_url("")), api_key="fd-api-key"),
        settings_id="fd",
        **vtime.http_options(),
    )
    assert len(search_queries([JANE_PHONE], [])) == 2
    assert await crm.search(SearchCriteria(phones=[JANE_PHONE])) == []
    assert held.most == 2


async def test_search_by_name_uses_autocomplete(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(name="jane"))
    assert [(r.title, r.fields.get("email")) for r in records] == [("Jane Doe", "jane@example.com")]
    assert fake.requests_to("/api/v2/contacts/autocomplete")[0].query["term"] == "jane"


async def test_name_search_cost_is_bounded(aiohttp_server, session, vtime):
    fake = FreshdeskFake(seed=False)
    for i in range(12):
        fake.add_contact(f"Jane {i}", f"jane{i}@example.com")
    _, crm = await start(aiohttp_server, session, vtime, fake)
    records = await crm.search(SearchCriteria(name="jane"))
    assert len(records) == NAME_LOOKUPS
    assert len(fake.requests) == 1 + NAME_LOOKUPS  # the autocomplete, then one GET each


@pytest.mark.parametrize(
    "hostile",
    [
        "x' OR active:'true",
        "x' OR active:true OR email:'y",
        "\\' OR (company_id:1)",
        "a\"' OR email:'jane@example.com",
    ],
)
async def test_quotes_cannot_add_clauses(aiohttp_server, session, vtime, hostile):
    fake, crm = await start(aiohttp_server, session, vtime)
    assert await crm.search(SearchCriteria(emails=[hostile], phones=[hostile])) == []
    tree = fake.last_tree
    assert tree[0] == "or"
    assert [(node[0], node[1]) for node in tree[1]] == [
        ("eq", "email"),
        ("eq", "phone"),
        ("eq", "mobile"),
    ]


def test_long_criteria_are_split_under_the_query_limit():
    emails = [f"someone.with.a.long.address.{i}@example.com" for i in range(40)]
    queries = search_queries([], emails)
    assert len(queries) > 1
    assert all(len(q) <= 512 for q in queries)
    parsed = [parse_search_query(q) for q in queries]
    assert sum(len(p[1]) if p[0] == "or" else 1 for p in parsed) == 40


async def test_search_pages_of_thirty(aiohttp_server, session, vtime):
    fake = FreshdeskFake(seed=False)
    for i in range(65):
        fake.add_contact(f"Twin {i}", None, "+15550000000")
    _, crm = await start(aiohttp_server, session, vtime, fake, max_results=100)
    records = await crm.search(SearchCriteria(phones=["+15550000000"]))
    assert len(records) == 65
    pages = fake.requests_to("/api/v2/search/contacts")
    first = pages[0].query["query"]
    assert [p.query["page"] for p in pages if p.query["query"] == first] == ["1", "2", "3"]


async def test_get_related_with_link_header_paging(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime, page_size=1)
    [jane] = await crm.search(SearchCriteria(emails=["jane@example.com"]))
    related = await crm.related(jane.ref)
    assert [(r.ref.type, r.title, r.subtitle) for r in related] == [
        ("account", "Acme Corp", "Company"),
        ("case", "Printer on fire", f"#{related[1].ref.id} · Open"),
        ("case", "Refund request", f"#{related[2].ref.id} · Resolved"),
    ]
    ticket_pages = fake.requests_to("/api/v2/tickets")
    assert [p.query.get("page") for p in ticket_pages] == [None, "2"]
    assert [r.title for r in await crm.related(related[1].ref)] == ["Jane Doe"]
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="fd", type="contact", id="999999"))
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="fd", type="case", id="1/../../contacts"))
    with pytest.raises(NotSupported):
        await crm.get(RecordRef(crm="fd", type="lead", id="1"))


async def test_create_contact_and_ticket_with_custom_fields(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    contact = await crm.create(
        "contact",
        NewRecord(fields={"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}),
    )
    assert contact.title == "Ann Lee"
    case = await crm.create(
        "case",
        NewRecord(fields={"subject": "Call back", "cf_reason": "billing"}),
        related_to=contact.ref,
    )
    assert case.title == "Call back"
    assert fake.requests_to("/api/v2/tickets")[-1].json() == {
        "subject": "Call back",
        "custom_fields": {"cf_reason": "billing"},
        "description": "Call back",
        "status": 2,
        "priority": 1,
        "requester_id": int(contact.ref.id),
    }


async def test_validation_errors_are_mapped(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    with pytest.raises(InvalidRecord, match="email: It should be a unique value"):
        await crm.create("contact", NewRecord(fields={"name": "Jane", "email": "jane@example.com"}))
    with pytest.raises(InvalidRecord, match="requester_id"):
        await crm.create("case", NewRecord(fields={"subject": "orphan"}))
