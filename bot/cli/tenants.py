"""``crmcard tenants ...``: the tenant registry (admin consent) from the command line.

    crmcard tenants status TENANT
    crmcard tenants grant TENANT [--note "onboarded by ticket 123"]
    crmcard tenants revoke TENANT [--note "contract ended"]
    crmcard tenants settings TENANT [--default-region DE]

``grant`` is for operators who onboard a tenant without the ``/admin/consent`` flow (the
tenant's admin consented in the Entra admin center); ``revoke`` makes the tenant gate
refuse it again (its data stays). Both are recorded with ``cli:<os user>`` and the time.
``settings`` shows the tenant's settings, or changes its default phone region.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from typing import Any

from bot.settings import Settings


async def _settings(args: argparse.Namespace, settings: Settings) -> int:
    from bot.composition import open_store
    from bot.domain.tenant_settings import TenantSettings
    from bot.services import tenant_settings

    store = open_store(settings)
    try:
        if args.default_region:
            chosen = TenantSettings(default_region=args.default_region)
            await tenant_settings.put_settings(store, args.tenant, chosen)
        current = await tenant_settings.tenant_settings(store, args.tenant, settings.default_region)
    finally:
        await store.close()
    print(current.model_dump_json(indent=2, by_alias=True))
    return 0


async def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from bot.composition import open_store
    from bot.services import tenants
    from bot.services.audit import Door
    from bot.services.context import utc_now

    settings = settings or Settings()
    if args.tenants_command == "settings":
        return await _settings(args, settings)
    store = open_store(settings)
    actor = f"cli:{getpass.getuser()}"
    try:
        if args.tenants_command == "grant":
            await tenants.record_consent(
                store, args.tenant, at=utc_now(), by=actor, detail=args.note or "", door=Door.cli
            )
        elif args.tenants_command == "revoke":
            await tenants.revoke(
                store, args.tenant, at=utc_now(), by=actor, detail=args.note or "", door=Door.cli
            )
        record = await tenants.consent_of(store, args.tenant)
    finally:
        await store.close()
    if record is None:
        print(json.dumps({"tenant_id": args.tenant, "consented": False, "history": []}, indent=2))
        return 1
    print(record.model_dump_json(indent=2))
    gate = "on" if settings.tenant_gate_enabled else "off (CRMCARD_TENANT_GATE)"
    print(f"tenant gate: {gate}")
    return 0 if record.consented else 1


def command(args: argparse.Namespace) -> int:
    return asyncio.run(run(args))


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("tenants", help="tenant admin consent: status, grant, revoke")
    sub = parser.add_subparsers(dest="tenants_command", required=True)
    sub.add_parser("status", help="show a tenant's consent and its history").add_argument("tenant")
    for name, text in (
        ("grant", "record consent given outside /admin/consent"),
        ("revoke", "refuse the tenant again"),
    ):
        one = sub.add_parser(name, help=text)
        one.add_argument("tenant")
        one.add_argument("--note", help="why (kept in the history)")
    chosen = sub.add_parser("settings", help="show the tenant's settings or change them")
    chosen.add_argument("tenant")
    chosen.add_argument(
        "--default-region", help="region of numbers written without a country code (DE, FR...)"
    )
    parser.set_defaults(run=command)
