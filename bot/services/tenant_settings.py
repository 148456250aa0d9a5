"""Reading and changing a tenant's settings document (``tenants/<tid>/settings``).

A tenant that never chose gets the deployment's defaults (``CRMCARD_DEFAULT_REGION``,
carried by the Context), so services always have a region to read numbers with. Every
change is one entry of the tenant's audit stream (kind ``tenant.settings``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.domain.tenant_settings import TenantSettings
from bot.services import audit, keys
from bot.services.audit import Actor
from bot.services.store import Store, read_model

if TYPE_CHECKING:
    from bot.services.context import Context


async def stored_settings(store: Store, tenant_id: str) -> TenantSettings | None:
    return await read_model(store, keys.tenant_settings(tenant_id), TenantSettings)


async def tenant_settings(store: Store, tenant_id: str, default_region: str) -> TenantSettings:
    """The tenant's settings, the deployment's defaults where it chose nothing."""
    stored = await stored_settings(store, tenant_id)
    return stored or TenantSettings(default_region=default_region)


async def default_region(store: Store, tenant_id: str, fallback: str) -> str:
    """Region of the tenant's phone numbers written without a country code."""
    return (await tenant_settings(store, tenant_id, fallback)).default_region


async def region_of(ctx: Context, tenant_id: str) -> str:
    """:func:`default_region`, kept a few seconds (``ctx.regions``): every interaction
    event reads numbers with it, and it changes a few times a tenant's life."""
    return await ctx.regions.get(
        tenant_id, lambda: default_region(ctx.store, tenant_id, ctx.default_region)
    )


async def put_settings(
    store: Store, tenant_id: str, settings: TenantSettings, actor: Actor, at: datetime
) -> None:
    """Replace the tenant's settings (one admin document: last writer wins), audited."""
    await audit.write_audited(
        store,
        tenant_id,
        keys.tenant_settings(tenant_id),
        TenantSettings,
        settings,
        actor,
        "tenant.settings",
        at=at,
        target=tenant_id,
    )
