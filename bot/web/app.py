"""The application factory: the one place where settings become running parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from bot.adapters.crm.demo import DemoCrm
from bot.adapters.crm.directory import StoreDirectory
from bot.adapters.storage.local import LocalStore
from bot.adapters.storage.secret_key import secret_box
from bot.adapters.teams.bot import CrmCardBot
from bot.adapters.teams.delivery import TeamsDelivery
from bot.adapters.teams.routes import ADAPTER, BOT, post_activity
from bot.adapters.teams.sdk import close_adapter, create_adapter
from bot.adapters.tickets.engine import ticketing_for
from bot.services import merge, tenants
from bot.services.agent_tokens import AgentTokens
from bot.services.context import Context
from bot.services.crm import CrmClient
from bot.services.crm_configs import CrmConfigs
from bot.services.live import LiveCards, LiveDelivery, ObservedStore
from bot.services.platform_keys import KeyAuthenticator
from bot.services.progressive_lookup import drain
from bot.services.publisher import CompositeDelivery
from bot.services.record_creation import on_event as record_creation_listener
from bot.services.store import Store
from bot.services.ticketing.ticketing import stop as stop_ticketing
from bot.services.writeback import RetryPolicy, WritebackWorker, outbox_listener
from bot.settings import Settings, StoreKind
from bot.web.admin_audit import setup_admin_audit
from bot.web.admin_auth import SETTINGS_KEY as ADMIN_SETTINGS
from bot.web.admin_auth import get_me
from bot.web.admin_crm import setup_admin_crm
from bot.web.admin_data_subjects import setup_admin_data_subjects
from bot.web.admin_keys import setup_admin_keys
from bot.web.admin_outbox import WRITEBACK, setup_admin_outbox
from bot.web.admin_tenant import setup_admin_tenant
from bot.web.consent import setup_consent
from bot.web.console import setup_console
from bot.web.interactions import CONTEXT, KEY_AUTH, SETTINGS, post_interaction_event
from bot.web.lookup import setup_lookup
from bot.web.observe import observe
from bot.web.problems import problems
from bot.web.readiness import setup_readiness
from bot.web.record_policies import setup_record_policies
from bot.web.tab import AGENT_TOKENS, SSO_VALIDATOR, setup_tab, sso_validator
from bot.web.tenant_gate import tenant_gate
from bot.web.tickets import setup_tickets
from bot.web.workflows import setup_workflows

log = logging.getLogger(__name__)


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


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def announce_demo(settings: Settings) -> None:
    """Say loudly at start what is demo-like: all of demo mode, or what an operator enabled."""
    if settings.demo_mode and not settings.app_id:
        log.warning(
            "DEMO MODE (no MicrosoftAppId): the published demo keys (demo-key, demo-admin-key), "
            "the demo CRM and the demo chat commands are on. Never expose this server."
        )
    for warning in settings.demo_warnings():
        log.warning("DEMO SETTING IN PRODUCTION: %s. Turn it off unless you mean it.", warning)


def create_app(settings: Settings | None = None, store: Store | None = None) -> web.Application:
    settings = settings or Settings()
    announce_demo(settings)
    box = secret_box(settings)  # refuses to start with the Blob store and no key
    store = store or open_store(settings)
    adapter = create_adapter(settings)
    # Open tabs hear about every card change, however it was made; changes made by other
    # instances are seen by watching the store while a tab of that agent is open here.
    live = LiveCards(watch_seconds=settings.live_watch_seconds)
    crm_configs = CrmConfigs(store, box, url_policy=settings.crm_url_policy)
    agent_tokens = AgentTokens(settings, store, box)
    crms = StoreDirectory(crm_configs, always=demo_crms(settings), agent_tokens=agent_tokens)
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
    )
    live.bind(ctx)
    ctx.event_listeners.append(record_creation_listener)
    # problems first: every error below it, aiohttp's own included, answers problem+json
    app = web.Application(client_max_size=256 * 1024, middlewares=[observe, problems, tenant_gate])
    app[SETTINGS] = settings
    app[ADMIN_SETTINGS] = settings
    app[CONTEXT] = ctx
    app[ADAPTER] = adapter
    app[SSO_VALIDATOR] = sso_validator(settings)
    app[BOT] = CrmCardBot(ctx, settings, sso=app[SSO_VALIDATOR], agent_tokens=agent_tokens)
    app.router.add_post("/api/messages", post_activity)
    app.router.add_post("/api/interactions", post_interaction_event)
    app.router.add_get("/healthz", health)
    setup_readiness(app, store, crms)
    setup_tab(app, live)
    setup_consent(app, box)
    setup_console(app)
    app[AGENT_TOKENS] = agent_tokens
    setup_workflows(app)
    setup_record_policies(app)
    setup_lookup(app)
    setup_admin_tenant(app)
    setup_admin_crm(app, crm_configs, crms)
    setup_admin_outbox(app)
    setup_admin_audit(app)
    setup_admin_keys(app)
    app.router.add_get("/api/admin/me", get_me)
    setup_admin_data_subjects(app)
    app[KEY_AUTH] = KeyAuthenticator(store)
    ticketing = ticketing_for(settings, crm_configs, lambda: crms.session, store)
    setup_tickets(app, ticketing)
    queue_connection = settings.writeback_queue_connection_string.get_secret_value()
    queue = None
    if queue_connection:
        from bot.adapters.storage.outbox_queue import AzureWorkQueue

        queue = AzureWorkQueue(queue_connection, settings.writeback_queue_name)

    async def retention_tenants() -> list[str]:
        """Tenants named in the settings and every tenant that consented (self-onboarded)."""
        return [*settings.known_tenants, *await tenants.registered(store)]

    writeback = WritebackWorker(
        ctx,
        poll_interval=settings.writeback_poll_seconds,
        lease=settings.writeback_lease_seconds,
        policy=RetryPolicy(max_attempts=settings.writeback_max_attempts),
        queue=queue,
        recovery_days=settings.recovery_days,
        retention_tenants=retention_tenants,
        audit_retention_days=settings.audit_retention_days,
    )
    app[WRITEBACK] = writeback
    ctx.event_listeners.append(outbox_listener(writeback))

    async def run_writeback(app: web.Application) -> AsyncIterator[None]:
        """Deliver write-backs in the background; stopped before the store closes."""
        if settings.writeback_worker:
            writeback.start()
        yield
        await writeback.stop()
        if queue is not None:
            await queue.close()

    app.cleanup_ctx.append(run_writeback)

    async def run_merge_recovery(app: web.Application) -> AsyncIterator[None]:
        """Settle merges whose process died midway (bot.services.merge.recover)."""
        task = asyncio.create_task(merge.keep_recovering(ctx), name="merge recovery")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(run_merge_recovery)

    async def run_ticketing(app: web.Application) -> AsyncIterator[None]:
        """Open the ticket archive; sync ticketing CRMs and purge old tickets periodically."""
        await ticketing.archive.open()
        task = (
            asyncio.create_task(
                ticketing.run(lambda: settings.known_tenants, settings.ticket_sync_minutes * 60),
                name="ticket sync",
            )
            if settings.ticket_sync_minutes
            else None
        )
        yield
        await stop_ticketing(task)
        await ticketing.archive.close()

    app.cleanup_ctx.append(run_ticketing)

    async def close_store(app: web.Application) -> None:
        await store.close()

    async def close_crms(app: web.Application) -> None:
        await drain(ctx)  # late CRM answers still being waited for
        await crms.close()

    async def close_connectors(app: web.Application) -> None:
        await close_adapter(adapter)

    app.on_cleanup.append(close_crms)
    app.on_cleanup.append(close_connectors)
    app.on_cleanup.append(close_store)
    return app
