"""The bare servers ``bench.production`` compares crmcard with, one per process.

``python -m bench._servers KIND --port PORT [--app-id ID --tenant T --openid URL
--issuer ISS]`` serves on ``127.0.0.1:PORT`` (``GET /healthz`` answers once it is up);
SIGINT or SIGTERM stops it. Like ``crmcard serve``, each logs at INFO and writes an
access log line per request. None imports ``bot``, so crmcard's repairs of the SDK
cannot leak into them (the botbuilder servers log the type of msrest's
``ClientRetryPolicy.safe_codes`` they run with).

Kinds:

* ``botbuilder``: a minimal ``TeamsActivityHandler`` whose ``on_invoke_activity`` answers
  ``adaptiveCard/action`` with a trivial card, behind a stock ``CloudAdapter`` and the
  stock route ``adapter.process(request, bot)``; with ``--app-id`` a registered
  SingleTenant bot whose JWTs are checked against ``--openid`` / ``--issuer``.
* ``botbuilder-fixed``: the same with only msrest's ``safe_codes`` made a frozenset (the
  one-line fix of its quadratic ``ClientRetryPolicy.__init__``).
* ``aiohttp``: a bare aiohttp handler that parses the JSON body and answers JSON.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Any

from aiohttp import web

TRIVIAL_CARD: dict[str, Any] = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.4",
    "body": [{"type": "TextBlock", "text": "Done", "wrap": True}],
}

log = logging.getLogger("bench.servers")


@dataclass(frozen=True)
class Config:
    """The attribute names ``ConfigurationBotFrameworkAuthentication`` reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str | None
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str | None


def botbuilder_app(args: argparse.Namespace, *, msrest_fix: bool) -> web.Application:
    from botbuilder.core import InvokeResponse, TurnContext
    from botbuilder.core.teams import TeamsActivityHandler
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import AdaptiveCardInvokeResponse
    from msrest.universal_http import requests as msrest_requests

    if msrest_fix:
        policy = msrest_requests.ClientRetryPolicy
        policy.safe_codes = frozenset(policy.safe_codes)  # type: ignore[assignment]

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

    config = Config(
        APP_ID=args.app_id,
        APP_PASSWORD="not-a-real-secret" if args.app_id else "",
        APP_TYPE="SingleTenant" if args.app_id else "MultiTenant",
        APP_TENANTID=args.tenant,
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=args.openid,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=args.issuer,
    )
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    bot = BareBot()

    async def messages(request: web.Request) -> web.Response:
        response: web.Response = await adapter.process(request, bot)
        return response

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    log.info(
        "botbuilder: msrest ClientRetryPolicy.safe_codes is a %s; crmcard imported: %s",
        type(msrest_requests.ClientRetryPolicy.safe_codes).__name__,
        any(m == "bot" or m.startswith("bot.") for m in sys.modules),
    )
    return app


def aiohttp_app() -> web.Application:
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
    return app


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("botbuilder", "botbuilder-fixed", "aiohttp"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app-id", default="")
    parser.add_argument("--tenant", default="")
    parser.add_argument("--openid")
    parser.add_argument("--issuer")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.kind == "aiohttp":
        app = aiohttp_app()
    else:
        app = botbuilder_app(args, msrest_fix=args.kind == "botbuilder-fixed")
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
