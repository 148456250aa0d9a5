"""Two OS processes, each with its own store instance, increment one counter concurrently.

This is the deployment case an in-process test cannot show: two bot instances sharing
one SQLite file or one blob container. Run as a module, this file is the worker process.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from pydantic import BaseModel

from bot.services.store import Store, create_model, read_model, update
from tests.azurite import REPO_ROOT
from tests.storage import StoreTarget, open_store

KEY = "counters/shared"
PER_PROCESS = 40
WORKERS = ("p1", "p2")


class Tally(BaseModel):
    count: int = 0
    ids: list[str] = []


async def increments(worker: str, n: int, target: StoreTarget) -> None:
    """Worker side: say "ready", wait for "go" on stdin, then run n concurrent updates."""
    store = open_store(target)
    try:
        await store.read(KEY)  # connect (and create the container) before the race starts
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        def add(tally: Tally, item: str) -> Tally:
            return Tally(count=tally.count + 1, ids=[*tally.ids, item])

        # Each writer competes with every writer of both processes, so it may lose more
        # than update()'s default 50 times; the bound is the writers' count.
        await asyncio.gather(
            *(
                update(
                    store,
                    KEY,
                    Tally,
                    lambda tally, i=i: add(tally, f"{worker}-{i}"),
                    attempts=len(WORKERS) * n,
                )
                for i in range(n)
            )
        )
    finally:
        await store.close()


async def test_two_processes_lose_no_update(store: Store, store_target: StoreTarget) -> None:
    await create_model(store, KEY, Tally())
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", __name__, worker, str(PER_PROCESS), *store_target],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for worker in WORKERS
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.to_thread(process.stdout.readline)
            assert line.strip() == "ready", f"worker did not start: {line!r}"
        for process in processes:  # both wait on the same line: they start together
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            await asyncio.to_thread(process.communicate, timeout=60)
            assert process.returncode == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    final = await read_model(store, KEY, Tally)
    assert final is not None
    expected = {f"{worker}-{i}" for worker in WORKERS for i in range(PER_PROCESS)}
    assert final.count == len(expected) == 80
    assert len(final.ids) == 80
    assert set(final.ids) == expected


if __name__ == "__main__":
    worker, n, *target = sys.argv[1:]
    asyncio.run(increments(worker, int(n), tuple(target)))
