"""The `crmcard` command: run the bot, simulate contact-center events, package the app."""

from __future__ import annotations

import argparse
import importlib
import sys
import uuid
from datetime import UTC, datetime

from aiohttp import web
from pydantic import ValidationError

from bot.cli.access import DEFAULT_URL, CommandFailed, fail, refused, request, show
from bot.errors import CrmcardError
from bot.observability import logs
from bot.settings import Settings

GROUPS = {
    "package": "package",
    "crm": "crm",
    "outbox": "outbox",
    "workflow": "workflows",
    "policy": "workflows",
    "tenants": "tenants",
    "keys": "keys",
    "cards": "cards",
    "routing": "routing",
    "subjects": "subjects",
    "tickets": "tickets",
}
"""Each command group's module of :mod:`bot.cli`, whose ``add_parser`` adds its verbs: a
module is imported and its verbs added only for its own commands (every one for help or
a mistyped command). ``crmcard serve``, how the server starts, needs none of them, and
their hundred-odd arguments were some 10 ms of its start."""


def serve(args: argparse.Namespace) -> int:
    from bot.observability import telemetry
    from bot.web.access_log import RedactingAccessLogger
    from bot.web.app import create_app
    from bot.web.runtime import settle_heap, use_fast_event_loop

    settings = Settings()
    logs.configure(
        json_lines=settings.json_logs,
        level=settings.log_level,
        azure_level=settings.azure_sdk_log_level,
    )
    flush_telemetry = telemetry.configure()
    use_fast_event_loop()
    app = create_app(settings)
    settle_heap()
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            print=None,
            access_log_class=RedactingAccessLogger,
        )
    finally:
        flush_telemetry()
    return 0


def simulate(args: argparse.Namespace) -> int:
    """Send one interaction event to a running bot, as a contact-center platform would."""
    customer_field = "email" if "@" in args.customer else "phone"
    if args.channel in ("chat", "messenger", "teams"):
        customer_field = "handle"
    payload = {
        "interactionId": args.interaction or f"sim-{uuid.uuid4().hex[:12]}",
        "event": args.event,
        "occurredAt": datetime.now(UTC).isoformat(),
        "channel": args.channel,
        "agent": {"aadObjectId": args.agent},
        "customer": {customer_field: args.customer},
        "queue": args.queue,
    }
    show(request(args.url, "POST", "/api/interactions", payload, {"X-Api-Key": args.api_key}))
    return 0


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; for ``command`` (the first word given), with only the command
    group it needs (:data:`GROUPS`)."""
    root = argparse.ArgumentParser(prog="crmcard", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    commands.add_parser("serve", help="run the bot").set_defaults(run=serve)

    sim = commands.add_parser(
        "simulate", help="send an interaction event to a running bot (over HTTP, --url)"
    )
    sim.add_argument(
        "event",
        help="the lifecycle event to send",
        choices=[
            "assigned",
            "connected",
            "ended",
            "acw-completed",
            "transferred",
            "unassigned",
            "abandoned",
        ],
    )
    sim.add_argument("--customer", default="+1 555 0100", help="phone, email or handle")
    sim.add_argument(
        "--channel", default="voice", help="voice, chat, email, sms, messenger... (default voice)"
    )
    sim.add_argument(
        "--agent",
        default="00000000-0000-0000-0000-0000000000a1",
        help="the agent's Entra object id",
    )
    sim.add_argument("--interaction", help="interaction id (default: a new one)")
    sim.add_argument("--queue", default="Support", help="the queue the interaction came from")
    sim.add_argument(
        "--url", default=DEFAULT_URL, help=f"the running crmcard (default: {DEFAULT_URL})"
    )
    sim.add_argument(
        "--api-key",
        default="demo-key",
        help="the tenant's platform key, sent as X-Api-Key (default: the demo key)",
    )
    sim.set_defaults(run=simulate)

    if command in GROUPS:
        groups = [GROUPS[command]]
    elif command in commands.choices:
        groups = []
    else:
        groups = list(dict.fromkeys(GROUPS.values()))
    for group in groups:
        importlib.import_module(f"bot.cli.{group}").add_parser(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    logs.configure(json_lines=False)
    argv = sys.argv[1:] if argv is None else argv
    args = parser(argv[0] if argv else None).parse_args(argv)
    try:
        code: int = args.run(args)
    except (CrmcardError, ValidationError) as error:
        return fail(refused(error))
    except CommandFailed as failed:
        return fail(failed)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
