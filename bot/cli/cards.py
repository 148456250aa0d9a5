"""``crmcard cards reindex TENANT``: file a tenant's existing cards in the merge indexes.

For stores written before the name and CRM-reference indexes existed; idempotent and
safe while the bot runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.access import STORE_DOOR, on_store
from bot.services.store import Store
from bot.settings import Settings


async def run_on_store(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from bot.services.name_index import reindex

    count = await reindex(store, args.tenant)
    print(f"filed {count} cards of tenant {args.tenant}")
    return 0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("cards", help=f"customer cards: reindex; {STORE_DOOR}")
    sub = parser.add_subparsers(dest="cards_command", required=True)
    reindex = sub.add_parser("reindex", help="file a tenant's cards in the merge indexes")
    reindex.add_argument("tenant", help="the tenant's id")
    parser.set_defaults(run=on_store(run_on_store))
