"""The `crmcard` command: run the bot, simulate contact-center events, package the app."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

from aiohttp import web

from bot.cli import (
    cards,
    crm,
    keys,
    outbox,
    package,
    routing,
    subjects,
    tenants,
    tickets,
    workflows,
)
from bot.observability import logs
from bot.settings import Settings


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
    request = urllib.request.Request(
        f"{args.url.rstrip('/')}/api/interactions",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "X-Api-Key": args.api_key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as error:
        print(f"{error.code}: {error.read().decode()}", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="crmcard", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    commands.add_parser("serve", help="run the bot").set_defaults(run=serve)

    sim = commands.add_parser("simulate", help="send an interaction event to a running bot")
    sim.add_argument(
        "event",
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
    sim.add_argument("--channel", default="voice")
    sim.add_argument(
        "--agent",
        default="00000000-0000-0000-0000-0000000000a1",
        help="the agent's Entra object id",
    )
    sim.add_argument("--interaction", help="interaction id (default: a new one)")
    sim.add_argument("--queue", default="Support")
    sim.add_argument("--url", default="http://127.0.0.1:3978")
    sim.add_argument("--api-key", default="demo-key")
    sim.set_defaults(run=simulate)

    package.add_parser(commands)
    crm.add_parser(commands)
    outbox.add_parser(commands)
    workflows.add_parser(commands)
    tenants.add_parser(commands)
    keys.add_parser(commands)
    cards.add_parser(commands)
    routing.add_parser(commands)
    subjects.add_parser(commands)
    tickets.add_parser(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    logs.configure(json_lines=False)
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
