"""``crmcard crm ...``: CRM connections from the command line, on the store of Settings.

    crmcard crm add --tenant T --settings-id zd --kind zendesk --name Zendesk \\
        --base-url https://acme.zendesk.com --auth '{"type": "api_key", "username": "a@b.c"}' \\
        --map job_title="Job title" --secret-env ZENDESK_TOKEN
    crmcard crm list [--tenant T]
    crmcard crm test zd [--tenant T]
    crmcard crm rotate-secret zd --secret-stdin [--tenant T]
    crmcard crm disable zd [--tenant T]

Secrets are never taken from the command line (other users can read it): from an
environment variable (``--secret-env``) or standard input (``--secret-stdin``). Every
change is audited with the actor ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.settings import Settings


def _secret(args: argparse.Namespace) -> SecretStr | None:
    if getattr(args, "secret_env", None):
        value = os.environ.get(args.secret_env, "")
        if not value:
            raise SystemExit(f"environment variable {args.secret_env} is empty or unset")
        return SecretStr(value)
    if getattr(args, "secret_stdin", False):
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise SystemExit("no secret on standard input")
        return SecretStr(value)
    return None


def _json_arg(value: str) -> Any:
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    return json.loads(text)


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = _json_arg(args.json) if args.json else {}
    for name, value in (
        ("settings_id", args.settings_id),
        ("kind", args.kind),
        ("display_name", args.name),
        ("base_url", args.base_url),
    ):
        if value is not None:
            payload[name] = value
    if args.auth:
        payload["auth"] = _json_arg(args.auth)
    if args.map:
        mappings = []
        for item in args.map:
            crm_field, sep, card_field = item.partition("=")
            if not sep:
                raise SystemExit(f"--map wants CRM_FIELD=Card field, not {item!r}")
            mappings.append({"crm_field": crm_field, "card_field": card_field})
        payload["field_mappings"] = mappings
    if args.disabled:
        payload["enabled"] = False
    return payload


def _show(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


async def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from bot.adapters.crm.directory import StoreDirectory
    from bot.adapters.storage.secret_key import secret_box
    from bot.composition import open_store
    from bot.services.audit import Actor, Door
    from bot.services.crm_configs import ConfigError, CrmConfigs, parse_config

    settings = settings or Settings()
    tenant = args.tenant or settings.default_tenant_id
    actor = Actor(f"cli:{getpass.getuser()}", Door.cli)
    store = open_store(settings)
    configs = CrmConfigs(store, secret_box(settings), url_policy=settings.crm_url_policy)
    try:
        if args.crm_command == "add":
            config = parse_config(tenant, _payload(args))
            secret = _secret(args)
            if secret is not None:
                config = config.model_copy(update={"secret": secret})
            _show((await configs.create(config, actor)).public())
        elif args.crm_command == "list":
            for stored in await configs.list(tenant):
                c = stored.config
                state = "enabled" if c.enabled else "disabled"
                secret_state = "secret set" if stored.has_secret else "no secret"
                print(
                    f"{c.settings_id}\t{c.kind.value}\t{c.display_name}\t{state}\t"
                    f"v{stored.version}\t{secret_state}\t{c.base_url or ''}"
                )
        elif args.crm_command == "test":
            directory = StoreDirectory(configs)
            try:
                outcome = await directory.test(await configs.require(tenant, args.settings_id))
            finally:
                await directory.close()
            _show(outcome.model_dump(mode="json"))
            return 0 if outcome.ok else 1
        elif args.crm_command == "rotate-secret":
            secret = _secret(args)
            if secret is None:
                raise SystemExit("give the new secret with --secret-env or --secret-stdin")
            _show((await configs.rotate_secret(tenant, args.settings_id, secret, actor)).public())
        elif args.crm_command == "disable":
            _show((await configs.disable(tenant, args.settings_id, actor)).public())
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        for detail in getattr(error, "field_errors", []):
            loc = ".".join(str(p) for p in detail["loc"])
            print(f"  {loc}: {detail['msg']}", file=sys.stderr)
        return 2
    finally:
        await store.close()
    return 0


def command(args: argparse.Namespace) -> int:
    return asyncio.run(run(args))


def add_parser(commands: Any) -> None:
    crm = commands.add_parser(
        "crm", help="CRM connections: add, list, test, rotate-secret, disable"
    )
    sub = crm.add_subparsers(dest="crm_command", required=True)

    def secret_options(parser: argparse.ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--secret-env", metavar="VAR", help="read the secret from $VAR")
        group.add_argument(
            "--secret-stdin", action="store_true", help="read the secret from standard input"
        )

    def tenant_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tenant", help="tenant id (default: CRMCARD_DEFAULT_TENANT_ID)")

    add = sub.add_parser("add", help="connect a CRM")
    tenant_option(add)
    add.add_argument("--json", help="the configuration as JSON, or @file")
    add.add_argument("--settings-id")
    add.add_argument("--kind", help="demo, salesforce, dynamics, zendesk, servicenow, ...")
    add.add_argument("--name", help="display name")
    add.add_argument("--base-url")
    add.add_argument("--auth", help='auth parameters as JSON, or @file: {"type": "api_key"}')
    add.add_argument(
        "--map", action="append", metavar="CRM_FIELD=Card field", help="a data mapping"
    )
    add.add_argument("--disabled", action="store_true", help="add it disabled")
    secret_options(add)

    listing = sub.add_parser("list", help="the tenant's CRM connections (no secrets)")
    tenant_option(listing)

    for name, text in (
        ("test", "test the connection with a harmless search"),
        ("rotate-secret", "replace the stored secret"),
        ("disable", "stop using the CRM (kept, can be re-enabled)"),
    ):
        parser = sub.add_parser(name, help=text)
        tenant_option(parser)
        parser.add_argument("settings_id")
        if name == "rotate-secret":
            secret_options(parser)
    crm.set_defaults(run=command)
