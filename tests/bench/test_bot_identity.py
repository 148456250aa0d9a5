"""The benches' bot identity (``bench.production.local_bot_identity``): crmcard configured
with its environment sends with the token the benches' local Entra issued, and the
benches count a send without it as unsigned (they fail on one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.production import API_KEY, APP_ID, crmcard_env, local_bot_identity
from bot.settings import Settings
from bot.web.app import create_app
from tests.activities import installed, interaction_event
from tests.auth.openid_issuer import LocalIssuer
from tests.connector import FakeConnector, Sent


async def test_crmcard_in_the_identitys_environment_signs_every_send(
    aiohttp_client: Callable[..., Any],
    tmp_path: Path,
    issuer: LocalIssuer,
    connector: tuple[FakeConnector, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = connector
    with local_bot_identity(tmp_path) as identity:
        env = crmcard_env(tmp_path, issuer, **identity.env())
        for name, value in env.items():
            if name.upper().startswith(("CRMCARD_", "MICROSOFT", "REQUESTS_")):
                monkeypatch.setenv(name, value)
        client = await aiohttp_client(create_app(Settings(_env_file=None)))  # type: ignore[call-arg]
        token = issuer.mint(audience=APP_ID, service_url=url)
        response = await client.post(
            "/api/messages", json=installed(url), headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status in (200, 201), await response.text()
        response = await client.post(
            "/api/interactions",
            json=interaction_event("call-1", "assigned"),
            headers={"X-Api-Key": API_KEY},
        )
        assert response.status == 202, await response.text()
        sent = await fake.wait_for(2)  # the welcome, then the interaction's card

        assert identity.signed(sent) == len(sent)
        unsigned = Sent("POST", "a:chat", "activity-1", {}, authorization="Bearer forged")
        assert identity.signed([unsigned, Sent("POST", "a:chat", "activity-2", {})]) == 0
