"""The tenant registry: which tenants granted crmcard admin consent, and the gate on it.

One document per tenant (``tenants/<tid>/consent``) holds the current state and its
history: every grant and revocation with who and when, so the record is its own audit.

The gate (:func:`check_tenant`) is off when ``Settings.tenant_gate_enabled`` is false
(local demo, single-tenant deployments); the deployment's own tenant
(``MicrosoftAppTenantId``) always passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from urllib.parse import unquote

from pydantic import Field

from bot.domain.api_model import Model
from bot.errors import Unauthorized
from bot.i18n import t
from bot.services import audit, keys
from bot.services.audit import Actor, Door
from bot.services.store import AlreadyExists, Store, put, read_model, update


class TenantNotConsented(Unauthorized):
    """The tenant has not granted crmcard admin consent (or revoked it)."""

    def __init__(self, tenant_id: str, *, revoked: bool = False) -> None:
        self.tenant_id = tenant_id
        super().__init__(
            t(
                "crmcard is disabled for tenant {tenant}: its admin consent was revoked. An "
                "administrator of that tenant must grant admin consent again (open "
                "/admin/consent on this server).",
                tenant=tenant_id,
            )
            if revoked
            else t(
                "crmcard is not enabled for tenant {tenant}: an administrator of that tenant "
                "must grant admin consent first (open /admin/consent on this server).",
                tenant=tenant_id,
            )
        )


class ConsentEvent(Model):
    action: str  # "granted" | "revoked"
    at: datetime
    by: str
    detail: str = ""


class TenantConsent(Model):
    tenant_id: str
    consented: bool = False
    granted_at: datetime | None = None
    granted_by: str | None = None
    history: list[ConsentEvent] = Field(default_factory=list)


async def consent_of(store: Store, tenant_id: str) -> TenantConsent | None:
    return await read_model(store, keys.tenant_consent(tenant_id), TenantConsent)


async def is_consented(store: Store, tenant_id: str) -> bool:
    record = await consent_of(store, tenant_id)
    return record is not None and record.consented


async def _change(store: Store, tenant_id: str, event: ConsentEvent, door: Door) -> TenantConsent:
    recorded = await _save(store, tenant_id, event)
    await audit.record(
        store,
        tenant_id,
        Actor(event.by, door),
        f"consent.{event.action}",
        at=event.at,
        target=tenant_id,
        details={"detail": event.detail} if event.detail else None,
    )
    return recorded


async def registered(store: Store) -> list[str]:
    """Every tenant that ever granted consent (its data may need a retention sweep)."""
    return [
        unquote(key[len(keys.TENANT_REGISTRY_PREFIX) :])
        async for key in store.keys(keys.TENANT_REGISTRY_PREFIX)
    ]


async def _save(store: Store, tenant_id: str, event: ConsentEvent) -> TenantConsent:
    key = keys.tenant_consent(tenant_id)
    granted = event.action == "granted"
    if granted:
        await put(store, keys.tenant_registry(tenant_id), b"{}")

    def apply(record: TenantConsent) -> TenantConsent:
        return record.model_copy(
            update={
                "consented": granted,
                "granted_at": event.at if granted else record.granted_at,
                "granted_by": event.by if granted else record.granted_by,
                "history": [*record.history, event],
            }
        )

    try:
        fresh = apply(TenantConsent(tenant_id=tenant_id))
        await store.create(key, fresh.model_dump_json().encode())
        return fresh
    except AlreadyExists:
        return await update(store, key, TenantConsent, apply)


async def record_consent(
    store: Store,
    tenant_id: str,
    *,
    at: datetime,
    by: str,
    detail: str = "",
    door: Door = Door.api,
) -> TenantConsent:
    """The tenant's administrator granted consent (idempotent; each grant is recorded)."""
    return await _change(
        store, tenant_id, ConsentEvent(action="granted", at=at, by=by, detail=detail), door
    )


async def revoke(
    store: Store,
    tenant_id: str,
    *,
    at: datetime,
    by: str,
    detail: str = "",
    door: Door = Door.api,
) -> TenantConsent:
    """The tenant is refused again until it consents anew (its data stays untouched)."""
    return await _change(
        store, tenant_id, ConsentEvent(action="revoked", at=at, by=by, detail=detail), door
    )


class GateSettings(Protocol):
    """What the gate reads of the deployment's settings (``bot.settings.Settings``)."""

    @property
    def tenant_gate_enabled(self) -> bool: ...

    @property
    def app_tenant_id(self) -> str: ...


def gate_applies(settings: GateSettings, tenant_id: str) -> bool:
    if not settings.tenant_gate_enabled:
        return False
    return not (settings.app_tenant_id and tenant_id == settings.app_tenant_id)


async def refusal(
    store: Store, settings: GateSettings, tenant_id: str
) -> TenantNotConsented | None:
    """The gate's verdict on ``tenant_id``: ``None`` when it lets the tenant in, else the
    refusal to raise (a tenant that had consented is told its consent was revoked). The
    one phrasing of the rule; :func:`check_tenant` and :func:`is_served` ask it."""
    if not gate_applies(settings, tenant_id):
        return None
    record = await consent_of(store, tenant_id)
    if record is not None and record.consented:
        return None
    return TenantNotConsented(tenant_id, revoked=record is not None and bool(record.history))


async def check_tenant(store: Store, settings: GateSettings, tenant_id: str) -> None:
    """Raise :class:`TenantNotConsented` unless the gate lets ``tenant_id`` in."""
    refused = await refusal(store, settings, tenant_id)
    if refused is not None:
        raise refused


async def is_served(store: Store, settings: GateSettings, tenant_id: str) -> bool:
    """Whether the gate lets ``tenant_id`` in (the background work's question)."""
    return await refusal(store, settings, tenant_id) is None
