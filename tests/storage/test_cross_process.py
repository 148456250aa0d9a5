"""Two OS processes, each with its own store instance, increment one counter concurrently.

This is the deployment case an in-process test cannot show: two bot instances sharing
one SQLite file or one blob container. Run as a module, this file is the worker process.

A dozen writers per process is enough to prove it: every writer of a process starts from
the same ETag, so writes are refused and retried (each worker reports how many), and the
cost of the race grows with the square of the writers (80 took half a minute on Azurite).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from pydantic import BaseModel

from bot.services.store import PreconditionFailed, Store, create_model, read_model, update
from tests.azurite import REPO_ROOT
from tests.storage import StoreTarget, open_store

KEY = "counters/shared"
PER_PROCESS = 12
WORKERS = ("p1", "p2")


class Tally(BaseModel):
    count: int = 0
    ids: list[str] = []


class RaceCounting:
    """The store, counting the writes refused because another writer got there first."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.lost = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def replace(self, key: str, data: bytes, etag: str) -> str:
        try:
            return await self.inner.replace(key, data, etag)
        except PreconditionFailed:
            self.lost += 1
            raise


async def increments(worker: str, n: int, target: StoreTarget) -> None:
    """Worker side: say "ready", wait for "go" on stdin, run n concurrent updates, then
    say how many of its writes lost a race."""
    store = RaceCounting(open_store(target))
    try:
        await store.read(KEY)  # connect (and create the container) before the race starts
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        async def add(tally: Tally, item: str) -> Tally:
            await asyncio.sleep(0)  # between read and write: this process's writers race too
            return Tally(count=tally.count + 1, ids=[*tally.ids, item])

        # Each writer competes with every writer of both processes, so it may lose more
        # than update()'s default 50 times; the bound is the writers' count.
        await asyncio.gather(
            *(
                update(
                    store,  # type: ignore[arg-type]
                    KEY,
                    Tally,
                    lambda tally, i=i: add(tally, f"{worker}-{i}"),
                    attempts=len(WORKERS) * n,
                )
                for i in range(n)
            )
        )
        print(f"lost {store.lost}", flush=True)
    finally:
        await store.inner.close()


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
        lost = 0
        for process in processes:
            out, _ = await asyncio.to_thread(process.communicate, timeout=60)
            assert process.returncode == 0
            lost += int(out.split()[-1])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    final = await read_model(store, KEY, Tally)
    assert final is not None
    expected = {f"{worker}-{i}" for worker in WORKERS for i in range(PER_PROCESS)}
    assert final.count == len(expected) == len(WORKERS) * PER_PROCESS
    assert len(final.ids) == len(expected)
    assert set(final.ids) == expected
    assert lost > 0, "the writers really raced"


if __name__ == "__main__":
    worker, n, *target = sys.argv[1:]
    asyncio.run(increments(worker, int(n), tuple(target)))
