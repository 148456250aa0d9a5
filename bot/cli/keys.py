"""``crmcard keys ...``: the platform keys (``X-Api-Key``) of a tenant, by the operator,
directly against the store (the same service and audit as the admin API's /api/admin/keys).

    crmcard keys create --name NAME [--expires-days N] [--tenant T]
    crmcard keys list [--tenant T]
    crmcard keys revoke KEY_ID [--tenant T]

The key is printed once, by ``create``; only its digest is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.settings import Settings


async def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from bot.composition import open_store
    from bot.errors import CrmcardError
    from bot.services import platform_keys
    from bot.services.audit import Actor, Door

    settings = settings or Settings()
    tenant = args.tenant or settings.default_tenant_id
    actor = Actor(f"cli:{getpass.getuser()}", Door.cli)
    now = datetime.now(UTC)
    store = open_store(settings)
    try:
        if args.keys_command == "create":
            expires = now + timedelta(days=args.expires_days) if args.expires_days else None
            asked = platform_keys.NewKey(name=args.name, expires_at=expires)
            record, key = await platform_keys.create(store, tenant, asked, actor, now)
            print(json.dumps({**record.public(), "key": key}, indent=2))
            print("the key is shown this once: give it to the platform now", file=sys.stderr)
        elif args.keys_command == "list":
            for record in await platform_keys.list_keys(store, tenant):
                state = "active" if record.active(now) else "revoked/expired"
                used = record.last_used_at.isoformat() if record.last_used_at else "never used"
                print(f"{record.id}\t{record.name}\t{state}\t{record.created_by}\t{used}")
        elif args.keys_command == "revoke":
            record = await platform_keys.revoke(store, tenant, args.key_id, actor, now)
            print(json.dumps(record.public(), indent=2))
    except CrmcardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        await store.close()
    return 0


def command(args: argparse.Namespace) -> int:
    return asyncio.run(run(args))


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "keys",
        help="platform keys (X-Api-Key) of a tenant: create, list, revoke (against the store)",
    )
    sub = parser.add_subparsers(dest="keys_command", required=True)
    create = sub.add_parser("create", help="issue a new key (printed once)")
    create.add_argument("--name", required=True, help="what the key is for, e.g. 'ACD prod'")
    create.add_argument(
        "--expires-days", type=int, default=0, help="days until the key stops working (0: never)"
    )
    listing = sub.add_parser("list", help="the tenant's keys, without the keys themselves")
    revoke = sub.add_parser("revoke", help="refuse a key from now on, on every instance")
    revoke.add_argument("key_id", help="the key's id, from 'crmcard keys list'")
    for each in (create, listing, revoke):
        each.add_argument(
            "--tenant", default=None, help="tenant id (default: CRMCARD_DEFAULT_TENANT_ID)"
        )
        each.set_defaults(run=command)
