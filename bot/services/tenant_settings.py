"""Reading and changing a tenant's settings document (``tenants/<tid>/settings``).

A tenant that never chose gets the deployment's defaults (``CRMCARD_DEFAULT_REGION``,
carried by the Context), so services always have a region to read numbers with.
"""

from __future__ import annotations

from bot.domain.tenant_settings import TenantSettings
from bot.services import keys
from bot.services.store import Store, put_model, read_model


async def stored_settings(store: Store, tenant_id: str) -> TenantSettings | None:
    return await read_model(store, keys.tenant_settings(tenant_id), TenantSettings)


async def tenant_settings(store: Store, tenant_id: str, default_region: str) -> TenantSettings:
    """The tenant's settings, the deployment's defaults where it chose nothing."""
    stored = await stored_settings(store, tenant_id)
    return stored or TenantSettings(default_region=default_region)


async def default_region(store: Store, tenant_id: str, fallback: str) -> str:
    """Region of the tenant's phone numbers written without a country code."""
    return (await tenant_settings(store, tenant_id, fallback)).default_region


async def put_settings(store: Store, tenant_id: str, settings: TenantSettings) -> None:
    """Replace the tenant's settings (one admin document: last writer wins)."""
    await put_model(store, keys.tenant_settings(tenant_id), settings)
