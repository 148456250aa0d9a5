"""``crmcard workflow ...`` and ``crmcard policy ...``: admin configuration of workflows and
record-creation policies, through a running bot's admin API (validated there, exactly as
an admin's HTTP call would be).

    crmcard workflow list
    crmcard workflow put FILE.json [--id WORKFLOW_ID]
    crmcard workflow delete WORKFLOW_ID
    crmcard policy list
    crmcard policy get QUEUE            (QUEUE "_default": the tenant default)
    crmcard policy put QUEUE FILE.json
    crmcard policy delete QUEUE

Every command takes ``--url`` (default http://127.0.0.1:3978) and either ``--token`` (a
tenant admin's Entra access token, default $CRMCARD_ADMIN_TOKEN) or ``--admin-key`` (the
operator's bootstrap key, default $CRMCARD_ADMIN_KEY, else the demo tenant's key).
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from bot.cli.access import HTTP_DOOR, CommandFailed, http_options, load, shown


def _workflow_put(args: argparse.Namespace) -> int:
    body = load(args.file)
    workflow_id = args.id or (body.get("id") if isinstance(body, dict) else None)
    if not workflow_id:
        raise CommandFailed('give --id or an "id" in the file')
    return shown(args, "PUT", f"/api/admin/workflows/{quote(workflow_id, safe='')}", body)


def add_parser(commands: Any) -> None:
    workflow = commands.add_parser(
        "workflow", help=f"list, save or delete workflow definitions, {HTTP_DOOR}"
    )
    wf = workflow.add_subparsers(dest="workflow_command", required=True)
    listing = wf.add_parser("list", help="the tenant's workflows")
    listing.set_defaults(run=lambda a: shown(a, "GET", "/api/admin/workflows"))
    put = wf.add_parser("put", help="save (validated) a workflow from a JSON file")
    put.add_argument("file", help="the workflow definition (JSON)")
    put.add_argument("--id", help='workflow id (default: the file\'s "id")')
    put.set_defaults(run=_workflow_put)
    delete = wf.add_parser("delete", help="delete a workflow")
    delete.add_argument("workflow_id", help="the workflow's id")
    delete.set_defaults(
        run=lambda a: shown(a, "DELETE", f"/api/admin/workflows/{quote(a.workflow_id, safe='')}")
    )
    for sub in (listing, put, delete):
        http_options(sub)

    policy = commands.add_parser("policy", help=f"record-creation policies per queue, {HTTP_DOOR}")
    po = policy.add_subparsers(dest="policy_command", required=True)
    plist = po.add_parser("list", help="the tenant's policies")
    plist.set_defaults(run=lambda a: shown(a, "GET", "/api/admin/policies"))
    pget = po.add_parser("get", help="one queue's policy (_default: the tenant default)")
    pget.add_argument("queue", help="the queue (_default: the tenant default)")
    pget.set_defaults(
        run=lambda a: shown(a, "GET", f"/api/admin/policies/{quote(a.queue, safe='')}")
    )
    pput = po.add_parser("put", help="save (validated) a queue's policy from a JSON file")
    pput.add_argument("queue", help="the queue (_default: the tenant default)")
    pput.add_argument("file", help="the policy (JSON)")
    pput.set_defaults(
        run=lambda a: shown(
            a, "PUT", f"/api/admin/policies/{quote(a.queue, safe='')}", load(a.file)
        )
    )
    pdel = po.add_parser("delete", help="delete a queue's policy")
    pdel.add_argument("queue", help="the queue (_default: the tenant default)")
    pdel.set_defaults(
        run=lambda a: shown(a, "DELETE", f"/api/admin/policies/{quote(a.queue, safe='')}")
    )
    for sub in (plist, pget, pput, pdel):
        http_options(sub)
