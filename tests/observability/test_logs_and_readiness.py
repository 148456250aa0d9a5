"""Structured log lines, request ids and ``/readyz``, over real HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.observability import context
from bot.observability.logs import AZURE_LOGGERS, JsonFormatter, configure
from bot.services.store import Document, Store
from bot.settings import Settings
from bot.web.access_log import RedactingAccessLogger
from bot.web.app import create_app
from tests.activities import AGENT, card_action, interaction_event
from tests.bot.test_customer_card_flow import call_card, record_action
from tests.connector import FakeConnector

Client = TestClient[Any, Any]
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZ2VudCIsInRpZCI6InQifQ.c2lnbmF0dXJlLWJ5dGVz"


class Lines(logging.Handler):
    """Formats each record as it is emitted (when its context is still the live one)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == name]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_line_is_one_json_object_without_secrets(lines: Lines) -> None:
    log = logging.getLogger("bot.test")
    with context.about(tenant_id="t-1", interaction_id="call-9"):
        log.info(
            "sent Bearer %s to the CRM (%s)",
            "abc.def.ghi",
            JWT,
            extra={"event": "crm.call", "crm": "sf", "client_secret": "s3cret", "token": "x"},
        )
    [line] = lines.lines
    assert line["level"] == "INFO" and line["logger"] == "bot.test"
    assert (line["tenant"], line["interaction"], line["event"], line["crm"]) == (
        "t-1",
        "call-9",
        "crm.call",
        "sf",
    )
    text = json.dumps(line)
    assert "s3cret" not in text and "client_secret" not in text and '"token"' not in text
    assert "abc.def.ghi" not in text and JWT not in text
    assert "Bearer ***" in line["message"]
    log.info("sent BEARER %s", "abc.def.ghi")  # whatever its case
    assert "abc.def.ghi" not in lines.lines[-1]["message"]
    assert context.current() == {}  # the block's context is gone after it


def test_azure_sdk_loggers_stay_at_warning() -> None:
    configure(json_lines=True)
    for name in AZURE_LOGGERS:
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
    assert isinstance(logging.getLogger().handlers[0].formatter, JsonFormatter)


def test_configured_again_logging_keeps_one_handler_the_new_one() -> None:
    """A second command in one process, or serve after a command, replaces the handler the
    first one installed: no line is written twice, none to a stream the first one had."""
    configure(json_lines=False)
    configure(json_lines=True)
    [handler] = logging.getLogger().handlers
    assert isinstance(handler.formatter, JsonFormatter)


def test_a_configured_line_does_not_look_up_its_source_line(lines: Lines) -> None:
    """No formatter here writes it; found, it would cost a walk up the stack per line."""
    records: list[logging.LogRecord] = []
    configure(json_lines=True)
    logging.getLogger().addHandler(lines)
    lines.addFilter(lambda record: records.append(record) or True)
    logging.getLogger("bot.test").info("clicked")
    [record] = records
    assert (record.lineno, record.funcName) == (0, "(unknown function)")
    assert lines.lines[-1]["message"] == "clicked"


async def test_every_request_has_an_id_that_its_lines_carry(
    bot_client: Client, lines: Lines
) -> None:
    response = await bot_client.get("/healthz", headers={"X-Request-Id": "req-42"})
    assert response.headers["X-Request-Id"] == "req-42"
    fresh = (await bot_client.get("/healthz")).headers["X-Request-Id"]
    assert len(fresh) == 32 and fresh != "req-42"
    bad = (await bot_client.get("/healthz", headers={"X-Request-Id": "x" * 500})).headers
    assert len(bad["X-Request-Id"]) == 32  # an unusable id is replaced, not echoed
    payload = interaction_event("call-1", "assigned")
    response = await bot_client.post(
        "/api/interactions",
        json=payload,
        headers={"X-Api-Key": "demo-key", "X-Request-Id": "req-43"},
    )
    assert response.status == 202
    [event] = lines.events("interaction.assigned")
    assert (event["requestId"], event["tenant"], event["interaction"]) == (
        "req-43",
        "demo-tenant",
        "call-1",
    )
    missing = await bot_client.get("/no/such/page", headers={"X-Request-Id": "req-44"})
    assert missing.status == 404 and missing.headers["X-Request-Id"] == "req-44"


async def test_readyz_reports_the_store_and_the_crm_circuits(bot_client: Client) -> None:
    response = await bot_client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ready" and body["store"] == "ok"
    assert isinstance(body["crms"], list)


class DeadStore:
    """A store whose every call fails, as a storage account that is unreachable."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def fail(*args: Any, **kwargs: Any) -> Document | None:
            raise ConnectionError("storage unreachable")

        return fail

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        raise ConnectionError("storage unreachable")
        yield prefix  # an async generator, like the real stores' listing

    async def close(self) -> None:
        """Nothing to close."""


async def test_readyz_is_503_when_the_store_does_not_answer(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    store: Store = DeadStore()  # type: ignore[assignment]
    app = create_app(settings.model_copy(update={"writeback_worker": False}), store=store)
    client: Client = await aiohttp_client(app)
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "unready" and body["store"].startswith("unavailable")
    assert (await client.get("/healthz")).status == 200  # liveness stays cheap


async def test_a_click_writes_one_line_its_access_line_saying_what_was_clicked(
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    connector: tuple[FakeConnector, str],
    lines: Lines,
) -> None:
    server = TestServer(create_app(settings))
    await server.start_server(access_log_class=RedactingAccessLogger)  # as `crmcard serve`
    client: Client = await aiohttp_client(server)
    fake, url = connector
    link = record_action(await call_card(client, url, fake), "link", "contact:")
    lines.lines.clear()
    response = await client.post(
        "/api/messages",
        json=card_action(url, "link", link["data"]),
        headers={"X-Request-Id": "req-click"},
    )
    assert response.status == 200
    assert (await response.json())["statusCode"] == 200
    [line] = [line for line in lines.lines if line.get("requestId") == "req-click"]
    assert line["logger"] == "aiohttp.access"
    assert '"POST /api/messages HTTP/1.1" 200' in line["message"]
    assert line["response_status"] == 200 and line["duration_ms"] >= 0
    assert (line["tenant"], line["interaction"]) == ("demo-tenant", "call-1")
    assert (line["verb"], line["door"], line["actor"]) == ("link", "teams", AGENT)


def test_time_stamps_are_utc_milliseconds() -> None:
    created = datetime(2026, 12, 1, 13, 53, 25, 206_999, tzinfo=UTC).timestamp()
    for at in (created, created + 1.0):  # a second formatted anew, then from memory
        record = logging.makeLogRecord({"msg": "x", "created": at})
        line = json.loads(JsonFormatter().format(record))
        assert line["time"] == datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
