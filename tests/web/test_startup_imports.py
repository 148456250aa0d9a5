"""What a local server imports before its first answer: nothing it does not use.

Start-up time is mostly imports. The Azure Storage SDKs (Blob store, write-back queue),
the PostgreSQL driver of the ticket archive, the app package's JSON Schema validator, the
OpenAPI document (its answer models and what writes it), Babel's catalogue reader (the
first German or French text reads one; English needs none), the OpenTelemetry API
(without exporters nothing is recorded) and the GDPR export and erasure are imported
where they are first used, so a server on the local store starts without them; nor does
``crmcard serve`` import the command line's other command groups, the CRM vendors'
adapters (a server imports those its tenants' configurations build), or the ticket sync
and the vendors' ticket exports (a server whose tenants have no ticketing CRM runs no
sync). The check runs a fresh interpreter (this one has imported everything the other
tests needed) that reads ``serve`` and builds the app as ``crmcard serve`` does, answers
``/healthz`` and lists its modules, and the models it has built: a model built at start
(a module-level instance, say) is built on every start. Nor does it import PyYAML, which
botbuilder's jsonpickle would load as a JSON backend where development tools installed it
(:mod:`bot.adapters.teams`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import GROUPS

VENDORS = (
    "salesforce",
    "dynamics",
    "zendesk",
    "servicenow",
    "kustomer",
    "freshdesk",
    "oracle",
    "rest",
)
"""The CRM adapters, of which a local server (the demo CRM) builds none."""

LAZY = (
    "azure.storage.blob",
    "azure.storage.queue",
    "asyncpg",
    "jsonschema",
    "yaml",
    "bot.web.operations",
    "bot.web.openapi",
    "babel.messages",
    "babel.support",
    "opentelemetry",
    "bot.services.data_subjects",
    "bot.domain.data_subjects",
    "bot.services.ticketing.sync",
    "bot.adapters.crm.ticket_sources",
    "bot.adapters.crm.salesforce_tickets",
    "bot.adapters.crm.zendesk_tickets",
    *(f"bot.cli.{module}" for module in GROUPS.values()),
    *(f"bot.adapters.crm.{vendor}" for vendor in VENDORS),
)

SERVE_AND_LIST = """
import asyncio, json, sys
from aiohttp import ClientSession, web
from pydantic import BaseModel
from bot.cli.main import parser
from bot.observability import telemetry
from bot.settings import Settings
from bot.web.app import create_app

async def main():
    parser("serve").parse_args(["serve"])
    telemetry.configure()
    runner = web.AppRunner(create_app(Settings()))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            status = response.status
    await runner.cleanup()
    built = [
        f"{model.__module__}.{model.__qualname__}"
        for model in models(BaseModel)
        if model.__module__.startswith("bot.") and model.__pydantic_complete__
    ]
    print(json.dumps({"status": status, "modules": sorted(sys.modules), "built": sorted(built)}))

def models(kind):
    found = set(kind.__subclasses__())
    return found.union(*(models(sub) for sub in found))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("CRMCARD_", "MICRO", "OTEL_", "APPLICATIONINSIGHTS"))
    }
    env |= {
        "CRMCARD_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "CRMCARD_WRITEBACK_WORKER": "false",
    }
    done = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200
    return answer


def test_a_local_server_answers_without_the_sdks_it_does_not_use(started: dict[str, Any]) -> None:
    imported = [
        m for m in started["modules"] if any(m == lazy or m.startswith(lazy + ".") for lazy in LAZY)
    ]
    assert imported == []


def test_a_local_server_answers_having_built_only_the_models_it_validated(
    started: dict[str, Any],
) -> None:
    """Its settings, the English locale, and the search criteria a CRM's connection test
    sends (:data:`bot.adapters.crm.directory.PROBE`, the first caller's search needs them
    anyway); every other model is built by its first use (:mod:`bot.domain.api_model`)."""
    assert started["built"] == [
        "bot.i18n.locale.AgentLocale",
        "bot.services.crm.SearchCriteria",
        "bot.settings.Settings",
    ]
