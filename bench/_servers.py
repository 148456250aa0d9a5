"""The servers the invoke benchmark measures, one per process.

``python -m bench._servers KIND [--data-dir DIR]`` serves on a free 127.0.0.1 port and
prints one JSON line (``{"port": ..., ...}``) once it accepts connections; SIGTERM stops
it cleanly. Each kind imports only what it needs, so the bare botbuilder server never
sees crmcard's msrest fix (``bot.adapters.teams.sdk.fix_msrest_retry_policy``).

Kinds:

* ``crmcard``: the whole app from ``create_app`` with a SQLite store in ``--data-dir``
  and the demo CRM, unauthenticated (no MicrosoftAppId), as in local development.
* ``botbuilder``: a minimal ``TeamsActivityHandler`` whose ``on_invoke_activity`` answers
  ``adaptiveCard/action`` with a trivial card, behind a stock ``CloudAdapter`` and the
  stock route ``adapter.process(request, bot)``.
* ``aiohttp``: a bare aiohttp handler that parses the JSON body and answers JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

TRIVIAL_CARD: dict[str, Any] = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.4",
    "body": [{"type": "TextBlock", "text": "Done", "wrap": True}],
}


def crmcard_app(data_dir: str) -> tuple[web.Application, dict[str, Any]]:
    from bot.settings import Settings
    from bot.web.app import create_app

    settings = Settings(
        _env_file=None,
        data_dir=Path(data_dir),
        api_keys={"demo-tenant": "demo-key"},
        app_id="",
    )
    return create_app(settings), {}


def botbuilder_app() -> tuple[web.Application, dict[str, Any]]:
    from botbuilder.core import InvokeResponse, TurnContext
    from botbuilder.core.teams import TeamsActivityHandler
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import AdaptiveCardInvokeResponse
    from msrest.universal_http import requests as msrest_requests

    class Config:
        APP_ID = ""
        APP_PASSWORD = ""
        APP_TYPE = "MultiTenant"
        APP_TENANTID = ""

    class BareBot(TeamsActivityHandler):  # type: ignore[misc]
        # on_invoke_activity, not on_adaptive_card_invoke: in 4.17.1 ActivityHandler already
        # runs the latter's answer through serializer_helper, and CloudAdapter.process does
        # it again, which fails on the resulting dict (500 for every adaptiveCard/action).
        async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
            if turn_context.activity.name != "adaptiveCard/action":
                return await super().on_invoke_activity(turn_context)
            return InvokeResponse(
                status=200,
                body=AdaptiveCardInvokeResponse(
                    status_code=200,
                    type="application/vnd.microsoft.card.adaptive",
                    value=TRIVIAL_CARD,
                ),
            )

    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(Config()))
    bot = BareBot()

    async def messages(request: web.Request) -> web.Response:
        response: web.Response = await adapter.process(request, bot)
        return response

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    safe_codes = msrest_requests.ClientRetryPolicy.safe_codes
    info = {
        "msrest_safe_codes": type(safe_codes).__name__,
        "crmcard_imported": any(m == "bot" or m.startswith("bot.") for m in sys.modules),
    }
    return app, info


def aiohttp_app() -> tuple[web.Application, dict[str, Any]]:
    async def messages(request: web.Request) -> web.Response:
        activity = await request.json()
        if activity.get("type") != "invoke":
            return web.json_response({"error": "not an invoke"}, status=400)
        return web.json_response(
            {
                "statusCode": 200,
                "type": "application/vnd.microsoft.card.adaptive",
                "value": TRIVIAL_CARD,
            }
        )

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app, {}


async def serve(kind: str, data_dir: str | None) -> None:
    if kind == "crmcard":
        if not data_dir:
            raise SystemExit("crmcard needs --data-dir")
        from bot.web.runtime import settle_heap

        app, info = crmcard_app(data_dir)
        settle_heap()
    elif kind == "botbuilder":
        app, info = botbuilder_app()
    else:
        app, info = aiohttp_app()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(json.dumps({"port": port, "pid": os.getpid(), "kind": kind, **info}), flush=True)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("crmcard", "botbuilder", "aiohttp"))
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.kind == "crmcard":  # as `crmcard serve` runs it; the bare servers run stock asyncio
        from bot.web.runtime import use_fast_event_loop

        use_fast_event_loop()
    asyncio.run(serve(args.kind, args.data_dir))


if __name__ == "__main__":
    main()
