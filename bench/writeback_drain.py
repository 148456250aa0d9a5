"""How fast one instance drains the write-back outbox into Salesforce.

    .venv/bin/python -m bench.writeback_drain [--items 600] [--rounds 3]

The CRM is the Salesforce contract fake (``tests/crm/fakes/salesforce.py``: JWT bearer
sign-in, the REST API's record and Task endpoints), served on loopback from a thread of
this process; the client is crmcard's own ``SalesforceClient`` on ``ResilientHttp``. Each
round stores ``--items`` finished interactions, each linked to one Salesforce contact,
with their outbox items due (as the event listener files them; SQLite store), then
times one ``WritebackWorker`` with the server's defaults (8 at a time) until no item is
due. Every item writes the contact's last-interaction fields and one Task. The card
republish after each item is left out (no connector here). Prints items/s per round and
the median with its spread, and this process's CPU per item (fake included).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.production import in_thread, load_average, spread  # noqa: E402
from bot.adapters.crm.http import ResilientHttp  # noqa: E402
from bot.adapters.crm.salesforce import SalesforceClient  # noqa: E402
from bot.adapters.crm.tokens import SalesforceJwtBearer, salesforce_token_error  # noqa: E402
from bot.adapters.storage.local import LocalStore  # noqa: E402
from bot.domain.records import RecordRef  # noqa: E402
from bot.services import keys  # noqa: E402
from bot.services.retry import WRITEBACK  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.crm.fakes.salesforce import FakeSalesforce  # noqa: E402
from tests.writeback.harness import context, interaction, store_due, worker  # noqa: E402

SF_USER = "integration@acme.example"


def rsa_pems() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def one_round(
    fake: FakeSalesforce, private_pem: str, items: int, round_: int
) -> tuple[float, float]:
    """Items per second and CPU ms per item (this process) of one drain."""
    settings = Settings(_env_file=None)
    async with aiohttp.ClientSession() as session:
        auth = SalesforceJwtBearer(
            ResilientHttp(session, name="Salesforce sign-in", error_mapper=salesforce_token_error),
            login_url=fake.base_url,
            client_id=fake.client_id,
            username=SF_USER,
            private_key_pem=private_pem,
        )
        client = SalesforceClient(
            settings_id="sf1",
            display_name="Acme Salesforce",
            http=ResilientHttp(session, name="Acme Salesforce", auth=auth),
            today=lambda: dt.date(2026, 11, 23),
        )
        contact_id = fake.add("Contact", FirstName="Jane", LastName="Doe", Phone="+15550100")
        contact = await client.get(RecordRef(crm="sf1", type="contact", id=contact_id))
        with tempfile.TemporaryDirectory() as tmp:
            store = LocalStore(Path(tmp) / "state.sqlite3")
            ctx = context(store, client)
            for i in range(items):
                await store_due(ctx, interaction(f"r{round_}-call-{i}", linked=(contact,)))
            drainer = worker(
                ctx,
                poll_interval=settings.writeback_poll_seconds,
                lease=settings.writeback_lease_seconds,
                policy=replace(WRITEBACK, max_attempts=settings.writeback_max_attempts),
            )
            tasks_before = len(fake.records.get("Task", {}))
            started, cpu = time.perf_counter(), time.process_time()
            while [key async for key in store.keys(keys.OUTBOX_DUE_PREFIX)]:
                await drainer.run_once()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            await store.close()
    written = len(fake.records.get("Task", {})) - tasks_before
    if written != items:
        raise AssertionError(f"{written} Tasks written for {items} items")
    return items / elapsed, cpu / items * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    private_pem, public_pem = rsa_pems()
    fake = FakeSalesforce(public_key_pem=public_pem)
    rates, cpus = [], []
    with in_thread(fake.app()) as url:
        fake.base_url = url
        for round_ in range(args.rounds):
            rate, cpu = asyncio.run(one_round(fake, private_pem, args.items, round_))
            rates.append(rate)
            cpus.append(cpu)
            print(f"round {round_ + 1}: {rate:.0f} items/s, load average {load_average()}")
    print(
        f"write-back drain, {args.items} items a round, one worker: "
        f"{spread(rates)} items/s (target >= 200), {spread(cpus)} ms CPU per item "
        f"(this process, fake included), "
        f"median of {args.rounds}, {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
