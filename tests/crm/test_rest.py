"""Generic REST adapter against the generic REST contract fake."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.adapters.crm.mapped import with_mappings
from bot.adapters.crm.rest import RestCrm, RestSettings
from bot.domain.crm_config import FieldMapping, RestEndpoints
from bot.domain.records import NewRecord, RecordRef
from bot.domain.rest_templates import JsonPath, RestCall
from bot.domain.workflows import UpdateWorkflow, check_kind
from bot.services.crm import (
    InvalidRecord,
    NotSupported,
    RecordNotFound,
    SearchCriteria,
)
from bot.services.workflows import crm_kind
from tests.crm.conftest import ServerFactory, VirtualTime
from tests.crm.fakes.rest import RestFake

CONNECTION = ("auth", "secret", "username", "api_key_header", "max_results")
MAPPING = {
    "id": "$.id",
    "title": "$.profile.displayName",
    "subtitle": "$.profile.company.name",
    "phone": "$.contact.phones[0].number",
    "email": "$.contact.emails[0]",
}


async def start(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,
    vtime: VirtualTime,
    fake: RestFake | None = None,
    **settings: Any,
) -> tuple[RestFake, RestCrm]:
    fake = fake or RestFake()
    server = await aiohttp_server(fake.app)
    defaults: dict[str, Any] = {
        "auth": "bearer",
        "secret": "rest-token",
        "phone_search": "/v2/people?phone={value}",
        "email_search": "/v2/people?email={value}",
        "name_search": "/v2/people?name={value}",
        "results_path": "$.data.items",
        "next_path": "$.next",
        "get_path": "/v2/people/{id}",
        "record_path": "$.person",
        "create_path": "/v2/people",
        "mapping": MAPPING,
        "ui_url_template": "https://crm.example.com/people/{id}",
    }
    defaults.update(settings)
    connection = {k: defaults.pop(k) for k in CONNECTION if k in defaults}
    crm = RestCrm(
        session,
        RestSettings(
            base_url=str(server.make_url("")),
            **connection,
            endpoints=RestEndpoints(**defaults),
        ),
        settings_id="rest",
        display_name="Acme REST",
        **vtime.http_options(),
    )
    return fake, crm


async def test_search_maps_fields_with_json_paths(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    records = await crm.search(SearchCriteria(phones=["+14155550100"]))
    assert len(records) == 1
    jane = records[0]
    assert (jane.title, jane.subtitle) == ("Jane Doe", "Acme Corp")
    assert jane.fields == {"phone": "(415) 555-0100", "email": "jane@example.com"}
    assert jane.url == "https://crm.example.com/people/p-1"
    assert jane.ref == RecordRef(crm="rest", type="contact", id="p-1")
    request = fake.requests_to("/v2/people")[0]
    assert request.headers["Authorization"] == "Bearer rest-token"
    assert request.query == {"phone": "+14155550100"}


@pytest.mark.parametrize(
    ("auth", "extra", "header", "expected"),
    [
        (
            "basic",
            {"username": "svc"},
            "Authorization",
            "Basic " + base64.b64encode(b"svc:rest-token").decode(),
        ),
        ("api_key", {"api_key_header": "X-Api-Key"}, "X-Api-Key", "rest-token"),
    ],
)
async def test_auth_schemes(aiohttp_server, session, vtime, auth, extra, header, expected):
    fake = RestFake(auth=auth)
    _, crm = await start(aiohttp_server, session, vtime, fake, auth=auth, **extra)
    assert await crm.search(SearchCriteria(emails=["jane@example.com"]))
    assert fake.requests[-1].headers[header] == expected


async def test_no_auth_sends_no_authorization(aiohttp_server, session, vtime):
    fake = RestFake(auth="none")
    _, crm = await start(aiohttp_server, session, vtime, fake, auth="none", secret=None)
    assert await crm.search(SearchCriteria(name="jane"))
    assert "Authorization" not in fake.requests[-1].headers


async def test_values_cannot_escape_their_parameter(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime)
    hostile = "x&email=jane@example.com#/../../admin?y=1"
    assert await crm.search(SearchCriteria(name=hostile)) == []
    assert fake.requests[-1].query == {"name": hostile}
    with pytest.raises(RecordNotFound):
        await crm.get(RecordRef(crm="rest", type="contact", id="../people?name=j"))
    assert fake.requests[-1].path.startswith("/v2/people/")


async def test_paging_follows_next_links(aiohttp_server, session, vtime):
    fake = RestFake(page_size=2, seed=False)
    for i in range(5):
        fake.add_person(f"Sam {i}", phone="+15550000000")
    _, crm = await start(aiohttp_server, session, vtime, fake)
    records = await crm.search(SearchCriteria(phones=["+15550000000"]))
    assert [r.title for r in records] == [f"Sam {i}" for i in range(5)]
    assert [r.query.get("offset") for r in fake.requests] == [None, "2", "4"]


async def test_get_create_and_unsupported(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    person = await crm.get(RecordRef(crm="rest", type="contact", id="p-2"))
    assert person.title == "John Smith"
    created = await crm.create(
        "contact", NewRecord(fields={"name": "Ann Lee", "email": "ann@example.com"})
    )
    assert created.title == "Ann Lee" and created.fields["email"] == "ann@example.com"
    with pytest.raises(InvalidRecord, match="name is required"):
        await crm.create("contact", NewRecord(fields={"email": "x@example.com"}))
    with pytest.raises(NotSupported, match="Acme REST does not support related records"):
        await crm.related(person.ref)
    with pytest.raises(NotSupported):
        await crm.create("case", NewRecord(fields={"subject": "x"}))
    with pytest.raises(NotSupported):
        await crm.update(person.ref, {})


@pytest.mark.parametrize(
    "bad",
    [
        {"phone_search": "https://evil.example/steal?p={value}"},
        {"phone_search": "//evil.example/x?p={value}"},
        {"get_path": "/people/{id.__class__}"},
        {"get_path": "/people/{id!r}"},
        {"name_search": "/people?q={secret}"},
        {"mapping": {"id": "id", "title": "$.name"}},
        {"mapping": {"title": "$.name"}},
        {"ui_url_template": "https://x/{id.__dict__}"},
    ],
)
async def test_unsafe_configuration_is_refused(aiohttp_server, session, vtime, bad):
    with pytest.raises(ValueError):
        await start(aiohttp_server, session, vtime, **bad)


def test_json_path_subset():
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x-y": {"z w": "v"}}
    assert JsonPath("$.a.b[1].c").find(doc) == 2
    assert JsonPath("$['x-y']['z w']").find(doc) == "v"
    assert JsonPath("$.a.b[5].c").find(doc) is None
    assert JsonPath("$").find(doc) is doc
    with pytest.raises(ValueError):
        JsonPath("$..a")


async def test_built_from_a_crm_configuration(aiohttp_server, session):
    """An admin connects a REST CRM like any other: endpoints, auth and secret in config."""
    from bot.adapters.crm.factory import build_client
    from bot.domain.crm_config import ApiKeyAuth, CrmConfig, CrmKind, RestEndpoints

    fake = RestFake()
    server = await aiohttp_server(fake.app)
    config = CrmConfig(
        settings_id="acme",
        tenant_id="t",
        kind=CrmKind.REST,
        display_name="Acme REST",
        base_url=str(server.make_url("")),
        auth=ApiKeyAuth(),
        rest=RestEndpoints(
            phone_search="/v2/people?phone={value}",
            results_path="$.data.items",
            next_path="$.next",
            get_path="/v2/people/{id}",
            record_path="$.person",
            mapping=MAPPING,
        ),
    )
    crm = build_client(config, session=session, secret=SecretStr("rest-token"))
    records = await crm.search(SearchCriteria(phones=["+14155550100"]))
    assert [r.ref.crm for r in records] == ["acme"] and records[0].title
    assert fake.requests[-1].headers["Authorization"] == "Bearer rest-token"


UPDATE = RestCall(
    method="PATCH", path="/v2/people/{id}", body={"custom": "{fields}"}, record_path="$.person"
)
TIMELINE = RestCall(
    method="POST",
    path="/v2/people/{id}/notes",
    body={"note": {"title": "{subject}", "text": "{description}", "kind": "{activityType}"}},
)


async def test_configured_update_call_writes_the_fields(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime, update=UPDATE)
    [jane] = await crm.search(SearchCriteria(emails=["jane@example.com"]))
    record = await crm.update(jane.ref, {"tier": "gold", "note": 'a "quoted" {id}'})
    assert record.ref == jane.ref
    [request] = [r for r in fake.requests if r.method == "PATCH"]
    assert request.path == f"/v2/people/{jane.ref.id}"
    assert request.json() == {"custom": {"tier": "gold", "note": 'a "quoted" {id}'}}
    assert fake.people[jane.ref.id]["custom"] == {"tier": "gold", "note": 'a "quoted" {id}'}


async def test_a_record_a_policy_reopens_gets_its_status(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime, update=UPDATE)
    [jane] = await crm.search(SearchCriteria(emails=["jane@example.com"]))
    await crm.update(jane.ref, {"reopen": "Open"})
    assert fake.people[jane.ref.id]["custom"] == {"status": "Open"}


async def test_configured_timeline_call_writes_an_entry(aiohttp_server, session, vtime):
    fake, crm = await start(aiohttp_server, session, vtime, timeline=TIMELINE)
    [jane] = await crm.search(SearchCriteria(emails=["jane@example.com"]))
    entry = await crm.create_timeline_activity(
        jane.ref, "Call {subject}", "notes", activity_type="phonecall"
    )
    assert entry.title == "Call {subject}" and entry.ref.type == "phonecall"
    [note] = fake.people[jane.ref.id]["notes"]
    assert note == {
        "id": entry.ref.id,
        "title": "Call {subject}",  # a value is placed once, never re-read as a template
        "text": "notes",
        "kind": "phonecall",
    }


async def test_writes_without_a_configured_call_are_refused_clearly(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime)
    ref = RecordRef(crm="rest", type="contact", id="p-1")
    with pytest.raises(NotSupported, match="no update call configured"):
        await crm.update(ref, {"tier": "gold"})
    with pytest.raises(NotSupported, match="no timeline call configured"):
        await crm.create_timeline_activity(ref, "s", "d")


def test_write_call_templates_are_checked():
    with pytest.raises(ValueError, match="update body may only use"):
        RestCall(path="/v2/people/{id}", body={"x": "{subject}"}).check_body(
            frozenset({"id", "fields"}), "update"
        )
    with pytest.raises(ValueError):
        RestCall(path="https://elsewhere.example/{id}")
    with pytest.raises(ValueError):
        RestCall(path="/v2/people/{id.__class__}")


async def test_searchable_says_whether_a_search_would_be_sent(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime, email_search=None)
    assert crm.searchable(SearchCriteria(phones=["+14155550100"]))
    assert not crm.searchable(SearchCriteria(emails=["a@b.example"]))


async def test_update_workflows_accept_a_mapped_rest_crm(aiohttp_server, session, vtime):
    _, crm = await start(aiohttp_server, session, vtime, update=UPDATE)
    mapped = with_mappings(crm, [FieldMapping(crm_field="tier", card_field="Tier")])
    assert crm_kind(mapped) == "rest"  # not "unknown" behind the mapping wrapper
    workflow = UpdateWorkflow.model_validate(
        {"id": "upd", "type": "update", "recordType": "contact", "fields": ["tier"]}
    )
    check_kind(workflow, crm_kind(mapped))
