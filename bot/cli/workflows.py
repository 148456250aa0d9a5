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
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{args.url.rstrip('/')}{path}",
        data=data,
        headers={"Content-Type": "application/json", **_credentials(args)},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        print(f"{error.code}: {error.read().decode()}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"cannot reach {args.url}: {error.reason}", file=sys.stderr)
        return 1
    if text:
        print(json.dumps(json.loads(text), indent=2))
    return 0


def _load(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"cannot read {path}: {error}") from None


def _workflow_put(args: argparse.Namespace) -> int:
    body = _load(args.file)
    workflow_id = args.id or (body.get("id") if isinstance(body, dict) else None)
    if not workflow_id:
        raise SystemExit('give --id or an "id" in the file')
    return _call(args, "PUT", f"/api/admin/workflows/{quote(workflow_id, safe='')}", body)


def _credentials(args: argparse.Namespace) -> dict[str, str]:
    """A tenant admin's Entra access token if given, else the operator's bootstrap key."""
    if args.token:
        return {"Authorization": f"Bearer {args.token}"}
    return {"X-Admin-Key": args.admin_key}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default="http://127.0.0.1:3978", help="the running crmcard (its admin API)"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CRMCARD_ADMIN_TOKEN", ""),
        help="a tenant admin's Entra access token for the SSO app (default: "
        "$CRMCARD_ADMIN_TOKEN); sent as Authorization: Bearer",
    )
    parser.add_argument(
        "--admin-key",
        default=os.environ.get("CRMCARD_ADMIN_KEY", "demo-admin-key"),
        help="without --token: the operator's bootstrap X-Admin-Key (default: "
        "$CRMCARD_ADMIN_KEY, else the demo tenant's key, accepted in demo mode only)",
    )


def add_parser(commands: Any) -> None:
    workflow = commands.add_parser("workflow", help="list, save or delete workflow definitions")
    wf = workflow.add_subparsers(dest="workflow_command", required=True)
    listing = wf.add_parser("list", help="the tenant's workflows")
    listing.set_defaults(run=lambda a: _call(a, "GET", "/api/admin/workflows"))
    put = wf.add_parser("put", help="save (validated) a workflow from a JSON file")
    put.add_argument("file")
    put.add_argument("--id", help='workflow id (default: the file\'s "id")')
    put.set_defaults(run=_workflow_put)
    delete = wf.add_parser("delete", help="delete a workflow")
    delete.add_argument("workflow_id")
    delete.set_defaults(
        run=lambda a: _call(a, "DELETE", f"/api/admin/workflows/{quote(a.workflow_id, safe='')}")
    )
    for sub in (listing, put, delete):
        _common(sub)

    policy = commands.add_parser("policy", help="record-creation policies per queue")
    po = policy.add_subparsers(dest="policy_command", required=True)
    plist = po.add_parser("list", help="the tenant's policies")
    plist.set_defaults(run=lambda a: _call(a, "GET", "/api/admin/policies"))
    pget = po.add_parser("get", help="one queue's policy (_default: the tenant default)")
    pget.add_argument("queue")
    pget.set_defaults(
        run=lambda a: _call(a, "GET", f"/api/admin/policies/{quote(a.queue, safe='')}")
    )
    pput = po.add_parser("put", help="save (validated) a queue's policy from a JSON file")
    pput.add_argument("queue")
    pput.add_argument("file")
    pput.set_defaults(
        run=lambda a: _call(
            a, "PUT", f"/api/admin/policies/{quote(a.queue, safe='')}", _load(a.file)
        )
    )
    pdel = po.add_parser("delete", help="delete a queue's policy")
    pdel.add_argument("queue")
    pdel.set_defaults(
        run=lambda a: _call(a, "DELETE", f"/api/admin/policies/{quote(a.queue, safe='')}")
    )
    for sub in (plist, pget, pput, pdel):
        _common(sub)
