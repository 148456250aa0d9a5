"""``crmcard keys ...``: the platform keys (``X-Api-Key``) of a tenant: on the store (the
operator's door, the same service and audit as the admin API) or, with ``--url``, over a
running bot's ``/api/admin/keys``.

    crmcard keys create --name NAME [--expires-days N] [--tenant T]
    crmcard keys list [--tenant T]
    crmcard keys revoke KEY_ID [--tenant T]

The key is printed once, by ``create``; only its digest is stored.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot.cli.access import EITHER_DOOR, call, http_options, on_store, show
from bot.services.store import Store
from bot.settings import Settings

_SHOWN_ONCE = "the key is shown this once: give it to the platform now"


def _line(key: dict[str, Any], now: datetime) -> str:
    expires = key.get("expiresAt")
    expired = expires is not None and datetime.fromisoformat(expires) <= now
    state = "revoked/expired" if key.get("revokedAt") or expired else "active"
    used = key.get("lastUsedAt") or "never used"
    return f"{key['id']}\t{key['name']}\t{state}\t{key.get('createdBy')}\t{used}"


def _expiry(args: argparse.Namespace, now: datetime) -> datetime | None:
    return now + timedelta(days=args.expires_days) if args.expires_days else None


def _over_http(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.keys_command == "create":
        expires = _expiry(args, now)
        body = {"name": args.name, **({"expiresAt": expires.isoformat()} if expires else {})}
        show(call(args, "POST", "/api/admin/keys", body))
        print(_SHOWN_ONCE, file=sys.stderr)
    elif args.keys_command == "list":
        for key in call(args, "GET", "/api/admin/keys")["keys"]:
            print(_line(key, now))
    else:
        call(args, "DELETE", f"/api/admin/keys/{quote(args.key_id, safe='')}")
        show(call(args, "GET", f"/api/admin/keys/{quote(args.key_id, safe='')}"))
    return 0


async def run_on_store(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    """The command on the store (the operator's door)."""
    from bot.services import platform_keys
    from bot.services.audit import Actor, Door

    tenant = args.tenant or settings.default_tenant_id
    actor = Actor(f"cli:{getpass.getuser()}", Door.cli)
    now = datetime.now(UTC)
    if args.keys_command == "create":
        asked = platform_keys.NewKey(name=args.name, expires_at=_expiry(args, now))
        record, key = await platform_keys.create(store, tenant, asked, actor, now)
        show({**record.public(), "key": key})
        print(_SHOWN_ONCE, file=sys.stderr)
    elif args.keys_command == "list":
        for record in await platform_keys.list_keys(store, tenant):
            print(_line(record.public(), now))
    else:
        show((await platform_keys.revoke(store, tenant, args.key_id, actor, now)).public())
    return 0


_on_store = on_store(run_on_store)


def command(args: argparse.Namespace) -> int:
    return _over_http(args) if args.url else _on_store(args)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "keys", help=f"platform keys (X-Api-Key) of a tenant: create, list, revoke; {EITHER_DOOR}"
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
            "--tenant",
            default=None,
            help="on the store: the tenant id (default: CRMCARD_DEFAULT_TENANT_ID); over "
            "HTTP the token or key decides the tenant",
        )
        http_options(each, optional=True)
        each.set_defaults(run=command)
