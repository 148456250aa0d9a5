"""``crmcard outbox ...``: write-backs from the command line, on the store of Settings.

    crmcard outbox list [--tenant T] [--status parked|pending|done] [--json]
    crmcard outbox replay INTERACTION_ID RECORD_KEY [--tenant T]
    crmcard outbox replay --all-parked [--crm SETTINGS_ID] [--tenant T]
    crmcard outbox purge [--older-than-days N] [--tenant T | --all-tenants]

A replayed item is delivered by the next scan of any running bot's write-back worker.
``purge`` does now what the workers do hourly: delete done (and parked) write-backs
unchanged for CRMCARD_RECOVERY_DAYS (or N) days; pending ones are never deleted.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cli.access import STORE_DOOR, CommandFailed, on_store
from bot.services.store import Store
from bot.settings import Settings


async def _list(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from bot.services import outbox
    from bot.web.admin_outbox import OutboxItemAnswer

    status = outbox.OutboxStatus(args.status) if args.status else None
    items = await outbox.list_items(store, args.tenant or settings.default_tenant_id, status)
    if args.json:
        answers = [OutboxItemAnswer.of(i).model_dump(mode="json", by_alias=True) for i in items]
        print(json.dumps(answers, indent=2))
        return 0
    for item in items:
        reason = item.parked_reason or item.last_error or ""
        print(
            f"{item.status.value:8} {item.interaction_id}  {item.record.key}  "
            f"attempts={item.attempts}  {reason}".rstrip()
        )
    if not items:
        print("no write-backs")
    return 0


async def _replay(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from bot.services import outbox

    tenant_id = args.tenant or settings.default_tenant_id
    if args.all_parked:
        items = await outbox.replay_parked(store, tenant_id, datetime.now(UTC), args.crm)
        print(f"queued again: {len(items)} parked write-back(s)")
        return 0
    if not (args.interaction_id and args.record):
        raise CommandFailed("name INTERACTION_ID RECORD, or use --all-parked")
    try:
        item = await outbox.replay(
            store, tenant_id, args.interaction_id, args.record, datetime.now(UTC)
        )
    except outbox.NotReplayable as error:
        raise CommandFailed(f"not replayed: {error}", 1) from None
    print(f"queued again: {item.interaction_id} -> {item.record.key}")
    return 0


async def _purge(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from bot.services import outbox

    days = settings.recovery_days if args.older_than_days is None else args.older_than_days
    if days < 0:
        raise CommandFailed("--older-than-days must not be negative")
    tenants = (
        settings.known_tenants if args.all_tenants else [args.tenant or settings.default_tenant_id]
    )
    cutoff = datetime.now(UTC) - timedelta(days=days)
    purged = await outbox.purge_tenants(store, tenants, cutoff)
    for tenant_id, item_keys in purged.items():
        since = f"{cutoff:%Y-%m-%d %H:%M} UTC"
        print(f"{tenant_id}: purged {len(item_keys)} write-back(s) unchanged since {since}")
    return 0


def add_parser(commands: Any) -> None:
    box = commands.add_parser(
        "outbox", help=f"write-backs to CRMs: list, replay, purge; {STORE_DOOR}"
    )
    sub = box.add_subparsers(dest="outbox_command", required=True)
    listing = sub.add_parser("list", help="the tenant's write-backs (parked ones say why)")
    listing.add_argument("--tenant", help="tenant id (default: CRMCARD_DEFAULT_TENANT_ID)")
    listing.add_argument(
        "--status", choices=["pending", "parked", "done"], help="only the write-backs in it"
    )
    listing.add_argument("--json", action="store_true", help="full items as JSON")
    listing.set_defaults(run=on_store(_list))
    replay = sub.add_parser("replay", help="deliver a parked write-back again")
    replay.add_argument("interaction_id", nargs="?", help="the interaction (as `list` shows it)")
    replay.add_argument(
        "record", nargs="?", help="the record key, crm:type:id (as `list` shows it)"
    )
    replay.add_argument("--all-parked", action="store_true", help="every parked write-back")
    replay.add_argument("--crm", help="with --all-parked: only this CRM configuration")
    replay.add_argument("--tenant", help="tenant id (default: CRMCARD_DEFAULT_TENANT_ID)")
    replay.set_defaults(run=on_store(_replay))
    purge = sub.add_parser(
        "purge", help="delete finished write-backs older than the recovery window, now"
    )
    purge.add_argument(
        "--older-than-days",
        type=float,
        help="the window in days (default: CRMCARD_RECOVERY_DAYS, 90)",
    )
    whose = purge.add_mutually_exclusive_group()
    whose.add_argument("--tenant", help="tenant id (default: CRMCARD_DEFAULT_TENANT_ID)")
    whose.add_argument(
        "--all-tenants", action="store_true", help="every tenant with an API or admin key"
    )
    purge.set_defaults(run=on_store(_purge))
