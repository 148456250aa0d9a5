"""PostgreSQL sign-in with the managed identity's Entra tokens (App Service endpoint)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.adapters.tickets.entra_password import RESOURCE, ManagedIdentityPassword
from bot.adapters.tickets.postgres import PostgresTicketArchive
from tests.postgres import Postgres
from tests.tickets.conftest import fresh_database


async def test_tokens_are_fetched_for_the_identity_and_reused_until_near_expiry(
    aiohttp_server: Callable[..., Any],
) -> None:
    asked: list[dict[str, str]] = []
    now = [1_000_000.0]

    async def identity(request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != "local-secret":
            return web.json_response({"error": "no"}, status=401)
        asked.append(dict(request.query))
        return web.json_response(
            {"access_token": f"token-{len(asked)}", "expires_on": str(int(now[0]) + 3600)}
        )

    app = web.Application()
    app.router.add_get("/msi/token", identity)
    server = await aiohttp_server(app)
    password = ManagedIdentityPassword(
        "client-1",
        endpoint=str(server.make_url("/msi/token")),
        secret_header="local-secret",
        clock=lambda: now[0],
    )
    assert await password() == "token-1"
    now[0] += 3000  # still 10 minutes left
    assert await password() == "token-1"
    now[0] += 400  # within 5 minutes of expiry: a fresh one
    assert await password() == "token-2"
    assert asked[0] == {"resource": RESOURCE, "api-version": "2019-08-01", "client_id": "client-1"}


async def test_the_archive_asks_for_a_password_per_connection(postgres_server: Postgres) -> None:
    calls: list[int] = []

    async def password() -> str:
        calls.append(1)
        return "an-entra-token"  # the test server trusts local connections

    archive = PostgresTicketArchive(
        await fresh_database(postgres_server), min_size=2, max_size=2, password=password
    )
    await archive.open()
    try:
        assert await archive.count("demo-tenant") == 0
    finally:
        await archive.close()
    assert len(calls) >= 2
