"""The message extension over real HTTP: search from the compose box, unfurl CRM links,
and "Link to my interaction" on a shared record card."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.domain.crm_config import CrmConfig
from bot.domain.interactions import Interaction
from bot.domain.record_links import RecordLink, parse
from bot.domain.records import CrmRecord, RecordRef
from bot.services import audit, keys
from bot.services.crm_configs import StoredCrmConfig
from bot.services.store import put_model, read_model
from bot.web.interactions import CONTEXT
from tests.activities import activity, card_action
from tests.adaptive_cards.parser import parser_messages
from tests.bot.test_customer_card_flow import install, start_call
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
GUID = "5f1a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
SYS_ID = "46d44a23a9fe19810012d100cca80666"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://contoso.lightning.force.com/lightning/r/Contact/003Hs00000AbCdEIAV/view",
            RecordLink(
                "salesforce", "contoso.lightning.force.com", "contact", "003Hs00000AbCdEIAV"
            ),
        ),
        (
            f"https://contoso.crm4.dynamics.com/main.aspx?appid=x&pagetype=entityrecord&etn=incident&id={{{GUID.upper()}}}",
            RecordLink("dynamics", "contoso.crm4.dynamics.com", "case", GUID),
        ),
        (
            "https://contoso.zendesk.com/agent/tickets/4711",
            RecordLink("zendesk", "contoso.zendesk.com", "case", "4711"),
        ),
        (
            "https://contoso.zendesk.com/agent/users/99",
            RecordLink("zendesk", "contoso.zendesk.com", "contact", "99"),
        ),
        (
            f"https://contoso.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3D{SYS_ID}",
            RecordLink("servicenow", "contoso.service-now.com", "incident", SYS_ID),
        ),
        (
            f"https://contoso.service-now.com/now/nav/ui/classic/params/target/customer_contact.do%3Fsys_id%3D{SYS_ID}",
            RecordLink("servicenow", "contoso.service-now.com", "customer_contact", SYS_ID),
        ),
        (
            "https://contoso.freshdesk.com/a/contacts/1234",
            RecordLink("freshdesk", "contoso.freshdesk.com", "contact", "1234"),
        ),
        (
            "https://contoso.kustomerapp.com/app/customers/5f2b6c1d9e0a",
            RecordLink("kustomer", "contoso.kustomerapp.com", "contact", "5f2b6c1d9e0a"),
        ),
        (
            "https://contoso.custhelp.com/AgentWeb/Bookmark/Incident/120",
            RecordLink("oracle", "contoso.custhelp.com", "case", "120"),
        ),
    ],
)
def test_record_links_of_every_vendor_are_read(url: str, expected: RecordLink) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://contoso.zendesk.com/agent/tickets/1",  # not https
        "https://contoso.zendesk.com/hc/en-us/articles/1",  # a help article, no record
        "https://zendesk.com.evil.example/agent/tickets/1",  # not the vendor's domain
        "https://contoso.crm4.dynamics.com/main.aspx?etn=contact&id=not-a-guid",
        "https://contoso.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3Dzz",
        "not a url at all",
    ],
)
def test_other_links_are_not_records(url: str) -> None:
    assert parse(url) is None


def extension_query(url: str, text: str | None, command: str = "searchRecords") -> dict[str, Any]:
    parameters = (
        [{"name": "initialRun", "value": "true"}]
        if text is None
        else [{"name": "query", "value": text}]
    )
    value = {
        "commandId": command,
        "parameters": parameters,
        "queryOptions": {"skip": 0, "count": 25},
    }
    return activity(url, "invoke", name="composeExtension/query", value=value)


async def answer(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/messages", json=body)
    assert response.status == 200, await response.text()
    found: dict[str, Any] = await response.json()
    return found


async def test_search_from_the_compose_box_lists_record_cards(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    result = (await answer(bot_client, extension_query(url, "Edward Ferrars")))["composeExtension"]
    assert result["type"] == "result" and result["attachmentLayout"] == "list"
    titles = [a["preview"]["content"]["title"] for a in result["attachments"]]
    assert "Edward Ferrars" in titles
    cards = [a["content"] for a in result["attachments"]]
    assert all(messages == [] for messages in parser_messages(cards))
    edward = cards[titles.index("Edward Ferrars")]
    [link] = [a for a in edward["actions"] if a["type"] == "Action.Execute"]
    assert link["verb"] == "linkToMine" and link["data"] == {"record": "demo:contact:C-2001"}
    by_phone = await answer(bot_client, extension_query(url, "+1 555 0100"))
    assert "Edward Ferrars" in str(by_phone)
    by_number = await answer(bot_client, extension_query(url, "CS-4001"))
    assert [a["content"]["body"][0]["text"] for a in by_number["composeExtension"]["attachments"]]


async def test_search_hints_and_refusals_are_messages(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    for body in (
        extension_query(url, None),
        extension_query(url, "   "),
        extension_query(url, "Nobody By This Name"),
        extension_query(url, "x", command="unknownCommand"),
    ):
        result = (await answer(bot_client, body))["composeExtension"]
        assert result["type"] == "message" and result["text"]


class OneRecordCrm:
    """A connected Zendesk configuration's client, answering ``get`` for one record."""

    settings_id = "zd"
    display_name = "Zendesk"

    def __init__(self) -> None:
        self.asked: list[RecordRef] = []

    async def get(self, ref: RecordRef) -> CrmRecord:
        self.asked.append(ref)
        return CrmRecord(
            ref=ref, title="Gate broken again", url="https://contoso.zendesk.com/agent/tickets/4711"
        )

    async def search(self, criteria: Any) -> list[CrmRecord]:
        return []


class Directory:
    def __init__(self, *clients: Any) -> None:
        self._clients = list(clients)

    async def clients(self, tenant_id: str) -> list[Any]:
        return self._clients


async def test_a_pasted_link_of_a_connected_crm_unfurls_to_its_record(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    assert bot_client.app is not None
    ctx = bot_client.app[CONTEXT]
    config = CrmConfig.model_validate(
        {
            "tenant_id": "demo-tenant",
            "settings_id": "zd",
            "kind": "zendesk",
            "display_name": "Zendesk",
            "base_url": "https://contoso.zendesk.com",
        }
    )
    now = datetime(2026, 12, 1, tzinfo=UTC)
    stored = StoredCrmConfig(config=config, created_at=now, updated_at=now, updated_by="test")
    await put_model(ctx.store, keys.crm_config("demo-tenant", "zd"), stored)
    crm = OneRecordCrm()
    ctx.crms = Directory(crm)

    def link(address: str) -> dict[str, Any]:
        return activity(url, "invoke", name="composeExtension/queryLink", value={"url": address})

    result = await answer(bot_client, link("https://contoso.zendesk.com/agent/tickets/4711"))
    [attachment] = result["composeExtension"]["attachments"]
    assert attachment["content"]["body"][0]["text"] == "Gate broken again"
    assert crm.asked == [RecordRef(crm="zd", type="case", id="4711")]
    # Another company's Zendesk, or no record page: nothing to unfurl, and no CRM call.
    for other in ("https://fabrikam.zendesk.com/agent/tickets/1", "https://example.com/x"):
        result = await answer(bot_client, link(other))
        assert result["composeExtension"]["attachments"] == []
    assert len(crm.asked) == 1


async def test_link_to_my_interaction_pins_the_shared_record(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    _, url = connector
    await install(bot_client, url)
    await start_call(bot_client)
    body = card_action(url, "linkToMine", {"record": "demo:case:CS-4001"})
    result = await answer(bot_client, body)
    assert result["type"] == "application/vnd.microsoft.activity.message", result
    assert bot_client.app is not None
    ctx = bot_client.app[CONTEXT]
    interaction = await read_model(
        ctx.store, keys.interaction("demo-tenant", "call-1"), Interaction
    )
    assert interaction is not None and "demo:case:CS-4001" in interaction.shown.current
    assert "demo:case:CS-4001" in interaction.linked_keys()
    [entry] = await audit.query(ctx.store, "demo-tenant", audit.AuditQuery(kind="card.link"))
    assert entry.target == "demo:case:CS-4001" and entry.details["via"] == "shared card"
    # A colleague without an open interaction gets a clear refusal, nothing changes.
    stranger = card_action(url, "linkToMine", {"record": "demo:case:CS-4001"})
    stranger["from"] = {**stranger["from"], "aadObjectId": "someone-else"}
    refused = await answer(bot_client, stranger)
    assert refused["type"] == "application/vnd.microsoft.error" and refused["statusCode"] == 404
    forged = await answer(bot_client, card_action(url, "linkToMine", {"record": "no key"}))
    assert forged["statusCode"] in (400, 422)


async def test_a_record_card_posted_in_the_bots_chat_gets_no_reply(
    bot_client: Client, connector: tuple[FakeConnector, str]
) -> None:
    """The agent inserts a record card from the compose box into their chat with crmcard:
    a message with the card attached and only Teams' placeholder as text."""
    fake, url = connector
    await install(bot_client, url)
    found = await answer(bot_client, extension_query(url, "Edward"))
    card = found["composeExtension"]["attachments"][0]
    shared = activity(
        url,
        "message",
        text='<span class="inline-compose-card" itemid="0" '
        'itemtype="http://schema.skype.com/InputExtension">&nbsp;</span>',
        attachments=[{"contentType": card["contentType"], "content": card["content"]}],
    )
    before = len(fake.sent)
    response = await bot_client.post("/api/messages", json=shared)
    assert response.status in (200, 201), await response.text()
    assert len(fake.sent) == before, "no 'I didn't understand' for a shared card"
    words = activity(url, "message", text="help", attachments=shared["attachments"])
    response = await bot_client.post("/api/messages", json=words)
    assert response.status in (200, 201) and len(fake.sent) == before + 1  # words still count


def test_the_package_listens_for_the_tenants_crm_links() -> None:
    from bot.adapters.teams.app_package import AppPackageError, render_manifest, validate_manifest

    ids = {"bot_app_id": GUID, "sso_app_id": GUID, "base_url": "https://crmcard.example.com"}
    domains = ["contoso.zendesk.com", "contoso.lightning.force.com"]
    manifest = render_manifest(**ids, version="1.0.0", link_domains=domains)
    validate_manifest(manifest)
    [extension] = manifest["composeExtensions"]
    assert extension["commands"][0]["id"] == "searchRecords"
    assert extension["messageHandlers"] == [
        {
            "type": "link",
            "value": {"domains": ["contoso.zendesk.com", "contoso.lightning.force.com"]},
        }
    ]
    assert "messageHandlers" not in render_manifest(**ids, version="1.0.0")["composeExtensions"][0]
    with pytest.raises(AppPackageError, match="host name"):
        render_manifest(**ids, version="1.0.0", link_domains=["https://evil.example/x"])
