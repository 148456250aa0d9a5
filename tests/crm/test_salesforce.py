"""SalesforceClient against the fake org: auth flows, SOQL search and escaping, paging,
get/related/create/update/timeline, error arrays, throttling and session expiry."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import pytest

from bot.adapters.crm.http import CircuitBreaker, ResilientHttp
from bot.adapters.crm.salesforce import SalesforceClient, soql_like, soql_quote
from bot.adapters.crm.tokens import (
    SalesforceClientCredentials,
    SalesforceJwtBearer,
    salesforce_token_error,
)
from bot.domain.records import NewRecord, RecordRef
from bot.services.crm import (
    CrmAuthError,
    CrmThrottled,
    CrmUnavailable,
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)
from bot.services.retry import RetryPolicy
from tests.crm.conftest import RsaKeys, ServerFactory, VirtualTime
from tests.crm.fakes.salesforce import FakeSalesforce

USER = "integration@acme.example"


@dataclass
class Org:
    fake: FakeSalesforce
    client: SalesforceClient
    auth: SalesforceJwtBearer
    http: ResilientHttp
    ids: dict[str, str]


def seed(fake: FakeSalesforce) -> dict[str, str]:
    ids = {}
    ids["acme"] = fake.add("Account", Name="Acme Corp", Phone="(415) 555-0100", Industry="Retail")
    ids["other"] = fake.add("Account", Name="Globex", Phone="+44 20 7123 4567")
    ids["jane"] = fake.add(
        "Contact",
        FirstName="Jane",
        LastName="Doe",
        Email="jane@acme.example",
        Phone="415.555.0123",
        AccountId=ids["acme"],
        Title="CTO",
    )
    ids["john"] = fake.add(
        "Contact",
        FirstName="John",
        LastName="O'Brien",
        Email="john@acme.example",
        MobilePhone="(415) 555-0124",
        AccountId=ids["acme"],
    )
    ids["lead"] = fake.add(
        "Lead",
        FirstName="Lee",
        LastName="Ead",
        Email="lee@prospect.example",
        Phone="+1 415-555-0123",
        Company="Prospect Ltd",
    )
    ids["case"] = fake.add(
        "Case",
        Subject="Broken widget",
        Status="New",
        ContactId=ids["jane"],
        AccountId=ids["acme"],
    )
    ids["opp"] = fake.add(
        "Opportunity", Name="Acme renewal", StageName="Prospecting", AccountId=ids["acme"]
    )
    return ids


@pytest.fixture
async def org(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    rsa_keys: RsaKeys,
    vtime: VirtualTime,
) -> Org:
    fake = FakeSalesforce(public_key_pem=rsa_keys.public_pem)
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    ids = seed(fake)
    login_http = ResilientHttp(
        session,
        name="Salesforce sign-in",
        error_mapper=lambda r: salesforce_token_error(r),
        clock=vtime.clock,
        sleep=vtime.sleep,
    )
    auth = SalesforceJwtBearer(
        login_http,
        login_url=fake.base_url,
        client_id=fake.client_id,
        username=USER,
        private_key_pem=rsa_keys.private_pem,
        clock=vtime.clock,
    )
    http = ResilientHttp(
        session,
        name="Acme Salesforce",
        auth=auth,
        clock=vtime.clock,
        sleep=vtime.sleep,
        rand=lambda: 0.5,
        breaker=CircuitBreaker(failure_threshold=3, clock=vtime.clock),
        policy=RetryPolicy(max_attempts=3),
    )
    client = SalesforceClient(
        settings_id="sf1",
        display_name="Acme Salesforce",
        http=http,
        today=lambda: __import__("datetime").date(2024, 5, 17),
    )
    return Org(fake, client, auth, http, ids)


def ref(org: Org, type_: str, key: str) -> RecordRef:
    return RecordRef(crm="sf1", type=type_, id=org.ids[key])


# -- auth -------------------------------------------------------------------------------


async def test_jwt_bearer_assertion_is_signed_and_instance_url_learned(org: Org):
    record = await org.client.get(ref(org, "account", "acme"))
    assert org.fake.token_grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert await org.client.instance_url() == org.fake.base_url
    assert record.url == f"{org.fake.base_url}/lightning/r/Account/{org.ids['acme']}/view"


async def test_jwt_signed_with_wrong_key_is_auth_error(org: Org, session, vtime):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    org.auth._key = other
    with pytest.raises(CrmAuthError, match="invalid_grant"):
        await org.client.get(ref(org, "account", "acme"))


@pytest.mark.parametrize(
    ("audience", "accepted"),
    [
        ("https://test.salesforce.com", True),  # a sandbox signing in on its My Domain
        ("https://login.salesforce.com", True),
        ("https://evil.example.com", False),
    ],
)
async def test_jwt_audience_is_configurable(org: Org, audience, accepted):
    org.auth.audience = audience
    if accepted:
        assert (await org.client.get(ref(org, "account", "acme"))).title == "Acme Corp"
    else:
        with pytest.raises(CrmAuthError, match="invalid_grant"):
            await org.client.get(ref(org, "account", "acme"))


async def test_client_credentials_flow(org: Org, session, vtime):
    login = ResilientHttp(session, name="sign-in", error_mapper=salesforce_token_error)
    auth = SalesforceClientCredentials(
        login,
        my_domain_url=org.fake.base_url,
        client_id=org.fake.client_id,
        client_secret=org.fake.client_secret,
    )
    http = ResilientHttp(session, name="Acme Salesforce", auth=auth)
    client = SalesforceClient(
        settings_id="sf1", display_name="Acme Salesforce", http=http, instance_url=org.fake.base_url
    )
    assert (await client.get(ref(org, "contact", "jane"))).title == "Jane Doe"
    assert org.fake.token_grants == ["client_credentials"]
    bad = SalesforceClientCredentials(
        login, my_domain_url=org.fake.base_url, client_id="x", client_secret="y"
    )
    with pytest.raises(CrmAuthError, match="invalid_client"):
        await bad.token()


async def test_expired_session_reauthenticates_once(org: Org):
    await org.client.get(ref(org, "account", "acme"))
    org.fake.expire_tokens()
    record = await org.client.get(ref(org, "contact", "jane"))
    assert record.title == "Jane Doe"
    assert len(org.fake.token_grants) == 2


# -- search -----------------------------------------------------------------------------


async def test_search_by_phone_email_and_name(org: Org):
    found = await org.client.search(SearchCriteria(phones=["+14155550123"]))
    assert {(r.ref.type, r.title) for r in found} == {("contact", "Jane Doe"), ("lead", "Lee Ead")}
    found = await org.client.search(SearchCriteria(emails=["john@acme.example"]))
    assert [r.title for r in found] == ["John O'Brien"]
    found = await org.client.search(SearchCriteria(name="acme"))
    assert [(r.ref.type, r.title) for r in found] == [("account", "Acme Corp")]
    found = await org.client.search(SearchCriteria(name="o'brien"))
    assert [r.title for r in found] == ["John O'Brien"]
    jane = next(r for r in await org.client.search(SearchCriteria(emails=["jane@acme.example"])))
    assert jane.subtitle == "CTO"
    assert jane.fields["Email"] == "jane@acme.example"
    assert jane.url and jane.url.endswith(f"/lightning/r/Contact/{org.ids['jane']}/view")


async def test_search_only_requested_types(org: Org):
    found = await org.client.search(SearchCriteria(phones=["+14155550123"], record_types=["lead"]))
    assert [r.ref.type for r in found] == ["lead"]
    assert await org.client.search(SearchCriteria()) == []


@pytest.mark.parametrize(
    "hostile",
    [
        "' OR Name LIKE '%",
        "x' OR Name != '",
        "\\",
        "\\' OR Name LIKE '%",
        "%",
        "_",
        "a\nb\t'\"",
        "') OR (Name LIKE '%",
    ],
)
async def test_search_escapes_hostile_input(org: Org, hostile: str):
    found = await org.client.search(
        SearchCriteria(name=hostile, phones=[hostile], emails=[hostile])
    )
    assert found == []  # a literal match on nothing; no 400 MALFORMED_QUERY either
    assert all("MALFORMED" not in q for q in org.fake.queries)


async def test_like_wildcards_are_literal(org: Org):
    org.fake.add("Account", Name="100% Cotton")
    found = await org.client.search(SearchCriteria(name="100%"))
    assert [r.title for r in found] == ["100% Cotton"]
    assert soql_quote("a'b\\c") == "'a\\'b\\\\c'"
    assert soql_like("50%_") == "'%50\\%\\_%'"


async def test_paging_follows_next_records_url(org: Org):
    for i in range(7):
        org.fake.add("Contact", FirstName=f"Pat{i}", LastName="Paging", Email="p@x.example")
    org.fake.page_size = 3
    rows = await org.client.query("SELECT Id, Name FROM Contact WHERE Email = 'p@x.example'")
    assert len(rows) == 7
    assert sum(1 for _, p in org.fake.requests if p.startswith("/services/data/v60.0/query/")) == 2
    found = await org.client.search(SearchCriteria(emails=["p@x.example"]))
    assert len(found) == 7


# -- get / related ------------------------------------------------------------------------


async def test_get_a_case(org: Org):
    case = await org.client.get(ref(org, "case", "case"))
    assert case.title.startswith("Case ") and case.title.endswith(": Broken widget")
    assert case.subtitle == "New"


async def test_related(org: Org):
    account = await org.client.related(ref(org, "account", "acme"))
    assert sorted((r.ref.type, r.ref.id) for r in account) == sorted(
        [
            ("contact", org.ids["jane"]),
            ("contact", org.ids["john"]),
            ("case", org.ids["case"]),
            ("opportunity", org.ids["opp"]),
        ]
    )
    contact = await org.client.related(ref(org, "contact", "jane"))
    assert [(r.ref.type, r.ref.id) for r in contact] == [
        ("account", org.ids["acme"]),
        ("case", org.ids["case"]),
    ]
    case = await org.client.related(ref(org, "case", "case"))
    assert [(r.ref.type, r.ref.id) for r in case] == [
        ("contact", org.ids["jane"]),
        ("account", org.ids["acme"]),
    ]
    assert await org.client.related(ref(org, "lead", "lead")) == []


# -- create / update / timeline --------------------------------------------------------


async def test_create_related_record(org: Org):
    created = await org.client.create(
        "case",
        NewRecord(fields={"Subject": "Refund please", "Origin": "Phone"}),
        related_to=ref(org, "contact", "jane"),
    )
    assert created.ref.type == "case"
    assert created.fields["ContactId"] == org.ids["jane"]
    assert created.title.endswith("Refund please")
    contact = await org.client.create(
        "contact",
        NewRecord(fields={"LastName": "New", "Email": "new@acme.example"}),
        related_to=ref(org, "account", "acme"),
    )
    assert contact.fields["AccountId"] == org.ids["acme"]


async def test_create_errors_are_typed(org: Org):
    with pytest.raises(InvalidRecord, match="INVALID_FIELD"):
        await org.client.create(
            "contact", NewRecord(fields={"LastName": "X", "Shoe_Size__c": "42"})
        )
    with pytest.raises(InvalidRecord, match="duplicate"):
        await org.client.create(
            "contact", NewRecord(fields={"LastName": "Doe", "Email": "jane@acme.example"})
        )
    with pytest.raises(InvalidRecord, match="LastName"):
        await org.client.create("lead", NewRecord(fields={"Company": "No name"}))
    with pytest.raises(InvalidRecord):
        await org.client.create("bad type!", NewRecord(fields={}))


async def test_update(org: Org):
    updated = await org.client.update(ref(org, "contact", "jane"), {"Title": "CEO"})
    assert updated.subtitle == "CEO"
    assert org.fake.records["Contact"][org.ids["jane"]]["Title"] == "CEO"
    assert ("PATCH", f"/services/data/v60.0/sobjects/Contact/{org.ids['jane']}") in (
        org.fake.requests
    )
    with pytest.raises(InvalidRecord, match="INVALID_FIELD"):
        await org.client.update(ref(org, "contact", "jane"), {"Nope": "1"})
    with pytest.raises(RecordNotFound):
        await org.client.update(
            RecordRef(crm="sf1", type="contact", id="003000000000000999"), {"Title": "x"}
        )


async def test_timeline_task_links_who_or_what(org: Org):
    task = await org.client.create_timeline_activity(
        ref(org, "contact", "jane"), "Call with Jane", "Discussed the widget"
    )
    stored = org.fake.records["Task"][task.ref.id]
    assert task.ref.type == "task" and task.title == "Call with Jane"
    assert stored["WhoId"] == org.ids["jane"] and stored["WhatId"] is None
    assert stored["Status"] == "Completed" and stored["ActivityDate"] == "2024-05-17"
    call = await org.client.create_timeline_activity(
        ref(org, "case", "case"), "Inbound call", "notes", activity_type="phonecall"
    )
    stored = org.fake.records["Task"][call.ref.id]
    assert stored["WhatId"] == org.ids["case"] and stored["TaskSubtype"] == "Call"
    assert stored["CallType"] == "Inbound"  # the customer called
    made = await org.client.create_timeline_activity(
        ref(org, "case", "case"), "Call back", "notes", activity_type="phonecall", outbound=True
    )
    assert org.fake.records["Task"][made.ref.id]["CallType"] == "Outbound"
    with pytest.raises(NotSupported):
        await org.client.create_timeline_activity(
            ref(org, "case", "case"), "x", "y", activity_type="meeting"
        )


# -- limits and failures ---------------------------------------------------------------


async def test_request_limit_exceeded_is_throttled(org: Org):
    await org.client.get(ref(org, "account", "acme"))
    org.fake.request_limit_exceeded = True
    with pytest.raises(CrmThrottled, match="API limit"):
        await org.client.search(SearchCriteria(name="acme"))


async def test_outage_opens_the_circuit(org: Org):
    await org.client.get(ref(org, "account", "acme"))
    org.fake.error_rate = 1.0
    with pytest.raises(CrmUnavailable):
        await org.client.get(ref(org, "account", "acme"))
    before = len(org.fake.requests)
    with pytest.raises(CrmUnavailable, match="Acme Salesforce unavailable, retrying"):
        await org.client.get(ref(org, "account", "acme"))
    assert len(org.fake.requests) == before


# -- idempotent timeline writes (upsert by external id) -----------------------------------

KEY = "crmcard-0123456789abcdef0123456789abcdef"


def keyed(org: Org, field: str | None = "Crmcard_Key__c") -> SalesforceClient:
    return SalesforceClient(
        settings_id="sf1",
        display_name="Acme Salesforce",
        http=org.http,
        today=lambda: __import__("datetime").date(2024, 5, 17),
        task_external_id_field=field,
    )


async def test_timeline_retry_upserts_one_task_by_external_id(org: Org):
    client = keyed(org)
    jane = ref(org, "contact", "jane")
    assert await client.find_timeline_activity(jane, KEY) is None
    first = await client.create_timeline_activity(
        jane, "Call with Jane", "notes", activity_type="phonecall", external_id=KEY
    )
    again = await client.create_timeline_activity(
        jane, "Call with Jane", "notes", activity_type="phonecall", external_id=KEY
    )
    assert again.ref == first.ref and first.ref.type == "task"
    [stored] = org.fake.records["Task"].values()
    assert stored["Crmcard_Key__c"] == KEY and stored["WhoId"] == org.ids["jane"]
    assert stored["TaskSubtype"] == "Call" and stored["Status"] == "Completed"
    upserts = [p for m, p in org.fake.requests if m == "PATCH"]
    assert upserts == [f"/services/data/v60.0/sobjects/Task/Crmcard_Key__c/{KEY}"] * 2
    assert not [p for m, p in org.fake.requests if m == "POST" and "sobjects" in p]
    found = await client.find_timeline_activity(jane, KEY)
    assert found is not None and found.ref == first.ref
    assert await client.find_timeline_activity(jane, "crmcard-other") is None


async def test_timeline_without_external_id_field_creates_as_before(org: Org):
    client = keyed(org, None)
    jane = ref(org, "contact", "jane")
    assert await client.find_timeline_activity(jane, KEY) is None
    task = await client.create_timeline_activity(
        jane, "Call", f"notes\n\ncrmcard reference: {KEY}", external_id=KEY
    )
    stored = org.fake.records["Task"][task.ref.id]
    assert stored["Crmcard_Key__c"] is None and KEY in stored["Description"]
    assert not [p for m, p in org.fake.requests if m == "PATCH"]


async def test_timeline_external_id_field_missing_in_org_is_invalid(org: Org):
    client = keyed(org, "Not_An_External_Id__c")
    with pytest.raises(InvalidRecord, match="Not_An_External_Id__c"):
        await client.create_timeline_activity(ref(org, "case", "case"), "x", "y", external_id=KEY)
    with pytest.raises(ValueError):
        keyed(org, "bad field; DROP")
