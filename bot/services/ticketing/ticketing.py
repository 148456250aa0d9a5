"""Ticketing use cases: sync a tenant's ticketing CRMs, search and read tickets, purge.

Which CRMs are synced is each CRM configuration's business: Salesforce and Zendesk
configurations with ``ticketing`` switched on. Sources are built by an injected factory
(the adapters know the vendors); the archive is the port. In a server, :meth:`run`
syncs every known tenant (named in the settings, or consented) every ``interval`` and
purges tickets past retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.domain.crm_config import CrmConfig, CrmKind
from bot.domain.identifiers import DEFAULT_REGION
from bot.domain.tickets import ImportReport, Ticket, purge_cutoff
from bot.i18n import t
from bot.services import audit
from bot.services.audit import Actor
from bot.services.crm import CrmError
from bot.services.crm_configs import CrmConfigs, StoredCrmConfig
from bot.services.tenant_cache import PerTenant
from bot.services.ticketing.archive import SyncState, TicketArchive, TicketPage, TicketQuery

if TYPE_CHECKING:
    from bot.services.ticketing.sync import ProgressHook, TicketSource

log = logging.getLogger(__name__)

TICKETING_KINDS = frozenset({CrmKind.SALESFORCE, CrmKind.ZENDESK})

SourceFactory = Callable[[StoredCrmConfig], "TicketSource"]


class UnknownTicketingCrm(LookupError):
    """No enabled Salesforce or Zendesk configuration with ticketing under that id."""


def ticketing_on(config: CrmConfig) -> bool:
    return (
        config.enabled
        and config.kind in TICKETING_KINDS
        and config.ticketing is not None
        and config.ticketing.enabled
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def _deployment_region(tenant_id: str) -> str:
    return DEFAULT_REGION


async def _no_tenants() -> list[str]:
    return []


@dataclass
class Ticketing:
    archive: TicketArchive
    configs: CrmConfigs
    sources: SourceFactory
    clock: Callable[[], datetime] = _now
    regions: Callable[[str], Awaitable[str]] = field(default=_deployment_region)
    """The tenant's default phone region (for requesters' numbers)."""
    tenants: Callable[[], Awaitable[Iterable[str]]] = _no_tenants
    """The tenants :meth:`run` syncs: those of the settings and every consented one."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _running: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    _enabled: PerTenant[bool] = field(default_factory=PerTenant)

    def __post_init__(self) -> None:
        self.configs.listeners.append(self._enabled.forget)

    async def enabled_for(self, tenant_id: str) -> bool:
        """Whether the tenant has a CRM with ticketing on (kept a few seconds, forgotten
        when a configuration changes here): the card asks on every render."""

        async def load() -> bool:
            return bool(await self.ticketing_crms(tenant_id))

        return await self._enabled.get(tenant_id, load)

    async def ticketing_crms(self, tenant_id: str) -> list[StoredCrmConfig]:
        return [s for s in await self.configs.list(tenant_id) if ticketing_on(s.config)]

    async def audit_start(
        self, tenant_id: str, actor: Actor, crm_ids: list[str], *, full: bool
    ) -> None:
        """An admin started a sync (``ticket.sync``: which CRMs, full or not), before it runs;
        the server's own periodic syncs are not admin actions and are not audited."""
        await audit.record(
            self.configs.store,
            tenant_id,
            actor,
            "ticket.sync",
            at=self.clock(),
            target=crm_ids[0] if len(crm_ids) == 1 else None,
            details={"crms": crm_ids, "full": full},
        )

    async def sync(
        self,
        tenant_id: str,
        *,
        crm_id: str | None = None,
        full: bool = False,
        progress: ProgressHook | None = None,
    ) -> list[ImportReport]:
        """Sync each ticketing CRM of the tenant (or only ``crm_id``), one after another;
        a CRM whose sync is already running here is skipped."""
        crms = await self.ticketing_crms(tenant_id)
        if crm_id is not None:
            crms = [s for s in crms if s.config.settings_id == crm_id]
            if not crms:
                raise UnknownTicketingCrm(
                    t("no CRM {crm} with ticketing switched on", crm=repr(crm_id))
                )
        reports = []
        for stored in crms:
            lock = self._running.setdefault((tenant_id, stored.config.settings_id), asyncio.Lock())
            if lock.locked():
                continue
            async with lock:
                reports.append(await self._sync_one(tenant_id, stored, full, progress))
        return reports

    async def _sync_one(
        self, tenant_id: str, stored: StoredCrmConfig, full: bool, progress: ProgressHook | None
    ) -> ImportReport:
        config = stored.config
        assert config.ticketing is not None
        try:
            source = self.sources(stored)
        except CrmError as error:
            report = ImportReport(
                crm_id=config.settings_id, started_at=self.clock(), error=str(error)
            )
            report.finished_at = report.started_at
            state = await self.archive.sync_state(tenant_id, config.settings_id) or SyncState(
                tenant_id=tenant_id, crm_id=config.settings_id
            )
            state.last_report = report
            await self.archive.put_sync_state(state)
            return report
        # The sync is imported by the first one: a server whose tenants have no ticketing
        # CRM never runs one.
        from bot.services.ticketing.sync import TicketSync

        sync = TicketSync(
            self.archive,
            source,
            tenant_id,
            channel_map=dict(config.ticketing.channel_map),
            language=config.ticketing.language,
            default_region=await self.regions(tenant_id),
            clock=self.clock,
            progress=progress,
        )
        return await sync.run(full=full)

    async def last_syncs(self, tenant_id: str) -> list[SyncState]:
        return await self.archive.sync_states(tenant_id)

    async def search(self, tenant_id: str, query: TicketQuery) -> TicketPage:
        return await self.archive.search(tenant_id, query)

    async def ticket(self, tenant_id: str, crm_id: str, external_id: str) -> Ticket | None:
        return await self.archive.ticket(tenant_id, crm_id, external_id)

    async def purge(self) -> int:
        """Delete every ticket past its 90 days, search index included."""
        return await self.archive.purge(purge_cutoff(self.clock()))

    async def run(self, interval: float) -> None:
        """Forever: purge, then sync the ticketing CRMs of every tenant of :attr:`tenants`;
        wait ``interval``."""
        while True:
            try:
                purged = await self.purge()
                if purged:
                    log.info("purged %d tickets past retention", purged)
                for tenant_id in await self.tenants():
                    for report in await self.sync(tenant_id):
                        log.info(
                            "ticket sync %s/%s: %d imported, %d skipped%s",
                            tenant_id,
                            report.crm_id,
                            report.tickets_imported,
                            report.skipped,
                            f", stopped: {report.error}" if report.error else "",
                        )
            except Exception:  # the loop must outlive any one bad round
                log.exception("ticket sync round failed")
            await self.sleep(interval)


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
