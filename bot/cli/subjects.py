"""``crmcard subjects ...``: GDPR export and erase of one data subject, by the operator,
directly against the store (the same service and audit as /api/admin/data-subjects).

    crmcard subjects export (--phone P | --email E | --card-id C) [--tenant T]
    crmcard subjects erase  (--phone P | --email E | --card-id C) [--tenant T] --yes

``export`` prints the JSON document; ``erase`` prints what was erased.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from datetime import UTC, datetime
from typing import Any

from bot.cli.access import STORE_DOOR, CommandFailed, show
from bot.settings import Settings


async def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from bot.cli.tickets import open_ticketing
    from bot.services import data_subjects
    from bot.services.audit import Actor, Door

    settings = settings or Settings()
    tenant = args.tenant or settings.default_tenant_id
    async with open_ticketing(settings) as ticketing:
        store, tickets = ticketing.configs.store, ticketing.archive
        query = data_subjects.SubjectQuery(phone=args.phone, email=args.email, card_id=args.card_id)
        if args.subjects_command == "export":
            show(await data_subjects.export(store, tenant, query, settings.default_region, tickets))
            return 0
        if not args.yes:
            raise CommandFailed("erasing cannot be undone; add --yes to go ahead")
        actor = Actor(f"cli:{getpass.getuser()}", Door.cli)
        report = await data_subjects.erase(
            store, tenant, query, settings.default_region, actor, datetime.now(UTC), tickets
        )
        show(report)
    return 0


def command(args: argparse.Namespace) -> int:
    return asyncio.run(run(args))


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "subjects", help=f"GDPR: export or erase one data subject's data, {STORE_DOOR}"
    )
    sub = parser.add_subparsers(dest="subjects_command", required=True)
    export = sub.add_parser("export", help="print everything crmcard keeps about the person")
    erase = sub.add_parser("erase", help="erase the person everywhere (audited, pseudonymized)")
    erase.add_argument("--yes", action="store_true", help="confirm: erasing cannot be undone")
    for each in (export, erase):
        each.add_argument("--phone", help="a phone number of the person, as typed")
        each.add_argument("--email", help="an e-mail address of the person")
        each.add_argument("--card-id", help="the id of one of the person's cards")
        each.add_argument(
            "--tenant", default=None, help="tenant id (default: CRMCARD_DEFAULT_TENANT_ID)"
        )
        each.set_defaults(run=command)
