"""Which ticket archive engine the settings ask for (SQLite, the default, or PostgreSQL),
and ticketing assembled on it with the vendor ticket sources."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

import aiohttp

from bot.adapters.tickets.entra_password import ManagedIdentityPassword
from bot.adapters.tickets.sqlite import SqliteTicketArchive
from bot.services.crm_configs import CrmConfigs, StoredCrmConfig
from bot.services.store import Store
from bot.services.tenant_settings import default_region
from bot.services.ticketing.archive import TicketArchive
from bot.services.ticketing.ticketing import Ticketing
from bot.settings import Settings, TicketStoreKind

if TYPE_CHECKING:
    from bot.services.ticketing.sync import TicketSource


def open_archive(settings: Settings) -> TicketArchive:
    """The configured archive, not yet opened (call ``open()``)."""
    if settings.ticket_store is TicketStoreKind.postgres:
        dsn = settings.ticket_postgres_dsn.get_secret_value()
        if not dsn:
            raise ValueError("CRMCARD_TICKET_STORE=postgres needs CRMCARD_TICKET_POSTGRES_DSN")
        password = (
            ManagedIdentityPassword(settings.app_id) if settings.ticket_postgres_entra else None
        )
        # PostgreSQL's driver is imported where it is used, as the Azure SDKs are.
        from bot.adapters.tickets.postgres import PostgresTicketArchive

        return PostgresTicketArchive(dsn, password=password)
    return SqliteTicketArchive(settings.data_dir / "tickets.sqlite3")


def ticketing_for(
    settings: Settings,
    configs: CrmConfigs,
    session: Callable[[], aiohttp.ClientSession],
    store: Store,
    *,
    tenants: Callable[[], Awaitable[Iterable[str]]] | None = None,
) -> Ticketing:
    """Ticketing over the configured archive; sources share the CRM directory's session;
    the periodic sync covers ``tenants`` (none: the command line syncs one at a time)."""

    async def region(tenant_id: str) -> str:
        return await default_region(store, tenant_id, settings.default_region)

    def source(stored: StoredCrmConfig) -> TicketSource:
        # The vendors' exports (and the sync they feed) are imported by the first sync.
        from bot.adapters.crm.ticket_sources import ticket_source

        return ticket_source(stored, configs, session())

    ticketing = Ticketing(
        archive=open_archive(settings), configs=configs, sources=source, regions=region
    )
    if tenants is not None:
        ticketing.tenants = tenants
    return ticketing
