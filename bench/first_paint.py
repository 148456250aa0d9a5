"""How long a first card waits for the store when every store call is a network round trip.

    .venv/bin/python -m bench.first_paint [--delay-ms 10] [--callers 8] [--rounds 3]

On Blob Storage each store call is an HTTP request of some milliseconds, and what a
card's first paint waits for is the store calls on its way that run one after the other,
not their number. Azurite on loopback answers in about a millisecond, so
``bench.crm_fanout`` cannot show it. This runs the webhook's use case (``ingest``, an
``assigned`` event) in one process on the embedded store behind a wrapper that holds
every call for ``--delay-ms`` (Azure Blob Storage's point reads and writes from an App
Service in the same region take a few to ten milliseconds), with two CRMs answering at
once and the event listeners production has (record creation, the write-back outbox),
and times the event to the moment the first card is handed to delivery: for new
callers (a number no card knows) and for a repeat caller (one card, attached to again).
Medians over rounds, with the lowest and highest round; the first interaction of a
round warms the process up and is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.adapters.crm.directory import SameForEveryTenant  # noqa: E402
from bot.adapters.storage.local import LocalStore  # noqa: E402
from bot.domain.interactions import Interaction  # noqa: E402
from bot.services.context import Context  # noqa: E402
from bot.services.interactions import InteractionEventIn, ingest  # noqa: E402
from bot.services.record_creation import on_event as record_creation_listener  # noqa: E402
from bot.services.store import Store  # noqa: E402
from bot.services.tenant_cache import PerTenant  # noqa: E402
from bot.services.writeback import outbox_listener  # noqa: E402
from tests.merge.test_store_calls_per_card import ContactCrm  # noqa: E402
from tests.store_wrapper import StoreWrapper  # noqa: E402

TENANT = "t-first-paint"


class RoundTrips(StoreWrapper):
    """A store whose every call waits ``delay`` seconds first, as a network request does."""

    def __init__(self, inner: Store, delay: float) -> None:
        super().__init__(inner)
        self.delay = delay

    async def before(self, call: str, key: str) -> None:
        await asyncio.sleep(self.delay)


class FirstPaint:
    """The delivery: notes when each interaction's first card is handed to it."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def deliver(self, interaction: Interaction, card: dict[str, Any], reached: Any) -> bool:
        self.at.setdefault(interaction.id, time.perf_counter())
        return True

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        return []


def assigned(interaction_id: str, phone: str) -> InteractionEventIn:
    return InteractionEventIn.model_validate(
        {
            "interactionId": interaction_id,
            "event": "assigned",
            "occurredAt": "2026-12-03T08:00:00Z",
            "channel": "voice",
            "agent": {"aadObjectId": "agent-1"},
            "customer": {"phone": phone},
        }
    )


async def one_round(workdir: Path, delay: float, callers: int) -> tuple[float, float]:
    """Median ms to the first card: new callers', then a repeat caller's."""
    store = RoundTrips(LocalStore(workdir / "first-paint.sqlite3"), delay)
    painted = FirstPaint()
    ctx = Context(
        store=store,
        crms=SameForEveryTenant([ContactCrm("a", "a-1"), ContactCrm("b", "7")]),
        delivery=painted,
        crm_first_paint=0.3,
        regions=PerTenant(),
        event_listeners=[record_creation_listener, outbox_listener()],
    )
    phones = [f"+44 7700 900{100 + n}" for n in range(callers + 1)]
    repeat = phones[1]
    waits: dict[str, list[float]] = {"new": [], "repeat": []}
    for n, phone in enumerate([*phones, *[repeat] * callers]):
        interaction_id = f"call-{n}"
        started = time.perf_counter()
        await ingest(ctx, TENANT, assigned(interaction_id, phone))
        await asyncio.gather(*list(ctx.background))
        if n:  # the first warms the process up
            kind = "new" if n <= callers else "repeat"
            waits[kind].append((painted.at[interaction_id] - started) * 1000)
    await store.close()
    return statistics.median(waits["new"]), statistics.median(waits["repeat"])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--delay-ms", type=float, default=10.0, help="each store call's wait")
    parser.add_argument("--callers", type=int, default=8, help="new callers (and repeats) a round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    new: list[float] = []
    repeat: list[float] = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as workdir:
            first, again = asyncio.run(one_round(Path(workdir), args.delay_ms / 1000, args.callers))
        new.append(first)
        repeat.append(again)
    print(
        f"first paint, {args.delay_ms:g} ms a store call, 2 CRMs answering at once, median of "
        f"{args.rounds} rounds (lowest-highest round): new caller {spread(new)} ms, "
        f"repeat caller {spread(repeat)} ms"
    )


if __name__ == "__main__":
    main()
