"""``/readyz``: can this instance serve? The store answers, and how each CRM fares.

``/healthz`` stays cheap (the process is up) for the platform's liveness probe;
``/readyz`` is for the load balancer and the operator: 200 when the store answers a read,
503 otherwise, and in both cases the circuit state of every CRM connection this instance
has built (an open circuit means crmcard stopped calling that CRM for a while; the
instance still serves cards from the others).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from bot.adapters.crm.directory import StoreDirectory
from bot.services.store import Store

log = logging.getLogger(__name__)

PROBE_KEY = "readyz/probe"
STORE_TIMEOUT = 2.0


def setup_readiness(app: web.Application, store: Store, crms: StoreDirectory) -> None:
    async def readyz(request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(store.read(PROBE_KEY), STORE_TIMEOUT)
            store_state = "ok"
        except Exception as error:  # any failure to read is "not ready", never a 500
            log.warning("readiness: the store did not answer: %s", type(error).__name__)
            store_state = f"unavailable: {type(error).__name__}"
        body: dict[str, Any] = {
            "status": "ready" if store_state == "ok" else "unready",
            "store": store_state,
            "crms": crms.circuits(),
        }
        return web.json_response(body, status=200 if store_state == "ok" else 503)

    app.router.add_get("/readyz", readyz)
