"""``crmcard cards reindex TENANT``: file a tenant's existing cards in the merge indexes.

For stores written before the name and CRM-reference indexes existed; idempotent and
safe while the bot runs.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.settings import Settings


async def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from bot.composition import open_store
    from bot.services.name_index import reindex

    store = open_store(settings or Settings())
    try:
        count = await reindex(store, args.tenant)
    finally:
        await store.close()
    print(f"filed {count} cards of tenant {args.tenant}")
    return 0


def command(args: argparse.Namespace) -> int:
    return asyncio.run(run(args))


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("cards", help="customer cards: reindex")
    sub = parser.add_subparsers(dest="cards_command", required=True)
    reindex = sub.add_parser("reindex", help="file a tenant's cards in the merge indexes")
    reindex.add_argument("tenant")
    parser.set_defaults(run=command)
