"""Kustomer adapter against the Kustomer contract fake."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.adapters.crm.kustomer import KustomerCrm, KustomerSettings
from bot.domain.records import NewRecord, RecordRef
from bot.services.crm import (
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)
from tests.crm.conftest import ServerFactory, VirtualTime
from tests.crm.fakes.kustomer import KustomerFake

JANE_PHONE = "+14155550100"


async def start(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    vtime: VirtualTime,
    fake: KustomerFake | None = None,
    **settings: Any,
) -> tuple[KustomerFake, KustomerCrm]:
    fake = fake or KustomerFake()
    server = await aiohttp_server(fake.app)
    settings.setdefault("api_key", "kust-api-key")
    crm = KustomerCrm(
        session,
        KustomerSettings(
            api_url=str(server.make_url("")), ui_url="https://acme.kustomerapp.com", **settings
        ),
        settings_id="ku",
        **vtime.http_options(),
    )
    return fake, crm


async def test_search_posts_json_criteria_with_bearer_key(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(
        SearchCriteria(phones=[JANE_PHONE], emails=["jane@example.com"], name="Jane")
    )
    assert [r.title for r in records] == ["Jane Doe"]
    jane = records[0]
    assert jane.fields["email"] == "jane@example.com"
    assert jane.fields["phone"] == "+1 (415) 555-0100"  # as typed
    assert jane.url == f"https://acme.kustomerapp.com/app/customers/{jane.ref.id}"
    request = fake.requests_to("/v1/customers/search")[0]
    assert request.headers["Authorization"] == "Bearer kust-api-key"
    body = request.json()
    assert body["queryContext"] == "customer"
    assert body["or"][:2] == [
        {"customer_phone": {"contains": JANE_PHONE}},
        {"customer_phone": {"contains": "(415) 555-0100"}},  # phones are kept as typed
    ]
    assert body["or"][-2:] == [
        {"customer_email": {"equals": "jane@example.com"}},
        {"customer_name": {"contains": "Jane"}},
    ]


async def test_hostile_input_stays_a_json_string(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    hostile = '"}]}, "or": [{"customer_name": {"contains": ""}}], "x": {"'
    assert await crm.search(SearchCriteria(name=hostile, emails=["a'\\\"@x.com"])) == []
    sent = fake.last_search
    assert sent["or"][1]["customer_name"]["contains"] == hostile
    assert set(sent) == {"or", "queryContext"}


async def test_search_pages_by_reposting_to_links_next(aiohttp_server, session, vtime):
    fake = KustomerFake(seed=False)
    for i in range(12):
        fake.add_customer(f"Pager {i}", f"p{i}@example.com")
    _, crm = await start(aiohttp_server, session, vtime, fake, page_size=5, max_results=11)
    records = await crm.search(SearchCriteria(name="Pager"))
    assert len(records) == 11
    pages = fake.requests_to("/v1/customers/search")
    assert [p.query["page"] for p in pages] == ["1", "2", "3"]
    assert all(p.json()["or"] == [{"customer_name": {"contains": "Pager"}}] for p in pages)


async def test_only_contacts_are_searchable(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    assert await crm.search(SearchCriteria(name="Acme", record_types=["account"])) == []
    assert fake.requests == []


async def test_related_company_is_the_company_not_the_tenant_org(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    [jane] = await crm.search(SearchCriteria(emails=["jane@example.com"]))
    raw = fake._customer_resource(fake.customers[jane.ref.id])
    assert raw["relationships"]["org"]["data"]["type"] == "org"  # on every live customer
    related = await crm.related(jane.ref)
    assert ("account", "Acme Corp") in [(r.ref.type, r.title) for r in related]
    assert not fake.requests_to("/v1/orgs") and not fake.requests_to(
        f"/v1/companies/{raw['relationships']['org']['data']['id']}"
    )
    [john] = await crm.search(SearchCriteria(emails=["john@example.com"]))
    assert all(r.ref.type == "case" for r in await crm.related(john.ref))  # no company


async def test_get_related_and_not_found(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    [jane] = await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    assert (await crm.get(jane.ref)).title == "Jane Doe"
    related = await crm.related(jane.ref)
    assert [(r.ref.type, r.title) for r in related] == [
        ("account", "Acme Corp"),
        ("case", "Where is my order?"),
        ("case", "Refund"),
    ]
    assert related[2].subtitle == "done"
    back = await crm.related(related[1].ref)
    assert [r.title for r in back] == ["Jane Doe"]
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="ku", type="contact", id="0" * 24))
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="ku", type="contact", id="../companies/x"))
    with pytest.raises(NotSupported):
        await crm.get(RecordRef(crm="ku", type="lead", id="0" * 24))


async def test_create_customer_and_conversation(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    contact = await crm.create(
        "contact",
        NewRecord(fields={"name": "Ann Lee", "email": "ann@example.com", "phone": "+15550001"}),
    )
    assert contact.title == "Ann Lee" and contact.fields["email"] == "ann@example.com"
    case = await crm.create(
        "case", NewRecord(fields={"subject": "Call back"}), related_to=contact.ref
    )
    assert case.ref.type == "case" and case.title == "Call back"
    assert fake.requests_to("/v1/conversations")[-1].json() == {
        "name": "Call back",
        "customer": contact.ref.id,
    }
    with pytest.raises(InvalidRecord, match="must belong to a customer"):
        await crm.create("case", NewRecord(fields={"subject": "orphan"}))


async def test_duplicate_customer_maps_error_detail(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    with pytest.raises(InvalidRecord, match="already in use"):
        await crm.create("contact", NewRecord(fields={"name": "Jane", "email": "jane@example.com"}))


async def test_the_fake_takes_conversation_tags_as_ids_and_appends_them_by_name(
    aiohttp_server, session, vtime
):
    """A conversation's ``tags`` are tag ids (a name is refused); "Append tags to
    conversation" takes names and creates the tags the org does not have yet."""
    fake, crm = await start(aiohttp_server, session, vtime)
    [jane] = [c for c in fake.customers.values() if c["name"] == "Jane Doe"]
    refused = await crm.http.post(
        crm.base / "v1" / "conversations",
        json_body={"customer": jane["id"], "name": "Call", "tags": ["crmcard"]},
        raise_for_status=False,
    )
    assert refused.status == 400
    assert refused.body["errors"][0]["code"] == "validation_error"
    case = await crm.create(
        "case",
        NewRecord(fields={"subject": "Call"}, tags=("Voice Inbound - IVR", "crmcard")),
        RecordRef(crm="ku", type="contact", id=jane["id"]),
    )
    appended = fake.requests_to(f"/v1/conversations/{case.ref.id}/tags")[0].json()
    assert appended == ["Voice Inbound - IVR", "crmcard"]
    assert fake.tag_names(case.ref.id) == ["Voice Inbound - IVR", "crmcard"]


@pytest.mark.parametrize("body", [{"tags": ["crmcard"]}, "crmcard", [{"name": "crmcard"}]])
async def test_the_fake_refuses_an_append_body_that_is_not_an_array_of_tag_names(
    aiohttp_server, session, vtime, body
):
    """The documented body of "Append tags to conversation" is a bare array of tag names
    (``["<string>"]``); the fake refuses an object such as ``{"tags": [...]}`` and other
    shapes, 400 in Kustomer's error shape, and the conversation keeps its tags. Were the
    fake to take another shape, an adapter sending it would pass the tests above."""
    fake, crm = await start(aiohttp_server, session, vtime)
    [conversation] = [c for c in fake.conversations.values() if c["name"] == "Refund"]
    refused = await crm.http.post(
        crm.base / "v1" / "conversations" / conversation["id"] / "tags",
        json_body=body,
        raise_for_status=False,
    )
    assert refused.status == 400
    [error] = refused.body["errors"]
    assert (error["status"], error["code"], error["title"]) == (
        400,
        "validation_error",
        "Bad Request",
    )
    assert fake.tag_names(conversation["id"]) == []
