"""How a tenant's crmcard fares, for the admin's overview.

* consent: whether the tenant gate applies to the tenant and, if so, whether (and when,
  by whom) admin consent was granted;
* each CRM connection: the last "test connection" result (kept in the store, so every
  instance shows it), the circuit state of the answering instance, and the error rate of
  the last minutes on all instances (:mod:`bot.services.instance_counts`; counted afresh
  when the configuration changes: its new client starts with a closed circuit and no
  calls);
* the identification rate: the share of new interactions of the last 24 hours whose
  caller crmcard found in a CRM (a person-level record: contact, lead or account), on
  all instances.

Nothing here changes anything but the stored last test.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import Field

from bot.domain.api_model import ApiModel
from bot.services import keys, tenants
from bot.services.crm_configs import StoredCrmConfig
from bot.services.instance_counts import ConnectionCounts, InstanceCounts
from bot.services.recent import Bucket, RecentByTenant, RecentOutcomes, Tally
from bot.services.store import Store, put_model, read_model
from bot.services.tenants import GateSettings


class LastTest(ApiModel):
    """The outcome of the connection's last "test connection", and when it ran."""

    ok: bool
    outcome: str
    message: str
    elapsed_ms: float
    at: datetime


class LiveConnection(ApiModel):
    """What this instance knows of a connection it has called: circuit and recent calls."""

    version: int = Field(description="the configuration's version the client was built for")
    circuit: str = Field(description="closed | open | half_open | none (not called here yet)")
    recent: Tally
    counts: list[Bucket] = Field(default_factory=list, description="the calls, per minute")


class ConnectionHealth(ApiModel):
    settings_id: str
    display_name: str
    kind: str
    enabled: bool
    last_test: LastTest | None = None
    circuit: str = Field(
        "none",
        description="closed | open (crmcard stopped calling it for a while) | half_open "
        "(one probe call allowed) | none (this instance has not called it yet)",
    )
    recent_calls: int = Field(0, description="calls of the last window, on all instances")
    recent_errors: int = 0
    error_rate: float | None = Field(None, description="recentErrors / recentCalls; null: none")
    window_seconds: int


class ConsentState(ApiModel):
    required: bool = Field(description="false: this deployment does not gate the tenant")
    consented: bool
    granted_at: datetime | None = None
    granted_by: str | None = None


class Identification(ApiModel):
    window_seconds: int
    interactions: int = Field(description="new interactions in the window, on all instances")
    identified: int = Field(description="of them, with the caller found in a CRM")
    rate: float | None = Field(None, description="identified / interactions; null: none yet")


class TenantHealth(ApiModel):
    tenant_id: str
    consent: ConsentState
    crms: list[ConnectionHealth]
    identification: Identification


async def record_test(store: Store, tenant_id: str, settings_id: str, result: LastTest) -> None:
    await put_model(store, keys.crm_last_test(tenant_id, settings_id), result)


async def last_test(store: Store, tenant_id: str, settings_id: str) -> LastTest | None:
    return await read_model(store, keys.crm_last_test(tenant_id, settings_id), LastTest)


async def last_test_of(store: Store, stored: StoredCrmConfig) -> LastTest | None:
    """The configuration's last test; one of a deleted namesake before it does not count."""
    config = stored.config
    tested = await last_test(store, config.tenant_id, config.settings_id)
    return tested if tested is not None and tested.at >= stored.created_at else None


def note_caller(stats: RecentByTenant, tenant_id: str, identified: bool, at: datetime) -> None:
    """Count a new interaction, identified or not, for the identification rate."""
    stats.record(tenant_id, at.timestamp(), identified)


async def consent_state(store: Store, settings: GateSettings, tenant_id: str) -> ConsentState:
    record = await tenants.consent_of(store, tenant_id)
    return ConsentState(
        required=tenants.gate_applies(settings, tenant_id),
        consented=record is not None and record.consented,
        granted_at=record.granted_at if record else None,
        granted_by=record.granted_by if record else None,
    )


def counted_here(
    instance_id: str,
    callers: RecentByTenant,
    live: Mapping[str, LiveConnection],
    tenant_id: str,
    at: datetime,
) -> InstanceCounts:
    """What this instance counted for the tenant, to share with the other instances."""
    return InstanceCounts(
        instance_id=instance_id,
        at=at,
        callers=callers.counts(tenant_id),
        calls={
            settings_id: ConnectionCounts(version=seen.version, buckets=seen.counts)
            for settings_id, seen in live.items()
        },
    )


async def tenant_health(
    store: Store,
    settings: GateSettings,
    tenant_id: str,
    configs: list[StoredCrmConfig],
    live: Mapping[str, LiveConnection],
    callers: RecentByTenant,
    now: datetime,
    others: list[InstanceCounts],
) -> TenantHealth:
    """The overview's figures; ``live`` is the directory's view of the tenant's clients
    here, ``others`` what the other instances counted (:func:`instance_counts.of_others`)."""
    crms = []
    for stored in configs:
        config = stored.config
        seen = live.get(config.settings_id)
        shared = [
            calls.buckets
            for other in others
            if (calls := other.calls.get(config.settings_id)) and calls.version == stored.version
        ]
        mine = [seen.counts] if seen and seen.version == stored.version else []
        recent = RecentOutcomes().tally(now.timestamp(), [*shared, *mine])
        crms.append(
            ConnectionHealth(
                settings_id=config.settings_id,
                display_name=config.display_name,
                kind=config.kind.value,
                enabled=config.enabled,
                last_test=await last_test_of(store, stored),
                circuit=seen.circuit if seen else "none",
                recent_calls=recent.total,
                recent_errors=recent.bad,
                error_rate=None if recent.good_share is None else 1 - recent.good_share,
                window_seconds=recent.window_seconds,
            )
        )
    seen_callers = callers.tally(tenant_id, now.timestamp(), [o.callers for o in others])
    return TenantHealth(
        tenant_id=tenant_id,
        consent=await consent_state(store, settings, tenant_id),
        crms=crms,
        identification=Identification(
            window_seconds=seen_callers.window_seconds,
            interactions=seen_callers.total,
            identified=seen_callers.good,
            rate=seen_callers.good_share,
        ),
    )
