"""Ticket search and viewer over HTTP, and the admin's view of each CRM's last sync.

* ``GET /api/tickets`` -- search: ``q`` (free text over subject and conversation),
  ``status``, ``channel``, ``agent`` (repeatable or comma separated), ``crm``,
  ``closedFrom``/``closedTo`` (ISO dates or times), ``email``/``phone`` (a contact's past
  tickets), ``sort`` (``relevance`` or ``date``), ``page``, ``pageSize``;
* ``GET /api/tickets/{crmId}/{ticketId}`` -- one ticket with its conversation and the
  link that opens it in its CRM.

Both answer the tab (Teams SSO token; development mode without an app id) and
contact-center platforms (``X-Api-Key``), each for its own tenant only.
``GET /api/admin/tickets/sync`` lists each ticketing CRM's last sync (when, counts,
rejections, error), with ``result`` (``ok``, ``failed`` or ``never``) and
``rejectedCount`` for an overview that does not read the lists;
``POST /api/admin/tickets/sync`` (``{"crmId"?, "full"?}``) starts a sync in the
background and answers 202.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from aiohttp import web
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from bot.adapters.inbound import json_body, validated
from bot.domain.api_model import ApiModel
from bot.domain.tickets import ImportReport
from bot.errors import NotFound
from bot.i18n import localize, t
from bot.services import agent_locale
from bot.services.ticketing.archive import TicketQuery
from bot.services.ticketing.ticketing import Ticketing, UnknownTicketingCrm
from bot.web.admin_auth import admin_of, admin_tenant
from bot.web.interactions import CONTEXT, api_key_tenant
from bot.web.problems import READER_LOCALE, reader_locale
from bot.web.tab import MAX_LOCALE_LENGTH, localized_page, tab_identity

TICKETING = web.AppKey("ticketing", Ticketing)
SYNCS = web.AppKey("ticket_syncs", set[asyncio.Task[None]])
"""The syncs ``POST /api/admin/tickets/sync`` started and that are still running."""

_LISTS = {"status": "statuses", "channel": "channels", "agent": "agents"}
_SINGLE = {
    "q": "text",
    "crm": "crm_id",
    "closedFrom": "closed_from",
    "closedTo": "closed_to",
    "sort": "sort",
    "page": "page",
    "pageSize": "page_size",
}


async def _tenant(request: web.Request) -> str:
    """The caller's tenant: a platform's API key, else the tab's signed-in agent (who
    reads the answer in their language: their choice in the chat wins over the page's
    ``locale``, as on their customer card)."""
    if "X-Api-Key" in request.headers:
        return await api_key_tenant(request)
    identity = await tab_identity(request)
    known = await agent_locale.get(
        request.app[CONTEXT].store, identity.tenant_id, identity.agent_id
    )
    asked = request.query.get("locale", "")[:MAX_LOCALE_LENGTH] or known.client_locale
    request[READER_LOCALE] = known.model_copy(update={"client_locale": asked}).locale()
    return identity.tenant_id


def _answer(request: web.Request, body: Any) -> web.Response:
    """``body`` as JSON, saying in ``Content-Language`` whom it was written for: the
    Tickets page shows itself in that language too."""
    response = web.json_response(body)
    response.headers["Content-Language"] = reader_locale(request).language
    return response


def _values(request: web.Request, name: str) -> list[str]:
    return [
        v.strip() for raw in request.query.getall(name, []) for v in raw.split(",") if v.strip()
    ]


def parse_query(request: web.Request) -> TicketQuery:
    """The search asked for by the query string; InvalidInput lists every refused field."""
    fields: dict[str, Any] = {}
    for name, field in _LISTS.items():
        if values := _values(request, name):
            fields[field] = tuple(values)
    for name, field in _SINGLE.items():
        if name in request.query:
            fields[field] = request.query[name]
    if emails := _values(request, "email"):
        fields["requester_emails"] = tuple(emails)
    if phones := _values(request, "phone"):
        fields["requester_phones"] = tuple(phones)
    named = {to_camel(field): value for field, value in fields.items()}  # the API's names
    return validated(TicketQuery, named, t("invalid ticket search"))


async def search_tickets(request: web.Request) -> web.Response:
    tenant_id = await _tenant(request)
    query = parse_query(request)
    page = await request.app[TICKETING].search(tenant_id, query)
    return _answer(request, page.model_dump(mode="json", by_alias=True))


async def get_ticket(request: web.Request) -> web.Response:
    tenant_id = await _tenant(request)
    ticket = await request.app[TICKETING].ticket(
        tenant_id, request.match_info["crm_id"], request.match_info["ticket_id"]
    )
    if ticket is None:
        raise NotFound(t("no such ticket (or it is past its 90 days)"))
    body = ticket.model_dump(mode="json", by_alias=True, exclude={"tenant_id"})
    label = localize(t("Open in {crm}", crm=ticket.crm_name), reader_locale(request))
    body["openIn"] = {"label": label, "url": ticket.url}
    return _answer(request, body)


class CrmSync(ApiModel):
    """One ticketing CRM's last sync, as the admin API shows it."""

    crm_id: str
    display_name: str
    kind: str
    result: Literal["ok", "failed", "never"] = Field(
        description="how the last sync ended: ok, failed (see lastSync.error), never ran"
    )
    rejected_count: int = Field(description="users and tickets the last sync rejected")
    last_sync: ImportReport | None


class Syncs(ApiModel):
    crms: list[CrmSync]


class SyncRequest(ApiModel):
    model_config = ConfigDict(extra="forbid")

    crm_id: str | None = Field(None, max_length=64)
    full: bool = False


async def get_syncs(request: web.Request) -> web.Response:
    tenant_id = await admin_tenant(request)
    ticketing = request.app[TICKETING]
    states = {s.crm_id: s for s in await ticketing.last_syncs(tenant_id)}
    crms = []
    for stored in await ticketing.ticketing_crms(tenant_id):
        state = states.get(stored.config.settings_id)
        report = state.last_report if state else None
        crms.append(
            CrmSync(
                crm_id=stored.config.settings_id,
                display_name=stored.config.display_name,
                kind=stored.config.kind.value,
                result="never" if report is None else "failed" if report.error else "ok",
                rejected_count=len(report.rejected) if report else 0,
                last_sync=report,
            )
        )
    return web.json_response(Syncs(crms=crms).model_dump(mode="json", by_alias=True))


async def post_sync(request: web.Request) -> web.Response:
    admin = await admin_of(request)
    tenant_id = admin.tenant_id
    raw = await json_body(request) if request.can_read_body else {}
    asked = validated(SyncRequest, raw, t("invalid sync request"))
    ticketing = request.app[TICKETING]
    crms = [s.config.settings_id for s in await ticketing.ticketing_crms(tenant_id)]
    if asked.crm_id is not None and asked.crm_id not in crms:
        raise NotFound(t("no CRM {crm} with ticketing switched on", crm=repr(asked.crm_id)))
    started = [asked.crm_id] if asked.crm_id else crms
    if started:
        await ticketing.audit_start(tenant_id, admin.actor, started, full=asked.full)

    async def run() -> None:
        with contextlib.suppress(UnknownTicketingCrm):  # deleted meanwhile
            await ticketing.sync(tenant_id, crm_id=asked.crm_id, full=asked.full)

    task = asyncio.get_running_loop().create_task(run())
    request.app[SYNCS].add(task)
    task.add_done_callback(request.app[SYNCS].discard)
    return web.json_response({"started": started, "full": asked.full}, status=202)


_PAGE_TEXTS = {
    "title": t("crmcard — Tickets"),
    "heading": t("Tickets"),
    "devMode": t("Development mode — not signed in."),
    "searchTickets": t("Search tickets"),
    "text": t("Text"),
    "textHint": t("subject or conversation"),
    "status": t("Status"),
    "any": t("any"),
    "solved": t("solved"),
    "closed": t("closed"),
    "channel": t("Channel"),
    "email": t("Email"),
    "chat": t("Chat"),
    "forum": t("Forum"),
    "inApp": t("In-app messaging"),
    "sms": t("SMS"),
    "voice": t("Voice"),
    "agent": t("Agent"),
    "agentHint": t("agent email"),
    "closedFrom": t("Closed from"),
    "closedTo": t("Closed until"),
    "sort": t("Sort"),
    "relevance": t("relevance"),
    "newest": t("newest first"),
    "search": t("Search"),
    "results": t("Results"),
    "pages": t("Result pages"),
    "previous": t("Previous"),
    "next": t("Next"),
    "page": t("page {page}"),
    "noTickets": t("No tickets found."),
    "unknownChannel": t("unknown channel"),
    "agentIs": t("agent {name}"),
    "requesterIs": t("requester {name}"),
    "unknown": t("unknown"),
    "closedAt": t("closed {at}"),
    "internalNote": t("internal note"),
    "searchFailed": t("Search failed:"),
    "openFailed": t("Could not open the ticket:"),
    "pastTickets": t("Past tickets of {who}"),
    "signInFailed": t("Teams sign-in failed:"),
    "httpFailed": t("The server answered HTTP {status}."),
}
"""The Tickets page's words; ``{page}``, ``{name}``, ``{at}``, ``{who}`` and ``{status}``
are filled in by the page. Brand names (WhatsApp, Slack, ...) stay as they are."""


def setup_tickets(app: web.Application, ticketing: Ticketing) -> None:
    app[TICKETING] = ticketing
    app[SYNCS] = set()
    # the tab's Tickets page (a static tab; its API calls carry the SSO token), in the
    # reader's language as the tab's own pages are
    app.router.add_get("/tab/tickets", localized_page("tickets.html", _PAGE_TEXTS))
    app.router.add_get("/api/tickets", search_tickets)
    app.router.add_get("/api/tickets/{crm_id}/{ticket_id}", get_ticket)
    app.router.add_get("/api/admin/tickets/sync", get_syncs)
    app.router.add_post("/api/admin/tickets/sync", post_sync)

    async def finish_syncs(app: web.Application) -> None:
        syncs = app[SYNCS]
        running = list(syncs)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    app.on_shutdown.append(finish_syncs)
