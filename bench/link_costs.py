"""What one crmcard link/unlink invoke costs, piece by piece, in one process.

    .venv/bin/python -m bench.link_costs [--calls 300]

Sets up the app as ``bench.production`` does (install, 16 agents' calls started through
``POST /api/interactions``, the agents clicking in turn), then times, one call after
another, the whole turn and the parts it is made of. Two figures per line (best of 5
batches): wall time per call, and CPU time of the event loop thread per call
(``time.thread_time``). The second is what limits throughput: under load the loop thread
is the one saturated (SQLite statements run on it too, unless the file is busy). The HTTP
line includes the in-process test client's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from botbuilder.core import InvokeResponse  # noqa: E402
from botbuilder.schema import Activity  # noqa: E402
from msrest.universal_http import requests as msrest_requests  # noqa: E402

from bot.adapters.storage.local import LocalStore  # noqa: E402
from bot.adapters.teams.routes import ADAPTER, BOT, _checked_activity  # noqa: E402
from bot.adaptive_cards.customer_card import render_customer_card  # noqa: E402
from bot.adaptive_cards.template import load  # noqa: E402
from bot.domain.interactions import Interaction  # noqa: E402
from bot.services import keys  # noqa: E402
from bot.services.audit import Door  # noqa: E402
from bot.services.card_actions import ActionData, Actor, execute  # noqa: E402
from bot.services.card_view import build_view  # noqa: E402
from bot.services.cards import get_card  # noqa: E402
from bot.services.rendering import card_for  # noqa: E402
from bot.services.store import read_model  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.web.app import create_app  # noqa: E402
from bot.web.interactions import CONTEXT  # noqa: E402
from tests import activities  # noqa: E402
from tests.cards import actions as _actions  # noqa: E402
from tests.connector import FakeConnector  # noqa: E402

RECORD = "contact:C-2001"
AGENTS = 16
"""Agents clicking in turn, as the production bench's 16 connections do: each interaction
carries the audit entries of its own clicks of the last half second, as there."""
Row = tuple[str, float, float]


BATCHES = 5  # each figure is the best of 5 batches: other processes only ever add time


def timed(name: str, fn: Callable[[], Any], calls: int) -> Row:
    fn()
    per_batch = max(1, calls // BATCHES)
    best_wall = best_cpu = float("inf")
    for _ in range(BATCHES):
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(per_batch):
            fn()
        best_wall = min(best_wall, (time.perf_counter() - wall) / per_batch)
        best_cpu = min(best_cpu, (time.thread_time() - cpu) / per_batch)
    return name, best_wall, best_cpu


async def atimed(name: str, fn: Callable[[], Awaitable[Any]], calls: int) -> Row:
    await fn()
    per_batch = max(1, calls // BATCHES)
    best_wall = best_cpu = float("inf")
    for _ in range(BATCHES):
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(per_batch):
            await fn()
        best_wall = min(best_wall, (time.perf_counter() - wall) / per_batch)
        best_cpu = min(best_cpu, (time.thread_time() - cpu) / per_batch)
    return name, best_wall, best_cpu


class Counting:
    """Records a store's round trips (instance-level wrapper, for this process only)."""

    def __init__(self, store: Any) -> None:
        self.calls: list[str] = []
        for method in ("read", "create", "replace", "delete"):
            original = getattr(store, method)

            def wrapped(*args: Any, _original: Any = original, _name: str = method) -> Any:
                self.calls.append(f"{_name} {args[0]}")
                return _original(*args)

            setattr(store, method, wrapped)


async def run(calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="crmcard-costs-") as tmp:
        fake = FakeConnector()
        connector = TestServer(fake.app(), host="127.0.0.1")
        await connector.start_server()
        service_url = str(connector.make_url("")).rstrip("/")
        settings = Settings(
            _env_file=None,
            data_dir=Path(tmp) / "data",
            api_keys={"demo-tenant": "demo-key"},
            app_id="",
        )
        store = LocalStore(Path(tmp) / "data" / "state.sqlite3")
        app = create_app(settings, store)
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            await report(client, app, store, fake, service_url, calls)
        finally:
            await client.close()
            await connector.close()


async def report(
    client: TestClient[Any, Any],
    app: Any,
    store: LocalStore,
    fake: FakeConnector,
    service_url: str,
    calls: int,
) -> None:
    response = await client.post("/api/messages", json=activities.installed(service_url))
    assert response.status in (200, 201), await response.text()
    clickers: list[dict[str, Any]] = []
    for i in range(AGENTS):
        for second, event in enumerate(("assigned", "connected")):
            response = await client.post(
                "/api/interactions",
                json=activities.interaction_event(
                    f"costs-{i}", event, occurred_at=f"2026-11-23T08:00:0{second}Z"
                ),
                headers={"X-Api-Key": "demo-key"},
            )
            assert response.status == 202, await response.text()
        card = fake.cards()[-1].card
        [link] = [a for a in _actions(card, "link") if RECORD in a["data"].get("record", "")]
        clickers.append({"data": dict(link["data"]), "linked": False})
    turn = {"n": 0}
    data = clickers[0]["data"]
    adapter, bot, ctx = app[ADAPTER], app[BOT], app[CONTEXT]

    def next_body() -> dict[str, Any]:
        """The next agent's click: link, unlink, link... on their own card, as now shown."""
        clicker = clickers[turn["n"] % AGENTS]
        turn["n"] += 1
        verb = "unlink" if clicker["linked"] else "link"
        clicker["linked"] = not clicker["linked"]
        body = activities.card_action(service_url, verb, clicker["data"])
        clicker["data"]["rev"] += 1
        return body

    async def over_http() -> None:
        async with client.post("/api/messages", json=next_body()) as answer:
            text = await answer.read()
            assert answer.status == 200 and b"changed by someone else" not in text, text[:300]

    async def in_process_turn() -> None:
        activity = _checked_activity(json.loads(json.dumps(next_body())))
        result = await adapter.process_activity("", activity, bot.on_turn)
        json.dumps(result.body)
        await asyncio.sleep(0)  # the audit feed's batch writes run between clicks, as served

    rows: list[Row] = []
    rows.append(await atimed("HTTP POST /api/messages, link|unlink (sequential)", over_http, calls))
    rows.append(
        await atimed(
            "  in-process turn: deserialize + process_activity + dumps", in_process_turn, calls
        )
    )

    async def use_case() -> None:
        action = next_body()["value"]["action"]
        actor = Actor(user_id=activities.AGENT, door=Door.teams)
        await execute(ctx, activities.TENANT, actor, action["verb"], action["data"])
        await asyncio.sleep(0)

    rows.append(
        await atimed(
            "    card_actions.execute (read, change, write, card; no SDK, no HTTP)",
            use_case,
            calls,
        )
    )

    # The parts of a turn, in the order they run, on the first agent's interaction as
    # their next click finds it.
    turn["n"] = 0
    body = next_body()
    clickers[0]["linked"] = not clickers[0]["linked"]
    data["rev"] -= 1
    rows.append(
        timed(
            "  Activity().deserialize(invoke body)  [routes._checked_activity]",
            lambda: _checked_activity(body),
            calls,
        )
    )
    activity = _checked_activity(body)
    auth = adapter.bot_framework_authentication
    result = await auth.authenticate_request(activity, "")
    rows.append(
        await atimed(
            "  authenticate_request (no app id)",
            lambda: auth.authenticate_request(activity, ""),
            calls,
        )
    )
    rows.append(
        await atimed(
            "  connector_factory.create -> ConnectorClient",
            lambda: result.connector_factory.create(activity.service_url, result.audience),
            calls,
        )
    )
    rows.append(
        await atimed(
            "  create_user_token_client -> TokenApiClient",
            lambda: auth.create_user_token_client(result.claims_identity),
            calls,
        )
    )
    rows.append(
        timed(
            "    of which ClientRetryPolicy() (frozenset fix on)",
            msrest_requests.ClientRetryPolicy,
            calls,
        )
    )
    policy = msrest_requests.ClientRetryPolicy
    fixed = policy.safe_codes
    policy.safe_codes = list(fixed)  # what a stock botbuilder pays, for comparison
    try:
        rows.append(timed("    ClientRetryPolicy() without the fix (stock)", policy, calls // 3))
        rows.append(
            await atimed(
                "    ConnectorClient without the fix (stock)",
                lambda: result.connector_factory.create(activity.service_url, result.audience),
                calls // 3,
            )
        )
    finally:
        policy.safe_codes = fixed

    tenant = activities.TENANT
    key = keys.interaction(tenant, data["interactionId"])
    document = await ctx.store.read(key)
    interaction = Interaction.model_validate_json(document.data)
    rows.append(
        timed(
            "  ActionData.model_validate(action data)",
            lambda: ActionData.model_validate(data),
            calls,
        )
    )
    rows.append(
        await atimed(
            "  store.read (one SQLite statement, on the loop unless the file is busy)",
            lambda: ctx.store.read(key),
            calls,
        )
    )
    rows.append(
        timed(
            f"  Interaction.model_validate_json ({len(document.data)} B)",
            lambda: Interaction.model_validate_json(document.data),
            calls,
        )
    )
    rows.append(timed("  Interaction.model_dump_json", interaction.model_dump_json, calls))
    rows.append(
        await atimed(
            "  read_model(interaction) = read + validate",
            lambda: read_model(ctx.store, key, Interaction),
            calls,
        )
    )
    rows.append(
        await atimed(
            "  card_for (get_card + refresh_user_ids + view + render)",
            lambda: card_for(ctx, interaction),
            calls,
        )
    )
    customer_card = await get_card(ctx.store, tenant, interaction.card_id)
    assert customer_card is not None
    rows.append(
        await atimed(
            "    get_card (read + validate CustomerCard)",
            lambda: get_card(ctx.store, tenant, interaction.card_id),
            calls,
        )
    )
    rows.append(
        await atimed(
            "    delivery.refresh_user_ids (read + validate)",
            lambda: ctx.delivery.refresh_user_ids(interaction),
            calls,
        )
    )
    view = build_view(
        customer_card, interaction, crm_connected=True, notices=[], refresh_user_ids=["29:x"]
    )
    rows.append(
        timed(
            "    build_view",
            lambda: build_view(
                customer_card,
                interaction,
                crm_connected=True,
                notices=[],
                refresh_user_ids=["29:x"],
            ),
            calls,
        )
    )
    rows.append(
        timed(
            "    render_customer_card (template + size)",
            lambda: render_customer_card(view),
            calls,
        )
    )
    rendered = render_customer_card(view)
    rows.append(
        timed(
            "      template render",
            lambda: load("customer_card").render(view),
            calls,
        )
    )
    rows.append(
        timed(
            f"      orjson.dumps (the size check, {len(rendered.encoded)} B)",
            lambda: orjson.dumps(rendered),
            calls,
        )
    )
    invoke_body = {
        "statusCode": 200,
        "type": "application/vnd.microsoft.card.adaptive",
        "value": rendered,
    }
    answer = Activity(type="invokeResponse", value=InvokeResponse(status=200, body=invoke_body))
    rows.append(
        timed(
            "  deepcopy(invokeResponse activity): skipped when served (tests/teams/test_sdk_pins)",
            lambda: copy.deepcopy(answer),
            calls,
        )
    )
    rows.append(
        timed(
            "  json.dumps(invoke body) (the served path writes it with orjson)",
            lambda: json.dumps(invoke_body),
            calls,
        )
    )

    counter = Counting(store)
    await in_process_turn()

    width = max(len(name) for name, _, _ in rows) + 2
    print(f"\n{'one call, after a warm-up call':<{width}}{'wall µs':>10}{'loop CPU µs':>13}")
    print("-" * (width + 23))
    for name, wall, cpu in rows:
        print(f"{name:<{width}}{wall * 1e6:>10.0f}{cpu * 1e6:>13.0f}")
    print(f"\nstore round trips in one link turn ({len(counter.calls)}):")
    for call in counter.calls:
        print(f"  {call}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.calls))


if __name__ == "__main__":
    main()
