"""Ticket search, viewer and sync status over HTTP, with the app factory's wiring."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.tickets import TicketChannel
from bot.services.audit import Actor, Door
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.tickets import SYNCS, TICKETING
from tests.tickets.factories import ticket
from tests.tickets.fakes.zendesk_exports import ZendeskExports, zendesk_config

API = {"X-Api-Key": "demo-key"}
ADMIN = {"X-Admin-Key": "demo-admin-key"}


async def client_for(aiohttp_client: Callable[..., Any], settings: Settings) -> Any:
    app = create_app(settings.model_copy(update={"ticket_sync_minutes": 0}))
    return await aiohttp_client(app)


async def test_search_and_viewer_for_platforms_and_the_tab(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    client = await client_for(aiohttp_client, settings)
    archive = client.app[TICKETING].archive
    recent = datetime.now(UTC) - timedelta(days=1)
    await archive.put_tickets(
        [
            ticket("1", subject="Refund for order 77", closed_at=recent),
            ticket("2", subject="Login broken", channel=TicketChannel.chat, closed_at=recent),
            ticket("3", subject="Refund elsewhere", tenant_id="other-tenant", closed_at=recent),
        ]
    )

    found = await client.get("/api/tickets", params={"q": "refunds"}, headers=API)
    assert found.status == 200
    body = await found.json()
    assert [t["externalId"] for t in body["tickets"]] == ["1"]
    assert body["hasMore"] is False and body["pageSize"] == 20
    assert body["tickets"][0]["agentName"] == "Ada Lovelace"

    tab = await client.get("/api/tickets?channel=chat,email&sort=date&tenant=demo-tenant")
    assert tab.status == 200  # development mode: the tab names its tenant
    assert sorted(t["externalId"] for t in (await tab.json())["tickets"]) == ["1", "2"]
    past = await client.get("/api/tickets?email=edward@example.com&phone=%2B15550100", headers=API)
    assert len((await past.json())["tickets"]) == 2

    viewed = await client.get("/api/tickets/zendesk/1", headers=API)
    assert viewed.status == 200
    shown = await viewed.json()
    assert shown["openIn"] == {
        "label": "Open in Zendesk",
        "url": "https://example.zendesk.com/agent/tickets/1",
    }
    assert [m["fromAgent"] for m in shown["messages"]] == [False, True]
    assert "tenantId" not in shown

    other = await client.get("/api/tickets/zendesk/3", headers=API)
    assert other.status == 404  # another tenant's ticket


async def test_bad_searches_and_callers_are_refused(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    client = await client_for(aiohttp_client, settings)
    unknown = await client.get("/api/tickets", headers={"X-Api-Key": "nope"})
    assert unknown.status == 401
    assert "X-Api-Key" in (await unknown.json())["detail"]
    assert unknown.content_type == "application/problem+json"
    bad = await client.get(
        "/api/tickets?status=open&pageSize=1000&closedFrom=yesterday", headers=API
    )
    assert bad.status == 422
    fields = {d["loc"][0] for d in (await bad.json())["errors"]}
    assert {"statuses", "pageSize", "closedFrom"} <= fields


async def test_admin_starts_a_sync_and_reads_each_crms_last_sync(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    fake = ZendeskExports(clock=lambda: datetime.now(UTC).timestamp())
    ada = fake.add_user("Ada Lovelace", "ada@example.com")
    fake.add_ticket("Printer", assignee=ada, solved_at=datetime.now(UTC) - timedelta(days=1))
    fake.add_ticket("No agent", assignee=None, solved_at=datetime.now(UTC))
    server = await aiohttp_server(fake.app())
    client = await client_for(aiohttp_client, settings)
    ticketing = client.app[TICKETING]
    await ticketing.configs.create(
        zendesk_config(str(server.make_url(""))),
        Actor("test", Door.cli),
    )
    never = await (await client.get("/api/admin/tickets/sync", headers=ADMIN)).json()
    assert [(c["result"], c["rejectedCount"], c["lastSync"]) for c in never["crms"]] == [
        ("never", 0, None)
    ]

    unknown = await client.post("/api/admin/tickets/sync", json={"crmId": "nope"}, headers=ADMIN)
    assert unknown.status == 404
    started = await client.post("/api/admin/tickets/sync", json={"full": True}, headers=ADMIN)
    assert started.status == 202
    assert await started.json() == {"started": ["zendesk"], "full": True}
    await asyncio.gather(*client.app[SYNCS])

    status = await client.get("/api/admin/tickets/sync", headers=ADMIN)
    [crm] = (await status.json())["crms"]
    assert crm["crmId"] == "zendesk" and crm["kind"] == "zendesk"
    assert (crm["result"], crm["rejectedCount"]) == ("ok", 1)
    last = crm["lastSync"]
    assert (last["ticketsImported"], last["usersImported"], last["error"]) == (1, 1, None)
    assert last["rejected"] == [
        {
            "kind": "ticket",
            "externalId": last["rejected"][0]["externalId"],
            "reason": "no agent (assignee) on the ticket",
        }
    ]
    assert last["finishedAt"] is not None

    fake.outage_after = 0  # the CRM is down: the next sync stops with its error
    await client.post("/api/admin/tickets/sync", json={}, headers=ADMIN)
    await asyncio.gather(*client.app[SYNCS])
    [failed] = (await (await client.get("/api/admin/tickets/sync", headers=ADMIN)).json())["crms"]
    assert failed["result"] == "failed" and failed["lastSync"]["error"]
    assert (await client.get("/api/admin/tickets/sync")).status == 401
