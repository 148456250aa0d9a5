"""A worker killed between the CRM write and recording it, then restarted: one timeline
activity in Salesforce (upsert by external id) and one in Dynamics (client-chosen
``activityid``), through the real adapters against the vendor contract fakes; and a
transcript longer than a Salesforce Task's Description, or than a Dynamics column, written
cut to fit and named as cut."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot.adapters.crm.dynamics import DynamicsClient, activity_id
from bot.adapters.crm.http import ResilientHttp
from bot.adapters.crm.salesforce import SalesforceClient
from bot.adapters.crm.tokens import (
    MsalClientCredentials,
    MsalSettings,
    SalesforceJwtBearer,
    salesforce_token_error,
)
from bot.domain.memorialization import (
    TIMELINE_DESCRIPTION_MAX,
    TRUNCATION_MARKER,
    FieldMapping,
    MemorializationMapping,
    SourceField,
    TimelineSettings,
)
from bot.domain.records import CrmRecord, RecordRef
from bot.services import keys, outbox
from bot.services.context import Context
from bot.services.outbox import OutboxStatus
from bot.services.store import Store, put_model
from bot.services.writeback_ports import IdempotentTimeline
from bot.web.admin_outbox import OutboxItemAnswer
from tests.crm.conftest import (  # noqa: F401  (fixtures)
    RsaKeys,
    ServerFactory,
    Tls,
    entra,
    rsa_keys,
    session,
    tls,
)
from tests.crm.fakes.dynamics import FakeDataverse
from tests.crm.fakes.entra import FakeEntra
from tests.crm.fakes.salesforce import FakeSalesforce
from tests.writeback.harness import T0, TENANT, Crms, NoDelivery, drain, interaction, store_due
from tests.writeback.harness import worker as make_worker

SF_USER = "integration@acme.example"


@dataclass
class HeldAfterCreate:
    """A real adapter whose timeline create blocks once the CRM has made the activity: the
    process "dies" there, before the outbox records the step as done.
    ``blind``: the lookup finds nothing, so only the create itself keeps it single."""

    inner: SalesforceClient | DynamicsClient
    hold: bool = True
    blind: bool = False
    created: asyncio.Event = field(default_factory=asyncio.Event)
    creates: int = 0

    @property
    def settings_id(self) -> str:
        return self.inner.settings_id

    @property
    def display_name(self) -> str:
        return self.inner.display_name

    def __getattr__(self, name: str) -> object:  # search, get, related, create, update
        return getattr(self.inner, name)

    async def find_timeline_activity(self, ref: RecordRef, external_id: str) -> CrmRecord | None:
        if self.blind:
            return None
        return await self.inner.find_timeline_activity(ref, external_id)

    async def create_timeline_activity(
        self, ref: RecordRef, subject: str, description: str, **options: Any
    ) -> CrmRecord:
        record = await self.inner.create_timeline_activity(ref, subject, description, **options)
        self.creates += 1
        self.created.set()
        if self.hold:
            await asyncio.Event().wait()  # killed here
        return record


@dataclass
class Orgs:
    salesforce: FakeSalesforce
    dataverse: FakeDataverse
    sf: HeldAfterCreate
    dyn: HeldAfterCreate
    sf_contact: CrmRecord
    dyn_contact: CrmRecord


@pytest.fixture
async def orgs(
    aiohttp_server: ServerFactory,
    session: aiohttp.ClientSession,  # noqa: F811
    rsa_keys: RsaKeys,  # noqa: F811
    entra: FakeEntra,  # noqa: F811
    tls: Tls,  # noqa: F811
) -> Orgs:
    salesforce = FakeSalesforce(public_key_pem=rsa_keys.public_pem)
    sf_server = await aiohttp_server(salesforce.app())
    salesforce.base_url = str(sf_server.make_url("")).rstrip("/")
    jane = salesforce.add("Contact", FirstName="Jane", LastName="Doe", Phone="+15550100")
    sf_auth = SalesforceJwtBearer(
        ResilientHttp(session, name="Salesforce sign-in", error_mapper=salesforce_token_error),
        login_url=salesforce.base_url,
        client_id=salesforce.client_id,
        username=SF_USER,
        private_key_pem=rsa_keys.private_pem,
    )
    sf = SalesforceClient(
        settings_id="sf1",
        display_name="Acme Salesforce",
        http=ResilientHttp(session, name="Acme Salesforce", auth=sf_auth),
        today=lambda: dt.date(2026, 11, 23),
        task_external_id_field="Crmcard_Key__c",
    )

    dataverse = FakeDataverse(entra=entra)
    dyn_server = await aiohttp_server(dataverse.app())
    dataverse.base_url = str(dyn_server.make_url("")).rstrip("/")
    edward = dataverse.add("contacts", firstname="Edward", lastname="Ferrars")
    dyn_auth = MsalClientCredentials(
        MsalSettings(
            client_id="app-id",
            client_secret="app-secret",
            authority=entra.authority,
            scopes=(f"{dataverse.base_url}/.default",),
            instance_discovery=False,
            verify=tls.ca_file,
        )
    )
    dyn = DynamicsClient(
        settings_id="d1",
        display_name="Contoso Dynamics",
        http=ResilientHttp(session, name="Contoso Dynamics", auth=dyn_auth),
        org_url=dataverse.base_url,
    )
    # Sign in before the clock-sensitive part (a write step may take lease / 3).
    sf_contact = await sf.get(RecordRef(crm="sf1", type="contact", id=jane))
    dyn_contact = await dyn.get(RecordRef(crm="d1", type="contact", id=edward))
    return Orgs(
        salesforce, dataverse, HeldAfterCreate(sf), HeldAfterCreate(dyn), sf_contact, dyn_contact
    )


@pytest.mark.parametrize("blind", [False, True], ids=["found-by-key", "create-is-idempotent"])
async def test_killed_after_the_crm_write_leaves_one_activity_per_crm(
    one_store: Store, orgs: Orgs, blind: bool
) -> None:
    assert isinstance(orgs.sf, IdempotentTimeline) and isinstance(orgs.dyn, IdempotentTimeline)
    now = [T0]

    def clock() -> datetime:
        return now[0]

    ctx = Context(store=one_store, crms=Crms(orgs.sf, orgs.dyn), delivery=NoDelivery(), clock=clock)
    await store_due(ctx, interaction("call-1", linked=(orgs.sf_contact, orgs.dyn_contact)))

    doomed = make_worker(ctx, lease=30.0)
    task = doomed.start()
    await asyncio.wait_for(
        asyncio.gather(orgs.sf.created.wait(), orgs.dyn.created.wait()), timeout=10
    )
    task.cancel()  # the process dies after both CRMs made the activity
    await asyncio.gather(task, return_exceptions=True)
    items = await outbox.list_items(ctx.store, TENANT)
    assert len(items) == 2
    assert all(i.status is OutboxStatus.pending and i.lease_owner == doomed.owner for i in items)
    assert all(not step.done for i in items for step in i.steps)

    for held in (orgs.sf, orgs.dyn):
        held.hold, held.blind = False, blind
    now[0] += timedelta(seconds=31)  # the dead worker's lease expires
    await drain(make_worker(ctx))

    items = await outbox.list_items(ctx.store, TENANT)
    assert {i.status for i in items} == {OutboxStatus.done}
    assert all(i.attempts == 2 for i in items)
    [sf_task] = orgs.salesforce.records["Task"].values()
    assert sf_task["WhoId"] == orgs.sf_contact.ref.id and sf_task["Crmcard_Key__c"]
    assert len(orgs.dataverse.rows["tasks"]) == 1 and orgs.dataverse.rows["phonecalls"] == {}
    [(dyn_id, dyn_task)] = orgs.dataverse.rows["tasks"].items()
    assert dyn_task["_regardingobjectid_value"] == orgs.dyn_contact.ref.id
    keys = {i.record.crm: i.steps[0].idempotency_key for i in items}
    assert sf_task["Crmcard_Key__c"] == keys["sf1"] and dyn_id == activity_id(keys["d1"])
    results = {i.record.crm: i.steps[0].result_id for i in items}
    assert results == {"sf1": sf_task["Id"], "d1": dyn_id}
    # Found by its key, the retry wrote nothing; without the lookup it wrote once more,
    # and the CRM answered with the activity it already had.
    expected = 2 if blind else 1
    assert orgs.sf.creates == orgs.dyn.creates == expected


async def test_a_transcript_too_long_for_the_task_is_cut_to_fit_with_its_reference(
    one_store: Store, orgs: Orgs
) -> None:
    orgs.sf.hold = False
    ctx = Context(store=one_store, crms=Crms(orgs.sf), delivery=NoDelivery())
    long_call = interaction(
        "call-1", linked=(orgs.sf_contact,), details={"transcript": "word " * 8_000}
    )
    await store_due(ctx, long_call)
    await drain(make_worker(ctx))

    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.done, item.parked_reason
    [task] = orgs.salesforce.records["Task"].values()
    description = task["Description"]
    assert len(description) == TIMELINE_DESCRIPTION_MAX
    assert TRUNCATION_MARKER in description
    assert description.endswith(f"crmcard reference: {item.steps[0].idempotency_key}")
    assert "Truncated: Timeline description" in outbox.summarize([item])


@pytest.mark.parametrize(
    ("words", "truncated"),
    [(600, ["timeline description"]), (20, [])],
    ids=["longer-than-2000", "short"],
)
async def test_a_transcript_too_long_for_a_dynamics_task_is_cut_to_fit_and_said_so(
    one_store: Store, orgs: Orgs, words: int, truncated: list[str]
) -> None:
    """A Dataverse task's description holds 2,000 characters (Salesforce's 32,000): longer,
    Dataverse refuses the whole task (the fake answers 400 0x80044331), and the write-back
    would be parked. Written cut to fit, and the card and the admin's outbox say it was cut,
    as they say so of a cut at crmcard's own limit; a short one is written whole, unsaid."""
    orgs.dyn.hold = False
    ctx = Context(store=one_store, crms=Crms(orgs.dyn), delivery=NoDelivery())
    call = interaction(
        "call-1", linked=(orgs.dyn_contact,), details={"transcript": "word " * words}
    )
    await store_due(ctx, call)
    await drain(make_worker(ctx))

    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.done, item.parked_reason
    [task] = orgs.dataverse.rows["tasks"].values()
    description = task["description"]
    assert description.endswith(f"crmcard reference: {item.steps[0].idempotency_key}")
    assert (len(description) == 2_000) is bool(truncated)
    assert (TRUNCATION_MARKER in description) is bool(truncated)
    assert item.payload.truncated == truncated
    assert OutboxItemAnswer.of(item).truncated == truncated  # the admin's outbox API
    lines = await outbox.card_status(ctx.store, TENANT, "call-1")
    expected = ["Truncated: Timeline description"] if truncated else []
    assert lines == ["Written to 1 record ✓", *expected]


async def test_a_write_back_queued_while_its_dynamics_was_not_connected_is_cut_and_said_so(
    one_store: Store, orgs: Orgs
) -> None:
    """Queued while the tenant's Dynamics was not connected, the payload was built without
    its limits; delivered once it is connected again (a replay, or an outbox item of a
    version that did not know them), its too-long description is cut at delivery and named
    there, never cut unseen by the adapter."""
    orgs.dyn.hold = False
    queued = Context(store=one_store, crms=Crms(), delivery=NoDelivery())
    call = interaction("call-1", linked=(orgs.dyn_contact,), details={"transcript": "word " * 600})
    [pending] = await store_due(queued, call)
    assert pending.payload.truncated == []  # no limits known when it was built
    connected = Context(store=one_store, crms=Crms(orgs.dyn), delivery=NoDelivery())
    await drain(make_worker(connected))

    [item] = await outbox.list_items(one_store, TENANT)
    assert item.status is OutboxStatus.done, item.parked_reason
    [task] = orgs.dataverse.rows["tasks"].values()
    assert len(task["description"]) == 2_000 and TRUNCATION_MARKER in task["description"]
    assert task["description"].endswith(f"crmcard reference: {item.steps[0].idempotency_key}")
    assert item.payload.truncated == ["timeline description"]
    assert OutboxItemAnswer.of(item).truncated == ["timeline description"]
    lines = await outbox.card_status(one_store, TENANT, "call-1")
    assert lines == ["Written to 1 record ✓", "Truncated: Timeline description"]


async def test_a_mapped_field_too_long_for_its_dynamics_column_is_cut_and_said_so(
    one_store: Store, orgs: Orgs
) -> None:
    """A case's description holds 2,000 characters, its title 200 (written as the neutral
    ``subject``): notes mapped there are cut to fit, and named as cut."""
    orgs.dyn.hold = False
    case_id = orgs.dataverse.add("incidents", title="Broken widget", statuscode=1)
    case = await orgs.dyn.inner.get(RecordRef(crm="d1", type="case", id=case_id))
    mapping = MemorializationMapping(
        fields=[
            FieldMapping(source=SourceField.notes, target="description"),
            FieldMapping(source=SourceField.disposition, target="subject"),
            FieldMapping(source=SourceField.agent, target="title"),
        ],
        timeline=TimelineSettings(enabled=False),
    )
    await put_model(one_store, keys.memorialization(TENANT, "d1"), mapping)
    ctx = Context(store=one_store, crms=Crms(orgs.dyn), delivery=NoDelivery())
    details = {"notes": "n" * 2_500, "disposition": "d" * 201}
    await store_due(ctx, interaction("call-1", linked=(case,), details=details))
    await drain(make_worker(ctx))

    [item] = await outbox.list_items(ctx.store, TENANT)
    assert item.status is OutboxStatus.done, item.parked_reason
    row = orgs.dataverse.rows["incidents"][case_id]
    assert len(row["description"]) == 2_000 and row["description"].endswith(TRUNCATION_MARKER)
    assert item.payload.truncated == ["notes", "disposition"]  # the agent's name fits
    lines = await outbox.card_status(ctx.store, TENANT, "call-1")
    assert lines == ["Written to 1 record ✓", "Truncated: Notes, Disposition"]
