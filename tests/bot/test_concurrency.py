"""Two bot instances sharing one store: concurrent link/unlink clicks lose nothing."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.services.secret_box import SecretBox
from bot.settings import Settings, StoreKind
from bot.web.app import create_app
from tests.activities import card_action, installed, interaction_event
from tests.bot.test_customer_card_flow import KEY, actions
from tests.connector import FakeConnector


def _settings(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if kind == "local":
        return Settings(_env_file=None, data_dir=tmp_path / "shared")  # type: ignore[call-arg]
    connection: str = request.getfixturevalue("azurite_connection_string")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "shared",
        store=StoreKind.blob,
        blob_connection_string=connection,
        blob_container=f"concurrency-{uuid.uuid4().hex[:12]}",
        secret_key=SecretBox.new_key(),  # the Blob store needs one shared key
    )


@pytest.mark.parametrize("kind", ["local", pytest.param("blob", marks=pytest.mark.azurite)])
async def test_concurrent_links_from_two_instances_lose_nothing(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    connector: tuple[FakeConnector, str],
) -> None:
    fake, url = connector
    settings = _settings(kind, tmp_path, request)
    clients = [TestClient(TestServer(create_app(settings))) for _ in range(2)]
    for client in clients:
        await client.start_server()
    try:
        first, second = clients
        await first.post("/api/messages", json=installed(url))
        for at, event in enumerate(("assigned", "connected")):
            response = await second.post(
                "/api/interactions",
                json=interaction_event("race-1", event, occurred_at=f"2026-11-23T08:00:0{at}Z"),
                headers=KEY,
            )
            assert response.status == 202
        card = fake.cards()[-1].card
        [refresh] = actions(card, "refresh")
        response = await first.post(
            "/api/messages", json=card_action(url, "refresh", refresh["data"])
        )
        card = (await response.json())["value"]
        links = actions(card, "link")
        assert len(links) >= 6, "the refreshed demo card shows the contact's related records"

        async def click(index: int, verb: str, data: dict[str, Any]) -> None:
            client = clients[index % 2]
            response = await client.post("/api/messages", json=card_action(url, verb, data))
            body = await response.json()
            assert body["statusCode"] == 200, body

        # Every record linked at once, half through each instance, all from one card render.
        await asyncio.gather(*(click(i, "link", a["data"]) for i, a in enumerate(links)))
        response = await second.post(
            "/api/messages", json=card_action(url, "refreshCard", refresh["data"])
        )
        linked_card = (await response.json())["value"]
        assert actions(linked_card, "link") == []
        unlinks = actions(linked_card, "unlink")
        assert {a["data"]["record"] for a in unlinks} >= {a["data"]["record"] for a in links}

        # And every record unlinked at once, again spread over both instances.
        await asyncio.gather(*(click(i + 1, "unlink", a["data"]) for i, a in enumerate(unlinks)))
        response = await first.post(
            "/api/messages", json=card_action(url, "refreshCard", refresh["data"])
        )
        final = (await response.json())["value"]
        assert actions(final, "unlink") == []
        assert len(actions(final, "link")) == len(unlinks)
    finally:
        for client in clients:
            await client.close()
