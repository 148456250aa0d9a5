"""``crmcard routing ...``: the tenant's IVR routing rules, through a running bot's admin
API (validated there: at most five skills per rule, no empty skill names).

    crmcard routing get
    crmcard routing put FILE.json

Both go over the admin API: ``--url`` (default http://127.0.0.1:3978) and ``--token`` (a
tenant admin's Entra access token) or ``--admin-key`` (the operator's bootstrap key).
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.access import HTTP_DOOR, http_options, load, shown


def _put(args: argparse.Namespace) -> int:
    return shown(args, "PUT", "/api/admin/routing", load(args.file))


def add_parser(commands: Any) -> None:
    routing = commands.add_parser(
        "routing", help=f"show or replace the IVR routing rules, {HTTP_DOOR}"
    )
    sub = routing.add_subparsers(dest="routing_command", required=True)
    get = sub.add_parser("get", help="the tenant's routing rules")
    get.set_defaults(run=lambda a: shown(a, "GET", "/api/admin/routing"))
    http_options(get)
    put = sub.add_parser("put", help="replace (validated) the routing rules from a JSON file")
    put.add_argument("file", help="the routing rules (JSON)")
    put.set_defaults(run=_put)
    http_options(put)
