"""``crmcard tenants ...``: the tenant registry (admin consent) and a tenant's settings.

    crmcard tenants status TENANT
    crmcard tenants grant TENANT [--note "onboarded by ticket 123"]
    crmcard tenants revoke TENANT [--note "contract ended"]
    crmcard tenants settings TENANT [--default-region DE]
    crmcard tenants settings --url https://crmcard.example --token "$TOKEN" [--default-region DE]

``status``, ``grant`` and ``revoke`` are the operator's, on the store: ``grant`` onboards a
tenant without the ``/admin/consent`` flow (the tenant's admin consented in the Entra
admin center) and makes its write-backs waiting for consent due now (the servers' scan of
the due markers delivers them); ``revoke`` makes the tenant gate refuse it again (its data
stays). Both are recorded with ``cli:<os user>`` and the time. ``settings`` shows the
tenant's settings, or changes its default phone region (audited): on the store, or with
``--url`` over the admin API, where the token or key decides the tenant.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime
from typing import Any

from bot.cli.access import (
    EITHER_DOOR,
    STORE_DOOR,
    CommandFailed,
    call,
    http_options,
    on_store,
    show,
)
from bot.services.store import Store
from bot.settings import Settings


def _settings_over_http(args: argparse.Namespace) -> int:
    if args.default_region:
        show(call(args, "PUT", "/api/admin/tenant", {"defaultRegion": args.default_region}))
    else:
        show(call(args, "GET", "/api/admin/tenant"))
    return 0


async def _settings(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from bot.domain.tenant_settings import TenantSettings
    from bot.services import tenant_settings
    from bot.services.audit import Actor, Door

    if not args.tenant:
        raise CommandFailed("name the TENANT (or use --url: the token or key decides it)")
    if args.default_region:
        actor = Actor(f"cli:{getpass.getuser()}", Door.cli)
        chosen = TenantSettings(default_region=args.default_region)
        await tenant_settings.put_settings(store, args.tenant, chosen, actor, datetime.now(UTC))
    show(await tenant_settings.tenant_settings(store, args.tenant, settings.default_region))
    return 0


async def _consent(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from bot.services import outbox, tenants
    from bot.services.audit import Door

    actor = f"cli:{getpass.getuser()}"
    now = datetime.now(UTC)
    if args.tenants_command == "grant":
        await tenants.record_consent(
            store, args.tenant, at=now, by=actor, detail=args.note or "", door=Door.cli
        )
        due = await outbox.due_at_consent(store, args.tenant, now)  # the servers' scan finds them
        if due:
            print(f"due now: {len(due)} write-back(s) waiting for the tenant's consent")
    elif args.tenants_command == "revoke":
        await tenants.revoke(
            store, args.tenant, at=now, by=actor, detail=args.note or "", door=Door.cli
        )
    record = await tenants.consent_of(store, args.tenant)
    if record is None:
        show({"tenant_id": args.tenant, "consented": False, "history": []})
        return 1
    show(record)
    gate = "on" if settings.tenant_gate_enabled else "off (CRMCARD_TENANT_GATE)"
    print(f"tenant gate: {gate}")
    return 0 if record.consented else 1


async def run_on_store(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    """The command on the store (the operator's door)."""
    body = _settings if args.tenants_command == "settings" else _consent
    return await body(args, settings, store)


_on_store = on_store(run_on_store)


def command(args: argparse.Namespace) -> int:
    over_http = args.tenants_command == "settings" and args.url
    return _settings_over_http(args) if over_http else _on_store(args)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "tenants",
        help="tenant admin consent (status, grant, revoke: against the store) and tenant "
        "settings (on the store, or with --url over the admin API)",
    )
    sub = parser.add_subparsers(dest="tenants_command", required=True)
    status = sub.add_parser("status", help=f"show a tenant's consent and its history, {STORE_DOOR}")
    status.add_argument("tenant", help="the tenant's Entra id")
    for name, text in (
        ("grant", "record consent given outside /admin/consent"),
        ("revoke", "refuse the tenant again"),
    ):
        one = sub.add_parser(name, help=f"{text}, {STORE_DOOR}")
        one.add_argument("tenant", help="the tenant's Entra id")
        one.add_argument("--note", help="why (kept in the history)")
    chosen = sub.add_parser(
        "settings", help=f"show the tenant's settings or change them, {EITHER_DOOR}"
    )
    chosen.add_argument(
        "tenant", nargs="?", help="the tenant's Entra id (on the store; over HTTP: the admin's)"
    )
    chosen.add_argument(
        "--default-region", help="region of numbers written without a country code (DE, FR...)"
    )
    http_options(chosen, optional=True)
    parser.set_defaults(run=command)
