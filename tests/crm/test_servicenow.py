"""ServiceNow adapter against the Table API contract fake."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from bot.adapters.crm.servicenow import ServiceNowCrm, ServiceNowSettings, safe_query_value
from bot.domain.records import NewRecord, RecordRef
from bot.services.crm import (
    CrmAuthError,
    CrmUnavailable,
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)
from tests.crm.conftest import ServerFactory, VirtualTime
from tests.crm.fakes.servicenow import ServiceNowFake, parse_encoded_query

JANE_PHONE = "+14155550100"


async def start(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    vtime: VirtualTime,
    fake: ServiceNowFake | None = None,
    **settings: Any,
) -> tuple[ServiceNowFake, ServiceNowCrm]:
    fake = fake or ServiceNowFake()
    server = await aiohttp_server(fake.app)
    if "client_id" not in settings:
        settings.setdefault("username", "integration")
        settings.setdefault("password", "s3cret!")
    crm = ServiceNowCrm(
        session,
        ServiceNowSettings(instance_url=str(server.make_url("")), **settings),
        settings_id="sn",
        **vtime.http_options(),
    )
    return fake, crm


async def test_search_by_phone_with_basic_auth(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(phones=[JANE_PHONE], record_types=["contact"]))
    assert [r.title for r in records] == ["Jane Doe"]
    jane = records[0]
    assert jane.ref.type == "contact" and jane.subtitle == "jane@example.com"
    assert jane.url == f"{crm.base}/nav_to.do?uri=customer_contact.do?sys_id%3D{jane.ref.id}"
    request = fake.requests_to("/api/now/table/customer_contact")[0]
    expected = base64.b64encode(b"integration:s3cret!").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    query = request.query["sysparm_query"]
    assert query.startswith(f"phoneSTARTSWITH{JANE_PHONE}^ORmobile_phoneSTARTSWITH{JANE_PHONE}^OR")
    assert "^ORphoneSTARTSWITH(415) 555-0100^OR" in query
    assert query.endswith("^ORDERBYsys_created_on")
    assert fake.last_ignored == []


async def test_search_person_level_types_covers_accounts(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(name="Acme"))
    assert [(r.ref.type, r.title) for r in records] == [("account", "Acme Corp")]
    records = await crm.search(SearchCriteria(emails=["jane@example.com"]))
    assert [(r.ref.type, r.title) for r in records] == [("contact", "Jane Doe")]


async def test_search_follows_link_header_pages(aiohttp_server, session, vtime):
    fake = ServiceNowFake(seed=False)
    for i in range(25):
        fake.add("customer_contact", name=f"Pager {i:02d}", last_name=f"Pager {i:02d}")
    _, crm = await start(aiohttp_server, session, vtime, fake, page_size=10, max_results=22)
    records = await crm.search(SearchCriteria(name="Pager", record_types=["contact"]))
    assert len(records) == 22
    pages = fake.requests_to("/api/now/table/customer_contact")
    assert [p.query["sysparm_offset"] for p in pages] == ["0", "10", "20"]


@pytest.mark.parametrize(
    "hostile",
    [
        "Nobody^ORnameISNOTEMPTY",
        "Nobody^NQsys_idISNOTEMPTY",
        "x^ORDERBYname^NQnameLIKEa",
        "Nobody\n^ORemailISNOTEMPTY",
    ],
)
async def test_encoded_query_separators_cannot_be_injected(aiohttp_server, session, vtime, hostile):
    fake, crm = await start(aiohttp_server, session, vtime)
    assert await crm.search(SearchCriteria(name=hostile, emails=[hostile])) == []
    groups, _, ignored = parse_encoded_query(fake.last_query or "")
    assert len(groups) == 1 and ignored == []
    fields = {c.field for ors in groups[0] for c in ors}
    assert fields <= {"name", "email"}


async def test_javascript_values_are_never_sent(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    assert safe_query_value("javascript:gs.getUserID()") is None
    assert safe_query_value("JavaScript : x") is None
    records = await crm.search(SearchCriteria(name="javascript:gs.getUserID()"))
    assert records == []
    assert fake.requests_to("/api/now/table") == []


async def test_get_related_and_missing(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    [jane] = await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    assert (await crm.get(jane.ref)).title == "Jane Doe"
    related = await crm.related(jane.ref)
    assert [(r.ref.type, r.title) for r in related] == [
        ("account", "Acme Corp"),
        ("case", "Printer on fire"),
    ]
    case = related[1]
    assert case.subtitle and case.subtitle.startswith("CS")
    account_related = await crm.related(related[0].ref)
    assert [(r.ref.type, r.title) for r in account_related] == [
        ("contact", "Jane Doe"),
        ("case", "Printer on fire"),
    ]
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="sn", type="contact", id="0" * 32))
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="sn", type="contact", id="x?sysparm_query=a"))
    with pytest.raises(NotSupported):
        await crm.get(RecordRef(crm="sn", type="Bad Table", id="0" * 32))


async def test_itsm_tables_users_and_incidents(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime, tables={"contact": "sys_user"})
    [bob] = await crm.search(SearchCriteria(phones=["+14155550151"], record_types=["contact"]))
    assert bob.title == "Bob Admin" and bob.ref.type == "contact"
    related = await crm.related(bob.ref)
    assert [(r.ref.type, r.title) for r in related] == [("incident", "VPN down")]


async def test_create_contact_under_account_and_case(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    [acme] = await crm.search(SearchCriteria(name="Acme", record_types=["account"]))
    contact = await crm.create(
        "contact",
        NewRecord(fields={"name": "Ann Lee", "email": "ann@example.com"}),
        related_to=acme.ref,
    )
    assert contact.title == "Ann Lee"
    sent = fake.requests_to("/api/now/table/customer_contact")[-1].json()
    assert sent == {
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "account": acme.ref.id,
    }
    case = await crm.create(
        "case", NewRecord(fields={"subject": "Call back"}), related_to=contact.ref
    )
    assert case.title == "Call back" and case.fields["contact"] == contact.ref.id


async def test_data_policy_refusal_is_invalid_record(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    with pytest.raises(InvalidRecord, match="mandatory: Short Description"):
        await crm.create("case", NewRecord(fields={"description": "no subject"}))


async def test_acl_refusal_is_permission_denied(aiohttp_server, session, vtime):
    fake2, crm2 = await start(aiohttp_server, session, vtime)
    fake2.fail(403)
    with pytest.raises(CrmAuthError, match="permission denied"):
        await crm2.search(SearchCriteria(phones=[JANE_PHONE], record_types=["contact"]))


async def test_oauth_password_grant_then_refresh_after_expiry(aiohttp_server, session, vtime):
    fake, crm = await start(
        aiohttp_server,
        session,
        vtime,
        client_id="sn-client",
        client_secret="sn-secret",
        username="integration",
        password="s3cret!",
    )
    assert await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    request = fake.requests_to("/api/now/table/customer_contact")[-1]
    assert request.headers["Authorization"].startswith("Bearer tok_")
    fake.tokens.expire_all()
    assert await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    grants = [r.body.decode() for r in fake.requests_to("/oauth_token.do")]
    assert "grant_type=password" in grants[0]
    assert "grant_type=refresh_token" in grants[1]
    assert fake.tokens.issued == 2


async def test_oauth_client_credentials(aiohttp_server, session, vtime):
    fake, crm = await start(
        aiohttp_server, session, vtime, client_id="sn-client", client_secret="sn-secret"
    )
    assert await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    grant = fake.requests_to("/oauth_token.do")[0].body.decode()
    assert "grant_type=client_credentials" in grant and "password" not in grant


async def test_oauth_sign_in_while_the_instance_is_down_is_unavailable_not_refused(
    aiohttp_server, session, vtime
):
    """A token endpoint answering 5xx says nothing about the credentials: the connection
    test must not send the admin to check a client secret that is right."""
    fake, crm = await start(
        aiohttp_server, session, vtime, client_id="sn-client", client_secret="sn-secret"
    )
    fake.fail(503, 503, 503, 503, 503, 503)
    with pytest.raises(CrmUnavailable) as raised:
        await crm.search(SearchCriteria(phones=[JANE_PHONE]))
    assert not isinstance(raised.value, CrmAuthError)
    assert fake.requests_to("/oauth_token.do")
