"""``crmcard routing ...``: the tenant's IVR routing rules, through a running bot's admin
API (validated there: at most five skills per rule, no empty skill names).

    crmcard routing get
    crmcard routing put FILE.json

Both take ``--url`` (default http://127.0.0.1:3978) and ``--admin-key`` (default:
$CRMCARD_ADMIN_KEY, else the demo tenant's key).
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.workflows import _call, _common, _load


def _put(args: argparse.Namespace) -> int:
    return _call(args, "PUT", "/api/admin/routing", _load(args.file))


def add_parser(commands: Any) -> None:
    routing = commands.add_parser("routing", help="show or replace the IVR routing rules")
    sub = routing.add_subparsers(dest="routing_command", required=True)
    get = sub.add_parser("get", help="the tenant's routing rules")
    get.set_defaults(run=lambda a: _call(a, "GET", "/api/admin/routing"))
    _common(get)
    put = sub.add_parser("put", help="replace (validated) the routing rules from a JSON file")
    put.add_argument("file")
    put.set_defaults(run=_put)
    _common(put)
