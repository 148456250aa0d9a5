"""DynamicsClient against the fake Dataverse org, authenticated by MSAL against the
local Entra authority over HTTPS: search and $filter escaping, nextLink paging,
get/related/create/update/timeline, error objects, service-protection 429s."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bot.adapters.crm.dynamics import (
    DynamicsClient,
    activity_id,
    dataverse_error,
    odata_contains,
    odata_quote,
)
from bot.adapters.crm.http import CircuitBreaker, HttpResponse, ResilientHttp
from bot.adapters.crm.mapped import with_mappings
from bot.adapters.crm.tokens import MsalClientCredentials, MsalSettings
from bot.domain.crm_config import FieldMapping
from bot.domain.memorialization import NO_LIMITS, TRUNCATION_MARKER, TextLimits, with_reference
from bot.domain.records import NewRecord, RecordRef
from bot.services.crm import (
    CrmThrottled,
    CrmUnavailable,
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
    text_limits,
)
from bot.services.retry import RetryPolicy
from tests.crm.conftest import ServerFactory, Tls, VirtualTime
from tests.crm.fakes.dynamics import FakeDataverse
from tests.crm.fakes.entra import FakeEntra


@dataclass
class Org:
    fake: FakeDataverse
    entra: FakeEntra
    client: DynamicsClient
    auth: MsalClientCredentials
    ids: dict[str, str]


def seed(fake: FakeDataverse) -> dict[str, str]:
    ids = {
        "acme": fake.add(
            "accounts", name="Acme Corp", telephone1="(415) 555-0100", address1_city="Seattle"
        ),
        "globex": fake.add("accounts", name="Globex", telephone1="+442071234567"),
    }
    ids["jane"] = fake.add(
        "contacts",
        firstname="Jane",
        lastname="Doe",
        emailaddress1="jane@acme.example",
        telephone1="+1 (415) 555-0123",
        jobtitle="CTO",
    )
    ids["john"] = fake.add(
        "contacts",
        firstname="John",
        lastname="O'Brien",
        emailaddress1="john@acme.example",
        mobilephone="415.555.0124",
    )
    ids["lead"] = fake.add(
        "leads",
        firstname="Lee",
        lastname="Ead",
        telephone1="+14155550123",
        companyname="Prospect Ltd",
    )
    ids["case"] = fake.add("incidents", title="Broken widget", statuscode=1)
    ids["opp"] = fake.add("opportunities", name="Acme renewal")
    fake.link("contacts", ids["jane"], "_parentcustomerid_value", "accounts", ids["acme"])
    fake.link("contacts", ids["john"], "_parentcustomerid_value", "accounts", ids["acme"])
    fake.link("incidents", ids["case"], "_customerid_value", "contacts", ids["jane"])
    fake.link("opportunities", ids["opp"], "_parentaccountid_value", "accounts", ids["acme"])
    return ids


@pytest.fixture
async def org(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    entra: FakeEntra,
    tls: Tls,
    vtime: VirtualTime,
) -> Org:
    fake = FakeDataverse(entra=entra)
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    ids = seed(fake)
    auth = MsalClientCredentials(
        MsalSettings(
            client_id="app-id",
            client_secret="app-secret",
            authority=entra.authority,
            scopes=(f"{fake.base_url}/.default",),
            instance_discovery=False,
            verify=tls.ca_file,
        )
    )
    http = ResilientHttp(
        session,
        name="Contoso Dynamics",
        auth=auth,
        clock=vtime.clock,
        sleep=vtime.sleep,
        rand=lambda: 0.5,
        breaker=CircuitBreaker(failure_threshold=3, clock=vtime.clock),
        policy=RetryPolicy(max_attempts=3),
    )
    client = DynamicsClient(
        settings_id="d1",
        display_name="Contoso Dynamics",
        http=http,
        org_url=fake.base_url,
        page_size=2,
    )
    return Org(fake, entra, client, auth, ids)


def ref(org: Org, type_: str, key: str) -> RecordRef:
    return RecordRef(crm="d1", type=type_, id=org.ids[key])


async def test_msal_token_for_the_org_scope(org: Org):
    record = await org.client.get(ref(org, "account", "acme"))
    assert record.title == "Acme Corp" and record.subtitle == "Seattle"
    [issued] = org.entra.token_requests("client_credentials")
    assert issued.scope.startswith(f"{org.fake.base_url}/.default")
    assert record.url == (
        f"{org.fake.base_url}/main.aspx?etn=account&id={org.ids['acme']}&pagetype=entityrecord"
    )
    _, _, headers = org.fake.requests[-1]
    assert headers["OData-Version"] == "4.0"


async def test_expired_token_is_renewed_after_401(org: Org):
    await org.client.get(ref(org, "account", "acme"))
    org.entra.expire_all()
    assert (await org.client.get(ref(org, "contact", "jane"))).title == "Jane Doe"
    assert len(org.entra.issued) == 2


async def test_search_by_phone_email_name(org: Org):
    found = await org.client.search(SearchCriteria(phones=["+14155550123"]))
    assert {(r.ref.type, r.title) for r in found} == {("contact", "Jane Doe"), ("lead", "Lee Ead")}
    found = await org.client.search(SearchCriteria(emails=["JOHN@acme.example"]))
    assert [r.title for r in found] == ["John O'Brien"]
    found = await org.client.search(SearchCriteria(name="o'bri"))
    assert [r.title for r in found] == ["John O'Brien"]
    found = await org.client.search(SearchCriteria(name="acme", record_types=["account"]))
    assert [r.title for r in found] == ["Acme Corp"]


@pytest.mark.parametrize(
    "hostile",
    [
        "' or name ne '",
        "x') or contains(fullname,'",
        "''",
        "%",
        "_",
        "[a-z]",
        "\\'",
    ],
)
async def test_filter_escapes_hostile_input(org: Org, hostile: str):
    found = await org.client.search(SearchCriteria(name=hostile, emails=[hostile]))
    assert found == []


async def test_wildcards_in_names_are_literal(org: Org):
    org.fake.add("accounts", name="100% Cotton_Co")
    found = await org.client.search(SearchCriteria(name="0% Cotton_"))
    assert [r.title for r in found] == ["100% Cotton_Co"]
    assert odata_quote("O'Brien") == "'O''Brien'"
    assert odata_contains("5%_[") == "'5[%][_][[]'"


async def test_paging_follows_next_link(org: Org):
    for i in range(5):
        org.fake.add("contacts", firstname=f"P{i}", lastname="Paging", emailaddress1="p@x.example")
    found = await org.client.search(SearchCriteria(emails=["p@x.example"]))
    assert len(found) == 5
    pages = [r for r in org.fake.requests if "%24skiptoken" in r[1] or "$skiptoken" in r[1]]
    assert len(pages) == 2
    assert all("odata.maxpagesize=2" in headers["Prefer"] for _, _, headers in pages)
    first = next(r for r in org.fake.requests if r[1].startswith("/api/data/v9.2/contacts?"))
    assert "$filter" in parse_qs(urlsplit(first[1]).query)


async def test_related(org: Org):
    account = await org.client.related(ref(org, "account", "acme"))
    assert sorted((r.ref.type, r.ref.id) for r in account) == sorted(
        [
            ("contact", org.ids["jane"]),
            ("contact", org.ids["john"]),
            ("opportunity", org.ids["opp"]),
        ]
    )
    contact = await org.client.related(ref(org, "contact", "jane"))
    assert [(r.ref.type, r.ref.id) for r in contact] == [
        ("account", org.ids["acme"]),
        ("case", org.ids["case"]),
    ]
    case = await org.client.related(ref(org, "case", "case"))
    assert [(r.ref.type, r.ref.id) for r in case] == [("contact", org.ids["jane"])]


async def test_create_with_bind_and_entity_id_header(org: Org):
    created = await org.client.create(
        "contact",
        NewRecord(fields={"firstname": "New", "lastname": "Person"}),
        related_to=ref(org, "account", "globex"),
    )
    assert created.title == "New Person"
    assert created.fields["_parentcustomerid_value"] == org.ids["globex"]
    case = await org.client.create(
        "case", NewRecord(fields={"title": "Refund"}), related_to=ref(org, "contact", "jane")
    )
    assert case.ref.type == "case" and case.subtitle and case.subtitle.startswith("CAS-")
    with pytest.raises(InvalidRecord):
        await org.client.create(
            "lead", NewRecord(fields={"x": "y"}), related_to=ref(org, "account", "acme")
        )


async def test_create_errors_are_typed(org: Org):
    with pytest.raises(InvalidRecord, match="does not exist on type"):
        await org.client.create("contact", NewRecord(fields={"lastname": "X", "shoesize": "42"}))
    with pytest.raises(InvalidRecord, match="duplicate"):
        await org.client.create(
            "contact", NewRecord(fields={"lastname": "Doe", "emailaddress1": "jane@acme.example"})
        )
    with pytest.raises(InvalidRecord):
        await org.client.create("widget", NewRecord(fields={}))


async def test_update_uses_if_match_star(org: Org):
    updated = await org.client.update(ref(org, "contact", "jane"), {"jobtitle": "CEO"})
    assert updated.subtitle == "CEO"
    patch = next(r for r in org.fake.requests if r[0] == "PATCH")
    assert patch[2]["If-Match"] == "*"
    with pytest.raises(RecordNotFound):
        await org.client.update(
            RecordRef(crm="d1", type="contact", id="00000000-0000-0000-0000-000000000000"),
            {"jobtitle": "x"},
        )


async def test_timeline_task_and_phonecall(org: Org):
    task = await org.client.create_timeline_activity(
        ref(org, "contact", "jane"), "Call with Jane", "Discussed the widget"
    )
    row = org.fake.rows["tasks"][task.ref.id]
    assert row["_regardingobjectid_value"] == org.ids["jane"]
    assert (row["statecode"], row["statuscode"]) == (1, 5)  # Completed, not left open
    assert task.ref.type == "task" and task.title == "Call with Jane"
    call = await org.client.create_timeline_activity(
        ref(org, "case", "case"), "Inbound call", "notes", activity_type="phonecall"
    )
    row = org.fake.rows["phonecalls"][call.ref.id]
    assert row["_regardingobjectid_value"] == org.ids["case"]
    assert (row["statecode"], row["statuscode"], row["directioncode"]) == (1, 4, False)
    made = await org.client.create_timeline_activity(
        ref(org, "case", "case"), "Call back", "notes", activity_type="phonecall", outbound=True
    )
    row = org.fake.rows["phonecalls"][made.ref.id]
    assert (row["statecode"], row["statuscode"], row["directioncode"]) == (1, 2, True)  # Made
    assert call.url and "etn=phonecall" in call.url
    with pytest.raises(NotSupported):
        await org.client.create_timeline_activity(
            ref(org, "case", "case"), "x", "y", activity_type="email"
        )


async def test_text_longer_than_its_column_is_cut_to_fit_keeping_the_reference(org: Org):
    """Dataverse refuses a value longer than the column's MaxLength (400, 0x80044331), which
    a retry never fixes: the adapter cuts it visibly instead, a description before its
    crmcard reference line, which stays whole."""
    reference = with_reference("", "crmcard-" + "0" * 32).lstrip("\n")
    task = await org.client.create_timeline_activity(
        ref(org, "contact", "jane"),
        "S" * 255,
        with_reference("word " * 1_000, "crmcard-" + "0" * 32),
    )
    row = org.fake.rows["tasks"][task.ref.id]
    assert len(row["subject"]) == 200 and row["subject"].endswith(TRUNCATION_MARKER)
    assert len(row["description"]) == 2000 and row["description"].endswith(reference)
    assert TRUNCATION_MARKER in row["description"]
    case = await org.client.create(
        "case",
        NewRecord(fields={"title": "T" * 255, "description": "d" * 3000}),
        ref(org, "contact", "jane"),
    )
    row = org.fake.rows["incidents"][case.ref.id]
    assert (len(row["title"]), len(row["description"])) == (200, 2000)
    updated = await org.client.update(case.ref, {"title": "U" * 201})
    assert len(updated.title) == 200 and updated.title.endswith(TRUNCATION_MARKER)
    short = await org.client.create_timeline_activity(
        ref(org, "case", "case"), "Call", "notes", activity_type="phonecall"
    )
    assert org.fake.rows["phonecalls"][short.ref.id]["description"] == "notes"  # as it was


async def test_a_write_back_is_told_the_limits_the_adapter_cuts_to(org: Org):
    """What :func:`fitted` would cut, by the names a write-back gives the fields (a case's
    title is its ``title``, or the neutral ``subject`` and ``name``), read through the
    directory's data-mapping wrapper: the payload is cut to them where it is built."""
    case = org.client.text_limits("case", "phonecall")
    assert case == TextLimits(
        fields={"title": 200, "description": 2000, "subject": 200, "name": 200},
        timeline_subject=200,
        timeline_description=2000,
    )
    contact = org.client.text_limits("Contact", "task")  # no limits on its own columns
    assert contact == TextLimits(timeline_subject=200, timeline_description=2000)
    assert org.client.text_limits("widget", "email") == NO_LIMITS
    mapped = with_mappings(org.client, [FieldMapping(crm_field="jobtitle", card_field="Role")])
    assert mapped is not org.client
    assert text_limits(mapped, "case", "phonecall") == case


@pytest.mark.parametrize(
    ("code", "limit"),
    [
        ("0x80072322", "too many requests"),
        ("0x80072321", "too much combined execution time"),
        ("0x80072326", "too many concurrent requests"),
    ],
)
async def test_service_protection_429_honours_retry_after(
    org: Org, vtime: VirtualTime, code: str, limit: str
):
    await org.client.get(ref(org, "account", "acme"))
    org.fake.throttle(2, retry_after="5", code=code)
    assert (await org.client.get(ref(org, "account", "acme"))).title == "Acme Corp"
    assert vtime.sleeps == [5.125, 5.125]  # 5 s, plus rand()=0.5 of a 0.25 s spread
    org.fake.throttle(1, retry_after="300", code=code)
    with pytest.raises(CrmThrottled) as caught:
        await org.client.get(ref(org, "account", "acme"))
    assert caught.value.retry_after == 300.0
    answer = HttpResponse(
        "GET",
        org.fake.base_url,
        429,
        CIMultiDictProxy(CIMultiDict({"Retry-After": "7"})),
        "",
        {"error": {"code": code, "message": "limit"}},
    )
    error = dataverse_error("Contoso Dynamics", answer)
    assert isinstance(error, CrmThrottled) and limit in str(error)
    assert error.retry_after == 7.0


async def test_outage_opens_circuit_then_recovers(org: Org, vtime: VirtualTime):
    await org.client.get(ref(org, "account", "acme"))
    org.fake.error_rate = 1.0
    with pytest.raises(CrmUnavailable):
        await org.client.get(ref(org, "account", "acme"))
    sent = len(org.fake.requests)
    with pytest.raises(CrmUnavailable, match="Contoso Dynamics unavailable, retrying"):
        await org.client.search(SearchCriteria(name="acme"))
    assert len(org.fake.requests) == sent
    org.fake.error_rate = 0.0
    vtime.advance(31)
    assert (await org.client.get(ref(org, "account", "acme"))).title == "Acme Corp"


async def test_slow_token_renewal_does_not_delay_requests(org: Org, vtime: VirtualTime):
    await org.client.get(ref(org, "account", "acme"))
    org.auth.clock = vtime.clock  # drive the provider's notion of time from here on
    token = await org.auth.token()
    org.auth._current = type(token)(value=token.value, expires_at=vtime.now + 60)
    org.entra.latency = 0.3
    started = time.perf_counter()
    await org.client.get(ref(org, "account", "acme"))
    assert time.perf_counter() - started < 0.25  # not held up by the 0.3 s token endpoint
    assert org.auth.refreshing() is not None


# -- idempotent timeline writes (client-chosen activityid) --------------------------------

KEY = "crmcard-0123456789abcdef0123456789abcdef"


async def test_timeline_retry_creates_one_activity_with_derived_id(org: Org):
    jane = ref(org, "contact", "jane")
    assert await org.client.find_timeline_activity(jane, KEY) is None
    first = await org.client.create_timeline_activity(
        jane, "Call with Jane", "notes", activity_type="phonecall", external_id=KEY
    )
    assert first.ref.id == activity_id(KEY) and first.ref.type == "phonecall"
    again = await org.client.create_timeline_activity(
        jane, "Call with Jane", "notes", activity_type="phonecall", external_id=KEY
    )
    assert again.ref == first.ref
    assert list(org.fake.rows["phonecalls"]) == [activity_id(KEY)]
    assert org.fake.rows["tasks"] == {}
    posts = [(m, p) for m, p, _ in org.fake.requests if m == "POST"]
    assert len(posts) == 2  # the second was refused as a duplicate key, then looked up
    found = await org.client.find_timeline_activity(jane, KEY)
    assert found is not None and found.ref == first.ref
    assert await org.client.find_timeline_activity(jane, "crmcard-other") is None


async def test_duplicate_activity_key_follows_the_documented_contract(org: Org):
    case = ref(org, "case", "case")
    task = await org.client.create_timeline_activity(case, "Task", "notes", external_id=KEY)
    # Activities share one key space: the same key as a phonecall is the same activity.
    call = await org.client.create_timeline_activity(
        case, "Call", "notes", activity_type="phonecall", external_id=KEY
    )
    assert call.ref == task.ref and org.fake.rows["phonecalls"] == {}
    async with aiohttp.ClientSession() as raw:
        token = (await org.auth.token()).value
        answer = await raw.post(
            f"{org.fake.base_url}/api/data/v9.2/tasks",
            json={"subject": "again", "activityid": activity_id(KEY)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status == 412
        assert (await answer.json())["error"]["code"] == "0x80040237"
    assert activity_id(KEY) == activity_id(KEY) != activity_id(KEY + "x")
