"""The composition root: the one place where settings become running parts.

The server (:func:`bot.web.app.create_app`) and the CLI (``bot.cli``) both assemble what
they run here: the store, the secret box, the CRM directory, the Teams adapter and the
use cases' :class:`~bot.services.context.Context`, the write-back worker. Nothing below
this module builds its own parts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.adapters.crm.agent_tokens import AgentTokens
from bot.adapters.crm.demo import DemoCrm
from bot.adapters.crm.directory import StoreDirectory
from bot.adapters.storage.local import LocalStore
from bot.adapters.storage.secret_key import secret_box
from bot.adapters.teams.app_package import package_id
from bot.adapters.teams.delivery import TeamsDelivery
from bot.adapters.teams.sdk import Adapter, create_adapter
from bot.adapters.tickets.engine import ticketing_for
from bot.services import tenants
from bot.services.context import Context
from bot.services.crm import CrmClient
from bot.services.crm_configs import CrmConfigs
from bot.services.live import LiveCards, LiveDelivery, ObservedStore
from bot.services.platform_keys import KeyAuthenticator
from bot.services.publisher import CompositeDelivery
from bot.services.record_creation import on_event as record_creation_listener
from bot.services.retry import WRITEBACK
from bot.services.secret_box import SecretBox
from bot.services.store import Store
from bot.services.ticketing.past_tickets import PastTickets
from bot.services.ticketing.ticketing import Ticketing
from bot.services.writeback import WritebackWorker, outbox_listener
from bot.settings import Settings, StoreKind

if TYPE_CHECKING:
    from bot.adapters.storage.outbox_queue import AzureWorkQueue


def open_store(settings: Settings) -> Store:
    if settings.store is StoreKind.blob:
        # The Azure SDKs are imported where used: a fifth of the start-up time otherwise.
        from bot.adapters.storage.blob import BlobStore

        return BlobStore(
            settings.blob_connection_string.get_secret_value(), settings.blob_container
        )
    return LocalStore(settings.data_dir / "state.sqlite3")


def demo_crms(settings: Settings) -> list[CrmClient]:
    if not settings.uses_demo_crm:
        return []
    # "tier" on accounts: the subscription level routing rules look at
    return [DemoCrm(data_file=settings.data_dir / "demo-crm.json", extra_fields=("tier",))]


@dataclass
class Parts:
    """Everything a running crmcard is made of, wired together."""

    settings: Settings
    box: SecretBox
    store: Store
    """The store itself; ``ctx.store`` observes it for the open tabs."""
    adapter: Adapter
    live: LiveCards
    crm_configs: CrmConfigs
    crms: StoreDirectory
    ctx: Context
    agent_tokens: AgentTokens
    writeback: WritebackWorker
    queue: AzureWorkQueue | None
    key_auth: KeyAuthenticator
    """Platform keys (``X-Api-Key``) issued by the tenants' admins."""
    ticketing: Ticketing
    """The ticket archive and its sync from the ticketing CRMs."""


def assemble(
    settings: Settings, store: Store | None = None, live: LiveCards | None = None
) -> Parts:
    """The parts for ``settings``; ``store`` and ``live`` replace the configured ones (tests)."""
    box = secret_box(settings)  # refuses to start with the Blob store and no key
    store = store or open_store(settings)
    adapter = create_adapter(settings)
    # Open tabs hear about every card change, however it was made; changes made by other
    # instances are seen by watching the store while a tab of that agent is open here.
    live = live or LiveCards(watch_seconds=settings.live_watch_seconds)
    crm_configs = CrmConfigs(store, box, url_policy=settings.crm_url_policy)
    agent_tokens = AgentTokens(settings, store, box)
    crms = StoreDirectory(crm_configs, always=demo_crms(settings), agent_tokens=agent_tokens)

    async def known_tenants() -> list[str]:
        """Tenants named in the settings and every tenant that consented (self-onboarded)."""
        return list(dict.fromkeys([*settings.known_tenants, *await tenants.registered(store)]))

    async def served_tenants() -> list[str]:
        """The known tenants the gate lets in: those whose tickets are synced."""
        return [t for t in await known_tenants() if await tenants.is_served(store, settings, t)]

    async def tenant_gate(tenant_id: str) -> None:
        await tenants.check_tenant(store, settings, tenant_id)

    ticketing = ticketing_for(
        settings, crm_configs, lambda: crms.session, store, tenants=served_tenants
    )
    ctx = Context(
        store=ObservedStore(store, live),
        crms=crms,
        delivery=CompositeDelivery(
            TeamsDelivery(adapter, store, settings.app_id), LiveDelivery(live)
        ),
        crm_deadline=settings.crm_deadline_seconds,
        merge_undo_window=timedelta(days=settings.merge_undo_days),
        default_region=settings.default_region,
        icons=f"{settings.public_url.rstrip('/')}/icons",
        past_tickets=PastTickets(
            teams_app_id=settings.teams_app_id
            or (package_id(settings.app_id) if settings.app_id else ""),
            page_url=f"{settings.public_url.rstrip('/')}/tab/tickets",
            ticketing_on=ticketing.enabled_for,
        ),
    )
    live.bind(ctx)
    ctx.event_listeners.append(record_creation_listener)
    queue_connection = settings.writeback_queue_connection_string.get_secret_value()

    queue = None
    if queue_connection:
        from bot.adapters.storage.outbox_queue import AzureWorkQueue

        queue = AzureWorkQueue(queue_connection, settings.writeback_queue_name)
    writeback = WritebackWorker(
        ctx,
        poll_interval=settings.writeback_poll_seconds,
        lease=settings.writeback_lease_seconds,
        policy=replace(WRITEBACK, max_attempts=settings.writeback_max_attempts),
        queue=queue,
        recovery_days=settings.recovery_days,
        retention_tenants=known_tenants,
        audit_retention_days=settings.audit_retention_days,
        tenant_gate=tenant_gate,
    )
    ctx.event_listeners.append(outbox_listener(writeback))
    agent_tokens.sign_in_listeners.append(writeback.agent_signed_in)
    return Parts(
        settings=settings,
        box=box,
        store=store,
        adapter=adapter,
        live=live,
        crm_configs=crm_configs,
        crms=crms,
        ctx=ctx,
        agent_tokens=agent_tokens,
        writeback=writeback,
        queue=queue,
        key_auth=KeyAuthenticator(store),
        ticketing=ticketing,
    )
