"""``crmcard tickets ...``: ticket sync and search from the command line.

    crmcard tickets sync [--tenant T] [--crm SETTINGS_ID] [--full]
    crmcard tickets search [TEXT] [--status S] [--channel C] [--agent EMAIL] [--crm ID]
                           [--from DATE] [--to DATE] [--email E] [--phone P]
                           [--sort relevance|date] [--page N] [--page-size N] [--json]
    crmcard tickets show CRM_ID TICKET_ID [--tenant T]
    crmcard tickets purge

``sync`` shows one progress line per CRM (imported, skipped with reasons, rate, ETA when
the CRM says how many there are) and then the import report: every rejected user and
ticket with its reason. ``--full`` reads everything within the 90 days again (nothing is
duplicated). ``purge`` deletes tickets closed more than 90 days ago, as the server does.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import ValidationError

from bot.cli.access import STORE_DOOR, CommandFailed, fail, refused
from bot.services.audit import Actor, Door
from bot.services.ticketing.sync import Progress
from bot.services.ticketing.ticketing import Ticketing, UnknownTicketingCrm
from bot.settings import Settings


@asynccontextmanager
async def open_ticketing(settings: Settings) -> AsyncIterator[Ticketing]:
    from bot.adapters.crm.directory import StoreDirectory
    from bot.adapters.storage.secret_key import secret_box
    from bot.adapters.tickets.engine import ticketing_for
    from bot.composition import open_store
    from bot.services.crm_configs import CrmConfigs

    store = open_store(settings)
    configs = CrmConfigs(store, secret_box(settings), url_policy=settings.crm_url_policy)
    directory = StoreDirectory(configs)  # its session keeps to the URL policy
    ticketing = ticketing_for(settings, configs, lambda: directory.session, store)
    await ticketing.archive.open()
    try:
        yield ticketing
    finally:
        await ticketing.archive.close()
        await directory.close()
        await store.close()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}"


def progress_line(progress: Progress) -> str:
    report = progress.report
    skipped = ", ".join(f"{reason} {n:,}" for reason, n in sorted(report.tickets_skipped.items()))
    parts = [
        f"{report.crm_id}: {report.tickets_imported:,} imported",
        f"{report.skipped:,} skipped" + (f" ({skipped})" if skipped else ""),
        f"{progress.rate:,.0f} tickets/s",
    ]
    if progress.eta is not None:
        parts.append(f"ETA {_duration(progress.eta)}")
    return " · ".join(parts)


async def _sync(args: argparse.Namespace) -> int:
    settings = Settings()
    tty = sys.stderr.isatty()

    def show(progress: Progress) -> None:
        line = progress_line(progress)
        print(f"\r{line}\x1b[K" if tty else line, end="" if tty else "\n", file=sys.stderr)

    tenant_id = args.tenant or settings.default_tenant_id
    actor = Actor(f"cli:{getpass.getuser()}", Door.cli)
    async with open_ticketing(settings) as ticketing:
        crms = [s.config.settings_id for s in await ticketing.ticketing_crms(tenant_id)]
        if args.crm is not None and args.crm not in crms:
            return fail(CommandFailed(f"no CRM {args.crm!r} with ticketing switched on"))
        # as each round of the server's periodic sync does (which this command replaces
        # where that is switched off): the tickets past their 90 days go first
        if purged := await ticketing.purge():
            print(f"{purged} tickets purged")
        started = [args.crm] if args.crm else crms
        if started:
            await ticketing.audit_start(tenant_id, actor, started, full=args.full)
        try:
            reports = await ticketing.sync(
                tenant_id, crm_id=args.crm, full=args.full, progress=show
            )
        except UnknownTicketingCrm as error:  # deleted meanwhile
            return fail(CommandFailed(str(error)))
    if tty:
        print(file=sys.stderr)
    if not reports:
        print("no CRM has ticketing switched on", file=sys.stderr)
    failed = False
    for report in reports:
        print(
            f"{report.crm_id}: {report.users_imported} users imported, "
            f"{report.users_deactivated} deactivated, {report.users_deleted} deleted; "
            f"{report.tickets_imported} tickets imported, {report.skipped} skipped"
        )
        for rejected in report.rejected:
            print(f"  rejected {rejected.kind} {rejected.external_id}: {rejected.reason}")
        for notice in report.notices:
            print(f"  imported {notice.kind} {notice.external_id}: {notice.reason}")
        if report.error:
            failed = True
            print(f"  stopped: {report.error} (the next sync resumes here)")
    return 1 if failed else 0


async def _search(args: argparse.Namespace) -> int:
    from bot.services.ticketing.archive import TicketQuery

    settings = Settings()
    asked = {
        "text": " ".join(args.text) or None,
        "statuses": tuple(args.status),
        "channels": tuple(args.channel),
        "agents": tuple(args.agent),
        "crm_id": args.crm,
        "closed_from": args.closed_from,
        "closed_to": args.closed_to,
        "requester_emails": tuple(args.email),
        "requester_phones": tuple(args.phone),
        "sort": args.sort,
        "page": args.page,
        "page_size": args.page_size,
    }
    try:
        query = TicketQuery.model_validate({k: v for k, v in asked.items() if v is not None})
    except ValidationError as error:
        return fail(refused(error))
    async with open_ticketing(settings) as ticketing:
        page = await ticketing.search(args.tenant or settings.default_tenant_id, query)
    if args.json:
        print(page.model_dump_json(by_alias=True, indent=2))
        return 0
    for t in page.tickets:
        channel = t.channel.value if t.channel else "-"
        print(
            f"{t.closed_at:%Y-%m-%d} {t.crm_id}/{t.external_id} [{t.status.value}, {channel}] "
            f"{t.subject} — {t.agent_name}"
        )
    print(f"page {page.page}{', more' if page.has_more else ''}", file=sys.stderr)
    return 0


async def _show(args: argparse.Namespace) -> int:
    settings = Settings()
    async with open_ticketing(settings) as ticketing:
        ticket = await ticketing.ticket(
            args.tenant or settings.default_tenant_id, args.crm_id, args.ticket_id
        )
    if ticket is None:
        return fail(CommandFailed("no such ticket", 1))
    print(json.dumps(ticket.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False))
    return 0


async def _purge(args: argparse.Namespace) -> int:
    async with open_ticketing(Settings()) as ticketing:
        print(f"{await ticketing.purge()} tickets purged")
    return 0


TENANT_HELP = "tenant id (default: CRMCARD_DEFAULT_TENANT_ID)"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tickets = commands.add_parser(
        "tickets", help=f"imported CRM tickets: sync, search, show, purge; {STORE_DOOR}"
    )
    verbs = tickets.add_subparsers(dest="verb", required=True)

    sync = verbs.add_parser(
        "sync", help="purge tickets past their 90 days, then import agents and solved tickets"
    )
    sync.add_argument("--tenant", help=TENANT_HELP)
    sync.add_argument("--crm", help="only this CRM configuration (settings id)")
    sync.add_argument("--full", action="store_true", help="read all 90 days again")
    sync.set_defaults(run=lambda a: asyncio.run(_sync(a)))

    search = verbs.add_parser("search", help="search imported tickets")
    search.add_argument("text", nargs="*", help="words to find (subject and conversation)")
    search.add_argument("--tenant", help=TENANT_HELP)
    for name, text in (
        ("status", "a ticket status (solved, closed)"),
        ("channel", "a channel (email, phone, chat, web, social...)"),
        ("agent", "the agent's e-mail address"),
        ("email", "the requester's e-mail address"),
        ("phone", "the requester's phone number"),
    ):
        search.add_argument(
            f"--{name}", action="append", default=[], help=f"{text}; repeat for several"
        )
    search.add_argument("--crm", help="only this CRM configuration (settings id)")
    search.add_argument("--from", dest="closed_from", help="closed on or after (ISO date)")
    search.add_argument("--to", dest="closed_to", help="closed before (ISO date)")
    search.add_argument(
        "--sort", choices=["relevance", "date"], help="relevance (with TEXT) or newest first"
    )
    search.add_argument("--page", type=int, help="the page to show (1: the first)")
    search.add_argument("--page-size", type=int, help="tickets per page")
    search.add_argument("--json", action="store_true", help="the page as JSON")
    search.set_defaults(run=lambda a: asyncio.run(_search(a)))

    show = verbs.add_parser("show", help="one ticket with its conversation (JSON)")
    show.add_argument("crm_id", help="the CRM configuration's settings id")
    show.add_argument("ticket_id", help="the ticket's id in that CRM")
    show.add_argument("--tenant", help=TENANT_HELP)
    show.set_defaults(run=lambda a: asyncio.run(_show(a)))

    purge = verbs.add_parser("purge", help="delete tickets closed more than 90 days ago")
    purge.set_defaults(run=lambda a: asyncio.run(_purge(a)))
