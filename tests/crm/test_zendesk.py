"""Zendesk adapter against the Zendesk contract fake."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from bot.adapters.crm.zendesk import ZendeskCrm, ZendeskSettings
from bot.domain.records import NewRecord, RecordRef
from bot.services.crm import (
    InvalidRecord,
    NotSupported,
    SearchCriteria,
)
from tests.crm.conftest import HeldSearch, ServerFactory, VirtualTime
from tests.crm.fakes.zendesk import ZendeskFake

JANE_PHONE = "+14155550100"


async def start(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    vtime: VirtualTime,
    fake: ZendeskFake | None = None,
    **settings: Any,
) -> tuple[ZendeskFake, ZendeskCrm]:
    fake = fake or ZendeskFake()
    server = await aiohttp_server(fake.app)
    settings.setdefault("email", "agent@example.com")
    settings.setdefault("api_token", "zd-api-token")
    crm = ZendeskCrm(
        session,
        ZendeskSettings(base_url=str(server.make_url("")), **settings),
        settings_id="zd",
        **vtime.http_options(),
    )
    return fake, crm


async def test_search_by_phone_uses_api_token_basic_auth(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    assert [r.title for r in records] == ["Jane Doe"]
    jane = records[0]
    assert jane.ref.type == "contact" and jane.ref.crm == "zd"
    assert jane.fields["email"] == "jane@example.com"
    assert jane.url == f"{crm.base}/agent/users/{jane.ref.id}"
    [request] = fake.requests_to("/api/v2/search")  # one request, not the export endpoint
    assert request.path == "/api/v2/search.json"
    expected = base64.b64encode(b"agent@example.com/token:zd-api-token").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.query["query"] == "type:user phone:*4155550100"


async def test_the_queries_of_one_search_are_asked_at_once(aiohttp_server, session, vtime):
    """One query per number and address: the second does not wait for the first one's
    answer, so the search takes one Zendesk round trip."""
    held = HeldSearch({"results": [], "next_page": None})
    server = await aiohttp_server(held.app("/api/v2/search.json"))
    crm = ZendeskCrm(
        session,
        ZendeskSettings(
            base_url=str(server.make_url("")), email="agent@example.com", api_token="t"
        ),
        settings_id="zd",
        **vtime.http_options(),
    )
    criteria = SearchCriteria(phones=[JANE_PHONE], emails=["jane@example.com"])
    assert len(crm.search_queries(criteria)) == 2
    assert await crm.search(criteria) == []
    assert held.most == 2


async def test_search_by_email_and_name_dedupes(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(emails=["jane@example.com"], name="Jane Doe"))
    assert [r.title for r in records] == ["Jane Doe"]


async def test_search_accounts_by_name_when_asked(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(name="Acme", record_types=["account"]))
    assert [(r.ref.type, r.title) for r in records] == [("account", "Acme Corp")]


async def test_search_follows_cursor_pages_up_to_the_limit(aiohttp_server, session, vtime):
    fake = ZendeskFake(seed=False)
    for i in range(130):
        fake.add_user(f"Pager {i}", f"p{i}@example.com")
    _, crm = await start(aiohttp_server, session, vtime, fake, max_results=120)
    records = await crm.search(SearchCriteria(name="Pager"))
    assert len(records) == 120
    pages = fake.requests_to("/api/v2/search.json")
    assert len(pages) == 2
    assert pages[0].query["query"] == 'name:"Pager"'  # users and organizations at once
    assert pages[1].query["page"] == "2"


@pytest.mark.parametrize(
    "hostile",
    [
        'Jane" role:admin',
        'x" OR type:ticket "',
        'a\\" -name:"b',
        'Doe"*',
        '"""',
        "Jane\nrole:admin",
    ],
)
async def test_hostile_names_stay_one_phrase(aiohttp_server, session, vtime, hostile):
    fake, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(name=hostile))
    assert records == []
    for term in fake.last_terms:
        assert term.key == "name" and not term.negated
    assert len(fake.last_terms) <= 1


async def test_get_and_missing_record(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    [jane] = await crm.search(SearchCriteria(emails=["jane@example.com"]))
    again = await crm.get(jane.ref)
    assert again == jane
    with pytest.raises(NotSupported):
        await crm.get(RecordRef(crm="zd", type="lead", id="1"))


async def test_related_of_a_user_are_its_org_and_tickets(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    [jane] = await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    related = await crm.related(jane.ref)
    assert [(r.ref.type, r.title) for r in related] == [
        ("account", "Acme Corp"),
        ("case", "Printer on fire"),
        ("case", "Refund request"),
    ]
    case = related[1]
    assert case.url == f"{crm.base}/agent/tickets/{case.ref.id}"
    assert case.subtitle == f"#{case.ref.id} · open"
    back = await crm.related(case.ref)
    assert [r.title for r in back] == ["Jane Doe"]
    org_related = await crm.related(related[0].ref)
    assert ("contact", "Jane Doe") in [(r.ref.type, r.title) for r in org_related]


async def test_related_tickets_follow_cursor_pages(aiohttp_server, session, vtime):
    fake = ZendeskFake(seed=False)
    user = fake.add_user("Busy", "busy@example.com")
    for i in range(7):
        fake.add_ticket(f"T{i}", user["id"])
    _, crm = await start(aiohttp_server, session, vtime, fake, max_results=5)
    related = await crm.related(RecordRef(crm="zd", type="contact", id=str(user["id"])))
    assert [r.title for r in related] == ["T0", "T1", "T2", "T3", "T4"]


async def test_create_contact_and_ticket(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    contact = await crm.create(
        "contact",
        NewRecord(fields={"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}),
    )
    assert contact.title == "Ann Lee" and contact.ref.type == "contact"
    case = await crm.create(
        "case",
        NewRecord(fields={"subject": "Call back", "description": "Wants a call"}),
        related_to=contact.ref,
    )
    assert case.title == "Call back"
    body = fake.requests_to("/api/v2/tickets.json")[-1].json()
    assert body == {
        "ticket": {
            "subject": "Call back",
            "comment": {"body": "Wants a call"},
            "requester_id": int(contact.ref.id),
        }
    }


async def test_create_duplicate_maps_validation_details(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    with pytest.raises(InvalidRecord, match="already being used"):
        await crm.create(
            "contact", NewRecord(fields={"name": "Jane 2", "email": "jane@example.com"})
        )
    with pytest.raises(NotSupported):
        await crm.create("opportunity", NewRecord(fields={"name": "x"}))


async def test_oauth_client_credentials_and_token_expiry(aiohttp_server, session, vtime):
    fake, crm = await start(
        aiohttp_server,
        session,
        vtime,
        email=None,
        api_token=None,
        client_id="zd-client",
        client_secret="zd-secret",
    )
    assert await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    assert fake.tokens.issued == 1
    request = fake.requests_to("/api/v2/search.json")[-1]
    assert request.headers["Authorization"].startswith("Bearer tok_")
    fake.tokens.expire_all()
    assert await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    assert fake.tokens.issued == 2
    token_call = fake.requests_to("/oauth/tokens")[0].json()
    assert token_call["grant_type"] == "client_credentials"


async def test_the_fake_refuses_tags_that_are_not_an_array(aiohttp_server, session, vtime):
    """Zendesk's ``tags`` is an array of strings: text there is a 422 RecordInvalid."""
    fake, crm = await start(aiohttp_server, session, vtime)
    response = await crm.http.post(
        crm.base / "api" / "v2" / "tickets.json",
        json_body={"ticket": {"comment": {"body": "x"}, "tags": "voice_inbound_ivr,crmcard"}},
        raise_for_status=False,
    )
    assert response.status == 422
    assert response.body["error"] == "RecordInvalid"
    assert response.body["details"]["tags"][0]["error"] == "InvalidValue"
    ticket = await crm.create(
        "case", NewRecord(fields={"subject": "Call"}, tags=("voice_inbound_ivr", "crmcard"))
    )
    assert fake.data.tickets[int(ticket.ref.id)]["tags"] == ["voice_inbound_ivr", "crmcard"]
