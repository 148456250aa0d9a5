"""A fixed CPU budget per benchmarked process: a cgroup v1 ``cpu`` group with a quota.

In production every bot instance has compute of its own (an App Service instance, see
``infra/``) and shares only the storage account. On one 2-core machine the instances,
the emulated storage and the load generator share the cores instead, so adding instances
adds nothing once the cores are busy. Giving each instance the same quota, small enough
that all of them plus the shared parts fit in the cores, emulates separate machines of a
fixed size: an instance then scales only as far as the shared storage lets it.

The groups live under ``/sys/fs/cgroup/cpu`` (cgroup v1, writable as root). A group with
a quota still competes with the rest of the machine for its share of the cores, so each
gets a high ``cpu.shares``: while the machine is busy with other work the instances
still get their whole budget (never more). :func:`budgets` removes its groups on exit,
after their processes have ended, on Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/cpu")
SHARES = 10 * 1024  # ten times a default process's weight


class Unavailable(Exception):
    """The cpu cgroup controller cannot be used here (not v1, not mounted, not root)."""


@dataclass(frozen=True)
class Throttling:
    """``cpu.stat``: enforcement periods, how many ended throttled, and for how long."""

    periods: int
    throttled: int
    throttled_s: float

    def __sub__(self, other: Throttling) -> Throttling:
        return Throttling(
            self.periods - other.periods,
            self.throttled - other.throttled,
            self.throttled_s - other.throttled_s,
        )

    @property
    def share(self) -> float:
        """The share of enforcement periods in which the group ran out of budget."""
        return self.throttled / self.periods if self.periods else 0.0


class CpuBudget:
    """One cgroup: at most ``cores`` of CPU time per ``period_us``, for all its processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cores = 0.0
        self.period_us = 0

    def limit(self, cores: float, period_us: int) -> None:
        """Allow ``cores`` (0.25: a quarter of one core) in every period of ``period_us``."""
        quota = max(1000, round(cores * period_us))  # the kernel's minimum quota is 1 ms
        self.cores, self.period_us = quota / period_us, period_us
        # The period first: a quota larger than the period it replaces is allowed either way.
        (self.path / "cpu.cfs_quota_us").write_text("-1")
        (self.path / "cpu.cfs_period_us").write_text(str(period_us))
        (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def add(self, pid: int) -> None:
        """Move a process (all its threads) into the group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttling(self) -> Throttling:
        stat = dict(
            line.split() for line in (self.path / "cpu.stat").read_text().splitlines() if line
        )
        return Throttling(
            int(stat["nr_periods"]), int(stat["nr_throttled"]), int(stat["throttled_time"]) / 1e9
        )

    def remove(self, timeout: float = 10) -> None:
        """Move what is left to the root group (the group must be empty) and remove it."""
        deadline = time.monotonic() + timeout
        while True:
            pids = (self.path / "cgroup.procs").read_text().split()
            for pid in pids:
                with contextlib.suppress(OSError):  # it ended meanwhile
                    (ROOT / "cgroup.procs").write_text(pid)
            try:
                self.path.rmdir()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _group(name: str) -> CpuBudget:
    if not (ROOT / "cpu.cfs_quota_us").exists():
        raise Unavailable(f"no cgroup v1 cpu controller at {ROOT}")
    path = ROOT / name
    try:
        path.mkdir()
        (path / "cpu.shares").write_text(str(SHARES))
    except OSError as error:
        with contextlib.suppress(OSError):
            path.rmdir()
        raise Unavailable(f"cannot make a cpu cgroup at {path}: {error}") from error
    return CpuBudget(path)


@contextlib.contextmanager
def budgets(names: list[str]) -> Iterator[list[CpuBudget]]:
    """One group per name (unique to this process), removed again on exit.

    Raises :class:`Unavailable` before making any group it cannot finish making. Stop
    the processes in the groups before leaving the ``with`` block; whatever still runs
    is moved back to the root group.
    """
    made: list[CpuBudget] = []
    try:
        for name in names:
            made.append(_group(f"crmcard-bench-{os.getpid()}-{name}"))
        yield made
    finally:
        for budget in made:
            with contextlib.suppress(OSError):
                budget.remove()
