"""``crmcard crm ...``: CRM connections from the command line, on the store of Settings
(the operator's door) or, with ``--url``, over a running bot's admin API.

    crmcard crm add --tenant T --settings-id zd --kind zendesk --name Zendesk \\
        --base-url https://acme.zendesk.com --auth '{"type": "api_key", "username": "a@b.c"}' \\
        --map job_title="Job title" --secret-env ZENDESK_TOKEN
    crmcard crm list [--tenant T]
    crmcard crm test zd [--tenant T]
    crmcard crm rotate-secret zd --secret-stdin [--tenant T]
    crmcard crm disable zd [--tenant T]
    crmcard crm enable zd --url https://crmcard.example --token "$TOKEN"

Secrets are never taken from the command line (other users can read it): from an
environment variable (``--secret-env``) or standard input (``--secret-stdin``). Every
change is audited: with the actor ``cli:<os user>`` on the store, as the admin over HTTP
(where the token or key decides the tenant, not ``--tenant``). ``--json`` and ``--auth``
are the admin API's camelCase configuration (``{"settingsId": ..., "baseUrl": ...}``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from bot.cli.access import EITHER_DOOR, CommandFailed, call, http_options, load, on_store, show
from bot.services.store import Store
from bot.settings import Settings


def _secret(args: argparse.Namespace) -> SecretStr | None:
    if getattr(args, "secret_env", None):
        value = os.environ.get(args.secret_env, "")
        if not value:
            raise CommandFailed(f"environment variable {args.secret_env} is empty or unset")
        return SecretStr(value)
    if getattr(args, "secret_stdin", False):
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise CommandFailed("no secret on standard input")
        return SecretStr(value)
    return None


def _json_arg(value: str, option: str) -> Any:
    if value.startswith("@"):
        return load(value[1:])
    try:
        return json.loads(value)
    except ValueError as error:
        raise CommandFailed(f"{option} is not JSON: {error}") from None


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = _json_arg(args.json, "--json") if args.json else {}
    for name, value in (
        ("settingsId", args.settings_id),
        ("kind", args.kind),
        ("displayName", args.name),
        ("baseUrl", args.base_url),
    ):
        if value is not None:
            payload[name] = value
    if args.auth:
        payload["auth"] = _json_arg(args.auth, "--auth")
    if args.map:
        mappings = []
        for item in args.map:
            crm_field, sep, card_field = item.partition("=")
            if not sep:
                raise CommandFailed(f"--map wants CRM_FIELD=Card field, not {item!r}")
            mappings.append({"crmField": crm_field, "cardField": card_field})
        payload["fieldMappings"] = mappings
    if args.disabled:
        payload["enabled"] = False
    return payload


def _line(crm: dict[str, Any]) -> str:
    state = "enabled" if crm.get("enabled", True) else "disabled"
    secret_state = "secret set" if crm.get("hasSecret") else "no secret"
    return (
        f"{crm.get('settingsId')}\t{crm.get('kind')}\t{crm.get('displayName')}\t{state}\t"
        f"v{crm.get('version')}\t{secret_state}\t{crm.get('baseUrl') or ''}"
    )


def _over_http(args: argparse.Namespace) -> int:
    one = f"/api/admin/crms/{quote(getattr(args, 'settings_id', '') or '', safe='')}"
    command = args.crm_command
    if command == "add":
        payload = _payload(args)
        secret = _secret(args)
        if secret is not None:
            payload["secret"] = secret.get_secret_value()
        show(call(args, "POST", "/api/admin/crms", payload))
    elif command == "list":
        for crm in call(args, "GET", "/api/admin/crms")["crms"]:
            print(_line(crm))
    elif command == "test":
        outcome = call(args, "POST", f"{one}/test")
        show(outcome)
        return 0 if outcome.get("ok") else 1
    elif command == "rotate-secret":
        secret = _secret(args)
        if secret is None:
            raise CommandFailed("give the new secret with --secret-env or --secret-stdin")
        show(call(args, "POST", f"{one}/rotate-secret", {"secret": secret.get_secret_value()}))
    else:  # disable, enable
        show(call(args, "POST", f"{one}/{command}"))
    return 0


async def _on_store(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from bot.adapters.crm.directory import StoreDirectory
    from bot.adapters.storage.secret_key import secret_box
    from bot.services.audit import Actor, Door
    from bot.services.crm_configs import CrmConfigs, parse_config

    tenant = args.tenant or settings.default_tenant_id
    actor = Actor(f"cli:{getpass.getuser()}", Door.cli)
    configs = CrmConfigs(store, secret_box(settings), url_policy=settings.crm_url_policy)
    command = args.crm_command
    if command == "add":
        config = parse_config(tenant, _payload(args))
        secret = _secret(args)
        if secret is not None:
            config = config.model_copy(update={"secret": secret})
        show((await configs.create(config, actor)).public())
    elif command == "list":
        for stored in await configs.list(tenant):
            print(_line(stored.public().model_dump(mode="json", by_alias=True)))
    elif command == "test":
        directory = StoreDirectory(configs)
        try:
            outcome = await directory.test(await configs.require(tenant, args.settings_id))
        finally:
            await directory.close()
        show(outcome)
        return 0 if outcome.ok else 1
    elif command == "rotate-secret":
        secret = _secret(args)
        if secret is None:
            raise CommandFailed("give the new secret with --secret-env or --secret-stdin")
        show((await configs.rotate_secret(tenant, args.settings_id, secret, actor)).public())
    else:  # disable, enable
        enabled = command == "enable"
        show((await configs.set_enabled(tenant, args.settings_id, enabled, actor)).public())
    return 0


_store_command = on_store(_on_store)


def command(args: argparse.Namespace) -> int:
    return _over_http(args) if args.url else _store_command(args)


def add_parser(commands: Any) -> None:
    crm = commands.add_parser(
        "crm",
        help=f"CRM connections: add, list, test, rotate-secret, disable, enable; {EITHER_DOOR}",
    )
    sub = crm.add_subparsers(dest="crm_command", required=True)

    def secret_options(parser: argparse.ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--secret-env", metavar="VAR", help="read the secret from $VAR")
        group.add_argument(
            "--secret-stdin", action="store_true", help="read the secret from standard input"
        )

    def tenant_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--tenant",
            help="on the store: the tenant id (default: CRMCARD_DEFAULT_TENANT_ID); over "
            "HTTP the token or key decides the tenant",
        )
        http_options(parser, optional=True)

    add = sub.add_parser("add", help="connect a CRM")
    tenant_option(add)
    add.add_argument(
        "--json", help='the configuration as camelCase JSON ({"settingsId": ...}), or @file'
    )
    add.add_argument("--settings-id", help="the connection's id (letters, digits, _ . -)")
    add.add_argument("--kind", help="demo, salesforce, dynamics, zendesk, servicenow, ...")
    add.add_argument("--name", help="display name")
    add.add_argument("--base-url", help="the CRM's API root URL (https)")
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
        ("enable", "use a disabled CRM again"),
    ):
        parser = sub.add_parser(name, help=text)
        tenant_option(parser)
        parser.add_argument("settings_id", help="the connection's id (as `list` shows it)")
        if name == "rotate-secret":
            secret_options(parser)
    crm.set_defaults(run=command)
