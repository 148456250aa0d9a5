"""One error body for every 4xx and 5xx: RFC 9457 problem+json, from one middleware.

Bad bodies and header bytes on every JSON route are refused with a 4xx problem, never a
500; aiohttp's own 404/405/413/415 answer the same body; an unexpected exception is a
500 problem that tells the client nothing, and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.errors import (
    Conflict,
    CrmcardError,
    InvalidInput,
    NotFound,
    Throttled,
    Unavailable,
    problem_for,
)
from bot.services.crm import CrmThrottled, CrmUnavailable, RecordNotFound
from bot.services.store import PreconditionFailed
from bot.web.consent import SECRET_BOX, _seal_state
from bot.web.problems import MEDIA_TYPE, problems

Client = TestClient[Any, Any]

API = {"X-Api-Key": "demo-key"}
ADMIN = {"X-Admin-Key": "demo-admin-key"}

JSON_ROUTES: list[tuple[str, str, dict[str, str]]] = [
    ("POST", "/api/interactions", API),
    ("POST", "/api/lookup", API),
    ("POST", "/api/workflows/wf/execute", API),
    ("POST", "/api/tab/actions", {}),
    ("POST", "/api/messages", {}),
    ("POST", "/api/admin/crms", ADMIN),
    ("PATCH", "/api/admin/crms/x", ADMIN),
    ("POST", "/api/admin/crms/x/rotate-secret", ADMIN),
    ("PUT", "/api/admin/crms/demo/memorialization", ADMIN),
    ("POST", "/api/admin/outbox/replay", ADMIN),
    ("PUT", "/api/admin/workflows/wf", ADMIN),
    ("PUT", "/api/admin/policies/_default", ADMIN),
    ("PUT", "/api/admin/routing", ADMIN),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in JSON_ROUTES]


async def problem_of(response: Any) -> dict[str, Any]:
    assert response.content_type == MEDIA_TYPE, await response.text()
    body: dict[str, Any] = await response.json(content_type=MEDIA_TYPE)
    assert body["status"] == response.status
    assert body["type"].startswith("urn:crmcard:problem:")
    assert body["title"] and body["detail"]
    return body


async def _send(
    client: Client, method: str, path: str, headers: dict[str, str], body: bytes, ctype: str
) -> Any:
    return await client.request(method, path, data=body, headers={**headers, "Content-Type": ctype})


@pytest.mark.parametrize(("method", "path", "headers"), JSON_ROUTES, ids=ROUTE_IDS)
async def test_unreadable_bodies_are_4xx_problems_on_every_json_route(
    bot_client: Client, method: str, path: str, headers: dict[str, str]
) -> None:
    cases = [
        (b'{"a": "\xff\xfe"}', "application/json", 400),  # invalid UTF-8
        (b"{}", "application/json; charset=no-such-charset", 415),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),  # deep nesting
        (b"{not json", "application/json", 400),
        (b"{}", "text/plain", 415),
    ]
    for body, ctype, status in cases:
        response = await _send(bot_client, method, path, headers, body, ctype)
        assert response.status == status, (ctype, body[:20], await response.text())
        await problem_of(response)


async def test_an_oversized_body_is_413(bot_client: Client) -> None:
    body = b'{"x": "' + b"a" * (300 * 1024) + b'"}'
    response = await _send(bot_client, "POST", "/api/interactions", API, body, "application/json")
    assert response.status == 413
    assert "larger than" in (await problem_of(response))["detail"]


@pytest.mark.parametrize(
    ("path", "name"),
    [("/api/interactions", "X-Api-Key"), ("/api/admin/crms", "X-Admin-Key")],
)
async def test_header_bytes_outside_ascii_are_400(bot_client: Client, path: str, name: str) -> None:
    raw = "ключ-é".encode().decode("latin-1")  # what a client sending UTF-8 bytes looks like
    response = await bot_client.post(path, json={}, headers={name: raw})
    assert response.status == 400
    body = await problem_of(response)
    assert body["errors"][0]["loc"] == ["header", name]


async def test_unknown_path_and_wrong_method_are_problems(bot_client: Client) -> None:
    missing = await bot_client.get("/api/no-such-thing")
    assert missing.status == 404
    assert (await problem_of(missing))["instance"] == "/api/no-such-thing"

    wrong = await bot_client.put("/api/interactions", json={}, headers=API)
    assert wrong.status == 405
    assert "POST" in wrong.headers["Allow"]
    await problem_of(wrong)


async def test_every_field_error_is_listed(bot_client: Client) -> None:
    response = await bot_client.post(
        "/api/interactions", json={"event": "no-such-event", "channel": 7}, headers=API
    )
    assert response.status == 422
    body = await problem_of(response)
    locs = [e["loc"] for e in body["errors"]]
    assert len(locs) >= 3 and ["interactionId"] in locs
    assert all(e["pointer"] == "/" + "/".join(map(str, e["loc"])) for e in body["errors"])
    assert "no-such-event" not in str(body)  # the input is never echoed back


async def test_an_unexpected_exception_is_a_500_problem_without_traceback(
    aiohttp_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise KeyError("secret-internal-detail")

    app = web.Application(middlewares=[problems])
    app.router.add_get("/broken", broken)
    client: Client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, logger="bot.web.problems"):
        response = await client.get("/broken")
    assert response.status == 500
    body = await problem_of(response)
    assert "secret-internal-detail" not in str(body)
    assert "Traceback" not in await response.text()
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "secret-internal-detail" in str(logged[0].exc_info[1])  # type: ignore[index]


def test_each_family_has_one_status_on_every_door() -> None:
    cases: list[tuple[CrmcardError, int]] = [
        (InvalidInput("x"), 422),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (PreconditionFailed("stale"), 409),
        (RecordNotFound("gone"), 404),
        (CrmThrottled("slow down", retry_after=7), 429),
        (Throttled("slow down", retry_after=7), 429),
        (CrmUnavailable("down"), 503),
        (Unavailable("later", retry_after=2), 503),
    ]
    for error, status in cases:
        assert problem_for(error).status == status, error
    assert problem_for(CrmThrottled("slow down", retry_after=7)).retry_after == 7
    assert problem_for(ValueError("internal")).status == 500
    assert "internal" not in problem_for(ValueError("internal")).detail


async def test_consent_callback_with_a_non_ascii_cookie_is_refused_not_500(
    bot_client: Client,
) -> None:
    state = _seal_state(bot_client.app[SECRET_BOX], "the-nonce")
    response = await bot_client.get(
        "/admin/consent/callback",
        params={"state": state, "admin_consent": "True", "tenant": "t"},
        headers={"Cookie": "crmcard_consent=\u00e9t\u00e9"},
    )
    assert response.status == 400
    assert "not valid" in await response.text()
