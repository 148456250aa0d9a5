"""Dynamic data mappings end to end: admin API -> interaction -> the card's Contact section,
with the demo CRM and the Freshdesk contract fake connected side by side."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from bot.domain.interactions import Interaction
from bot.services import keys
from bot.services.card_view import build_view
from bot.services.cards import get_card
from bot.services.rendering import card_for
from bot.services.store import read_model
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.crm.fakes.freshdesk import FreshdeskFake

from .test_admin_api import A

EVENT = {
    "interactionId": "call-1",
    "event": "assigned",
    "occurredAt": datetime(2026, 11, 23, 8, 0, tzinfo=UTC).isoformat(),
    "channel": "voice",
    "agent": {"aadObjectId": "agent-1"},
    "customer": {"phone": "+1 555 0100"},
}


async def test_mapped_fields_show_on_the_contact_section(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], admin_settings: Any
):
    fake = FreshdeskFake()
    edward = fake.add_contact("Edward Ferrars", "edward@fd.example", "+15550100")
    edward["job_title"] = "Heir (Freshdesk)"
    edward["time_zone"] = "London"
    server = await aiohttp_server(fake.app)
    app = create_app(admin_settings)
    client: TestClient[Any, Any] = await aiohttp_client(app)

    demo = {
        "settingsId": "demo-crm",
        "kind": "demo",
        "displayName": "Demo CRM",
        "fieldMappings": [
            {"crmField": "contact.title", "cardField": "Job title"},
            {"crmField": "language", "cardField": "Speaks"},
        ],
    }
    freshdesk = {
        "settingsId": "fd",
        "kind": "freshdesk",
        "displayName": "Freshdesk",
        "baseUrl": str(server.make_url("")).rstrip("/"),
        "auth": {"type": "api_key"},
        "secret": "fd-api-key",
        "fieldMappings": [
            {"crmField": "job_title", "cardField": "Job title"},  # demo's comes first
            {"crmField": "time_zone", "cardField": "Time zone"},
            {"crmField": "missing_field", "cardField": "Never shown"},
        ],
    }
    for config in (demo, freshdesk):
        response = await client.post("/api/admin/crms", json=config, headers=A)
        assert response.status == 201, await response.text()

    posted = await client.post("/api/interactions", json=EVENT, headers={"X-Api-Key": "api-a"})
    assert posted.status == 202, await posted.text()

    ctx = app[CONTEXT]
    interaction = await read_model(ctx.store, keys.interaction("tenant-a", "call-1"), Interaction)
    assert interaction is not None
    assert interaction.shown.problems == {}
    card = await get_card(ctx.store, "tenant-a", interaction.card_id)
    assert card is not None
    view = build_view(card, interaction, crm_connected=True)
    fields = {f["label"]: f["value"] for f in view["contactFields"]}
    assert fields == {
        "Phone": "+1 5550100",
        "Job title": "Heir apparent",
        "Speaks": "English",
        "Time zone": "London",
    }
    rendered = str(await card_for(ctx, interaction))
    assert "Job title" in rendered and "Heir apparent" in rendered and "London" in rendered


async def test_without_mappings_the_contact_section_is_unchanged(
    aiohttp_client: Callable[..., Any], settings: Any
):
    app = create_app(settings)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    posted = await client.post("/api/interactions", json=EVENT, headers={"X-Api-Key": "demo-key"})
    assert posted.status == 202
    ctx = app[CONTEXT]
    interaction = await read_model(
        ctx.store, keys.interaction("demo-tenant", "call-1"), Interaction
    )
    assert interaction is not None
    card = await get_card(ctx.store, "demo-tenant", interaction.card_id)
    assert card is not None
    labels = [
        f["label"] for f in build_view(card, interaction, crm_connected=True)["contactFields"]
    ]
    assert labels == ["Phone", "Language"]
