"""Scale-out over Azure Storage Queues (Azurite): workers in two "processes" learn of
write-backs from queue messages, not by scanning, and still deliver each exactly once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.storage.blob import BlobStore
from bot.adapters.storage.outbox_queue import AzureWorkQueue
from bot.domain.memorialization import FieldMapping, MemorializationMapping, SourceField
from bot.services import keys, outbox
from bot.services.outbox import OutboxStatus
from bot.services.retry import RetryPolicy
from bot.services.store import put_model
from bot.services.writeback import OutboxListener
from bot.settings import Settings
from bot.web.app import create_app
from tests.azurite import Azurite
from tests.connector import FakeConnector
from tests.writeback.harness import (
    ACCOUNT,
    CONTACT,
    TENANT,
    FaultyCrm,
    context,
    event,
    interaction,
    worker,
)
from tests.writeback.test_http_flow import (
    card_saying,
    crmcard_tasks,
    demo_crm_of,
    link_contact,
    post_event,
)

pytestmark = pytest.mark.azurite


async def test_queue_announced_write_backs_are_delivered_once_across_instances(
    azurite_connection_string: str, azurite_queue: Azurite
) -> None:
    container = f"queue-{uuid.uuid4().hex[:12]}"
    queue_name = f"wb-{uuid.uuid4().hex[:12]}"
    stores = [BlobStore(azurite_connection_string, container) for _ in range(2)]
    queues = [AzureWorkQueue(azurite_queue.connection_string, queue_name) for _ in range(2)]
    crm = FaultyCrm(down=2)  # the first two writes meet an outage: retried via the queue
    one, two = (context(store, crm) for store in stores)
    mapping = MemorializationMapping(
        fields=[FieldMapping(source=SourceField.disposition, target="last_disposition")]
    )
    await put_model(one.store, keys.memorialization(TENANT, "demo"), mapping)
    policy = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=0.5)
    workers = [
        worker(ctx, queue=queue, scan_interval=3600.0, poll_interval=0.05, policy=policy)
        for ctx, queue in ((one, queues[0]), (two, queues[1]))
    ]
    listeners = [OutboxListener(w) for w in workers]
    tasks = [w.start() for w in workers]
    try:
        count = 6
        for n in range(count):
            due = interaction(
                f"call-{n}", linked=(CONTACT, ACCOUNT), details={"disposition": "Done"}
            )
            ctx = one if n % 2 else two
            await ctx.store.create(keys.interaction(TENANT, due.id), due.model_dump_json().encode())
            await listeners[n % 2](ctx, due, event(due.history[-1].event, 3))
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            items = await outbox.list_items(one.store, TENANT)
            if len(items) == 2 * count and all(i.status is OutboxStatus.done for i in items):
                break
            assert asyncio.get_running_loop().time() < deadline, [i.status for i in items]
            await asyncio.sleep(0.05)
        assert len(crm.updates) == 2 * count
        assert len(crm.creates) == 2 * count
        assert len(crm.tasks()) == 2 * count
        assert sum(w.claimed for w in workers) == 2 * count + 2  # two outage retries
        assert all(w.claimed for w in workers)  # both instances took part
    finally:
        for w in workers:
            await w.stop()
        for task in tasks:
            assert task.done()
        for queue in queues:
            await queue.close()
        for store in stores:
            await store.close()


async def test_app_with_a_queue_delivers_and_confirms_on_the_card(
    aiohttp_client: Any,
    tmp_path: Path,
    connector: tuple[FakeConnector, str],
    azurite_queue: Azurite,
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        api_keys={"demo-tenant": "demo-key"},
        writeback_poll_seconds=0.05,
        writeback_queue_connection_string=azurite_queue.connection_string,
        writeback_queue_name=f"app-{uuid.uuid4().hex[:12]}",
    )
    client = await aiohttp_client(create_app(settings))
    fake, url = connector
    await link_contact(client, fake, url)
    await post_event(client, "ended", 5)
    await post_event(client, "acw-completed", 6)
    await card_saying(fake, "Written to 1 record ✓")
    assert len(crmcard_tasks(await demo_crm_of(client))) == 1
