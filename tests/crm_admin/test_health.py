"""``GET /api/admin/health``: consent, each connection's last test, circuit and recent
error rate, and the share of new interactions whose caller was identified."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.services import tenants
from bot.services.recent import RecentByTenant, RecentOutcomes
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT
from tests.activities import interaction_event
from tests.crm.fakes.freshdesk import FreshdeskFake

Client = TestClient[Any, Any]
A = {"X-Admin-Key": "admin-a"}
B = {"X-Admin-Key": "admin-b"}
PLATFORM_A = {"X-Api-Key": "api-a"}


def test_recent_outcomes_count_only_their_window() -> None:
    recent = RecentOutcomes(bucket_seconds=60, buckets=3)
    recent.record(0, False)  # minute 0
    recent.record(61, True)  # minute 1
    recent.record(62, False)
    recent.record(150, True)  # minute 2
    assert (recent.tally(150).total, recent.tally(150).good) == (4, 2)
    later = recent.tally(185)  # minute 3: minute 0 has left the window
    assert (later.total, later.good, later.bad, later.window_seconds) == (3, 2, 1, 180)
    assert recent.tally(10_000).total == 0 and recent.tally(10_000).good_share is None
    for second in range(1000):  # memory stays at the window's buckets
        recent.record(second * 60, True)
    assert len(recent._counts) == 3


def test_recent_outcomes_are_kept_per_tenant() -> None:
    callers = RecentByTenant(bucket_seconds=3600, buckets=24)
    callers.record("a", 0, True)
    callers.record("a", 10, False)
    assert callers.tally("a", 20).good_share == 0.5
    assert callers.tally("b", 20).total == 0


async def _health(client: Client, headers: dict[str, str] = A) -> dict[str, Any]:
    response = await client.get("/api/admin/health", headers=headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _call(client: Client, n: int, phone: str) -> None:
    event = interaction_event(f"health-{n}", "assigned", customer={"phone": phone})
    response = await client.post("/api/interactions", json=event, headers=PLATFORM_A)
    assert response.status == 202, await response.text()


async def connect_freshdesk(admin: Client, url: str) -> None:
    """Tenant A's admin connects the Freshdesk fake at ``url``."""
    config = {
        "settingsId": "fd",
        "kind": "freshdesk",
        "displayName": "Freshdesk",
        "baseUrl": url,
        "auth": {"type": "api_key"},
        "secret": "fd-api-key",
    }
    assert (await admin.post("/api/admin/crms", json=config, headers=A)).status == 201


async def test_health_needs_an_admin(admin: Client) -> None:
    refused = await admin.get("/api/admin/health")
    assert refused.status == 401
    assert refused.content_type == "application/problem+json"
    assert (await admin.get("/api/admin/health", headers=PLATFORM_A)).status == 401


async def test_health_reports_tests_errors_and_identified_callers(
    admin: Client, freshdesk: tuple[FreshdeskFake, str]
) -> None:
    _, url = freshdesk
    await connect_freshdesk(admin, url)

    fresh = await _health(admin)
    assert fresh["consent"] == {
        "required": False,
        "consented": False,
        "grantedAt": None,
        "grantedBy": None,
    }
    [crm] = fresh["crms"]
    assert (crm["settingsId"], crm["displayName"], crm["kind"]) == ("fd", "Freshdesk", "freshdesk")
    assert crm["lastTest"] is None and crm["circuit"] == "none"
    assert (crm["recentCalls"], crm["errorRate"]) == (0, None)
    assert fresh["identification"]["interactions"] == 0
    assert fresh["identification"]["rate"] is None

    assert (await admin.post("/api/admin/crms/fd/test", headers=A)).status == 200
    tested = (await _health(admin))["crms"][0]["lastTest"]
    assert tested["ok"] is True and tested["outcome"] == "ok" and tested["at"]

    await _call(admin, 1, "+1 415 555 0100")  # Jane Doe: identified
    await _call(admin, 2, "+1 415 555 0199")  # nobody
    served = (await _health(admin))["crms"][0]
    assert served["circuit"] == "closed" and served["recentCalls"] >= 2, served
    assert (served["recentErrors"], served["errorRate"]) == (0, 0.0)
    # a changed configuration is counted afresh: its new client has its own calls
    await admin.post("/api/admin/crms/fd/rotate-secret", json={"secret": "wrong"}, headers=A)
    await _call(admin, 3, "+1 415 555 0100")  # the CRM refuses crmcard: not identified
    assert (await admin.post("/api/admin/crms/fd/test", headers=A)).status == 200

    seen = await _health(admin)
    [crm] = seen["crms"]
    assert crm["lastTest"]["ok"] is False and crm["lastTest"]["outcome"] == "auth_failed"
    assert crm["circuit"] == "closed"
    assert crm["recentCalls"] >= 1 and crm["recentErrors"] == crm["recentCalls"], crm
    assert crm["errorRate"] == 1.0
    assert crm["windowSeconds"] == 900
    identification = seen["identification"]
    assert (identification["interactions"], identification["identified"]) == (3, 1)
    assert identification["rate"] == pytest.approx(1 / 3)
    assert identification["windowSeconds"] == 24 * 3600

    # deleted and made again under the same ID: the old one's test is not the new one's
    assert (await admin.delete("/api/admin/crms/fd", headers=A)).status == 204
    await connect_freshdesk(admin, url)
    assert (await _health(admin))["crms"][0]["lastTest"] is None

    other = await _health(admin, B)  # tenant B sees none of it
    assert other["tenantId"] == "tenant-b" and other["crms"] == []
    assert other["identification"]["interactions"] == 0


async def test_health_shows_a_circuit_opened_by_a_failing_crm(
    admin: Client, freshdesk: tuple[FreshdeskFake, str]
) -> None:
    fake, url = freshdesk
    await connect_freshdesk(admin, url)
    fake.faults.fail_next = [500] * 10  # more than the circuit's 5 consecutive failures
    for _ in range(2):  # each call retries its attempts; the second ends on the open circuit
        answer = await admin.post(
            "/api/admin/crms/fd/preview", json={"email": "jane@example.com"}, headers=A
        )
        assert answer.status == 503, await answer.text()
    [crm] = (await _health(admin))["crms"]
    assert crm["circuit"] == "open"
    assert (crm["recentCalls"], crm["recentErrors"], crm["errorRate"]) == (2, 2, 1.0)


async def test_health_says_when_and_by_whom_a_gated_tenant_granted_consent(
    aiohttp_client: Callable[..., Any], admin_settings: Settings
) -> None:
    gated = admin_settings.model_copy(update={"tenant_gate": True})
    client: Client = await aiohttp_client(create_app(gated))
    refused = await client.get("/api/admin/health", headers=A)  # the gate answers first
    assert refused.status == 401 and "admin consent" in (await refused.json())["detail"]
    granted_at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    ctx = client.app[CONTEXT]
    await tenants.record_consent(ctx.store, "tenant-a", at=granted_at, by="ada@a.example")
    consent = (await _health(client))["consent"]
    assert consent["required"] is True and consent["consented"] is True
    assert consent["grantedBy"] == "ada@a.example"
    assert datetime.fromisoformat(consent["grantedAt"]) == granted_at
