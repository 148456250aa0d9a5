"""An app whose tenants see a demo CRM and a Zendesk-kind CRM (the test's own directory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.adapters.crm.demo import DemoCrm
from bot.domain.records import CrmRecord, NewRecord, RecordRef
from bot.services.context import Context
from bot.services.crm import CrmClient, NotSupported
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.interactions import CONTEXT

Client = TestClient[Any, Any]
API = {"X-Api-Key": "demo-key"}
ADMIN = {"X-Admin-Key": "demo-admin-key"}


class CountingDemo(DemoCrm):
    """The demo CRM, counting the records it creates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created: list[CrmRecord] = []
        self.records_sent: list[NewRecord] = []

    async def create(
        self, record_type: str, record: NewRecord, related_to: RecordRef | None = None
    ) -> CrmRecord:
        self.records_sent.append(record)
        created = await super().create(record_type, record, related_to)
        self.created.append(created)
        return created


class ZendeskKind(CountingDemo):
    """Answers like the demo, but is a Zendesk kind: no updates, no timeline."""

    kind = "zendesk"

    @property
    def display_name(self) -> str:
        return "Zendesk"

    async def update(self, ref: RecordRef, fields: dict[str, str]) -> CrmRecord:
        raise NotSupported("Zendesk cannot update records through workflows")


class Directory:
    def __init__(self, clients: list[CrmClient]) -> None:
        self.list = clients

    async def clients(self, tenant_id: str) -> list[CrmClient]:
        return self.list


@pytest.fixture
def demo(tmp_path: Path) -> CountingDemo:
    return CountingDemo(data_file=tmp_path / "demo.json")


@pytest.fixture
def zendesk(tmp_path: Path) -> ZendeskKind:
    return ZendeskKind(settings_id="zd", data_file=tmp_path / "zd.json")


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    demo: CountingDemo,
    zendesk: ZendeskKind,
) -> Client:
    app = create_app(settings)
    app[CONTEXT].crms = Directory([demo, zendesk])
    test_client: Client = await aiohttp_client(app)
    return test_client


def context(client: Client) -> Context:
    return client.server.app[CONTEXT]
