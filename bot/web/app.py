"""The web server's application factory: crmcard's routes over the composition root's parts.

The parts themselves (store, CRMs, Teams adapter, use-case context, write-back worker) are
assembled by :func:`bot.composition.assemble`, which the CLI uses too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.adapters.teams.bot import CrmCardBot
from bot.adapters.teams.routes import ADAPTER, BOT, post_activity
from bot.adapters.teams.sdk import close_adapter
from bot.adapters.teams.sign_in import SignIn
from bot.composition import assemble
from bot.services import merge
from bot.services.late_crm_answers import drain
from bot.services.live import LiveCards
from bot.services.store import Store
from bot.services.ticketing.ticketing import stop as stop_ticketing
from bot.settings import Settings
from bot.web.admin_audit import setup_admin_audit
from bot.web.admin_auth import get_me
from bot.web.admin_crm import setup_admin_crm
from bot.web.admin_data_subjects import setup_admin_data_subjects
from bot.web.admin_health import setup_admin_health
from bot.web.admin_keys import setup_admin_keys
from bot.web.admin_memorialization import setup_admin_memorialization
from bot.web.admin_outbox import WRITEBACK, setup_admin_outbox
from bot.web.admin_tenant import setup_admin_tenant
from bot.web.api_docs import setup_api_docs
from bot.web.caller_lookup import setup_caller_lookup
from bot.web.consent import setup_consent
from bot.web.console import setup_console
from bot.web.interactions import CONTEXT, KEY_AUTH, SETTINGS, post_interaction_event
from bot.web.observe import observe
from bot.web.problems import problems
from bot.web.readiness import setup_readiness
from bot.web.record_policies import setup_record_policies
from bot.web.tab import AGENT_TOKENS, SSO_VALIDATOR, setup_tab, sso_validator
from bot.web.tenant_gate import tenant_gate
from bot.web.tickets import setup_tickets
from bot.web.workflows import setup_workflows

log = logging.getLogger(__name__)


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


def create_app(
    settings: Settings | None = None, store: Store | None = None, live: LiveCards | None = None
) -> web.Application:
    """The web server: the composition root's parts behind crmcard's routes (``store`` and
    ``live`` replace the configured ones, for tests)."""
    settings = settings or Settings()
    announce_demo(settings)
    parts = assemble(settings, store, live)
    settings, ctx, writeback, queue = parts.settings, parts.ctx, parts.writeback, parts.queue
    # problems first: every error below it, aiohttp's own included, answers problem+json
    app = web.Application(client_max_size=256 * 1024, middlewares=[observe, problems, tenant_gate])
    app[SETTINGS] = settings
    app[CONTEXT] = ctx
    app[ADAPTER] = parts.adapter
    app[SSO_VALIDATOR] = sso_validator(settings)
    signing_in = SignIn(settings, parts.crm_configs, app[SSO_VALIDATOR], parts.agent_tokens)
    app[BOT] = CrmCardBot(ctx, settings, signing_in=signing_in)
    app.router.add_post("/api/messages", post_activity)
    app.router.add_post("/api/interactions", post_interaction_event)
    app.router.add_get("/healthz", health)
    setup_readiness(app, parts.store, parts.crms)
    setup_tab(app, parts.live)
    setup_consent(app, parts.box)
    setup_console(app)
    app[AGENT_TOKENS] = parts.agent_tokens
    setup_workflows(app)
    setup_record_policies(app)
    setup_caller_lookup(app)
    setup_admin_tenant(app)
    setup_admin_crm(app, parts.crm_configs, parts.crms)
    setup_admin_health(app)
    setup_admin_outbox(app)
    setup_admin_memorialization(app)
    setup_admin_audit(app)
    setup_admin_keys(app)
    app.router.add_get("/api/admin/me", get_me)
    setup_admin_data_subjects(app)
    app[KEY_AUTH] = parts.key_auth
    ticketing = parts.ticketing
    setup_tickets(app, ticketing)
    setup_api_docs(app)
    app[WRITEBACK] = writeback

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
                ticketing.run(settings.ticket_sync_minutes * 60),
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
        await ctx.audit_feed.close()  # card clicks' audit entries still waiting
        await parts.store.close()

    async def close_crms(app: web.Application) -> None:
        await drain(ctx)  # late CRM answers still being waited for
        await parts.crms.close()

    async def close_connectors(app: web.Application) -> None:
        await close_adapter(parts.adapter)

    app.on_cleanup.append(close_crms)
    app.on_cleanup.append(close_connectors)
    app.on_cleanup.append(close_store)
    return app
