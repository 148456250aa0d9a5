"""The capped Blob series' arithmetic: the quota written, the throttling read, the budget sized.

The bench itself runs by hand (``bench/production.py``); these pin the parts whose
mistakes would not show as a crash but as wrong figures: a quota for another share of
a core, throttling counted from the wrong fields, a budget that does not fit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import cpu_budget
from bench.production import BUDGET_HEADROOM, BlobRun, budget_for, errors_cell, parse_wrk


def group(tmp_path: Path) -> cpu_budget.CpuBudget:
    for name in ("cpu.cfs_period_us", "cpu.cfs_quota_us", "cgroup.procs"):
        (tmp_path / name).write_text("")
    return cpu_budget.CpuBudget(tmp_path)


def test_the_quota_is_the_budgets_share_of_each_period(tmp_path: Path) -> None:
    budget = group(tmp_path)
    budget.limit(0.2, 10_000)
    assert (tmp_path / "cpu.cfs_period_us").read_text() == "10000"
    assert (tmp_path / "cpu.cfs_quota_us").read_text() == "2000"
    assert budget.cores == 0.2
    budget.limit(0.05, 10_000)  # below the kernel's 1 ms minimum quota: 1 ms, and said so
    assert (tmp_path / "cpu.cfs_quota_us").read_text() == "1000"
    assert budget.cores == 0.1


def test_throttling_is_read_from_cpu_stat_and_taken_over_a_run(tmp_path: Path) -> None:
    budget = group(tmp_path)
    stat = tmp_path / "cpu.stat"
    stat.write_text("nr_periods 10\nnr_throttled 4\nthrottled_time 2000000000\n")
    before = budget.throttling()
    stat.write_text("nr_periods 110\nnr_throttled 54\nthrottled_time 6500000000\n")
    run = budget.throttling() - before
    assert (run.periods, run.throttled, run.share) == (100, 50, 0.5)
    assert run.throttled_s == pytest.approx(4.5)


def test_without_a_cpu_controller_no_group_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu_budget, "ROOT", tmp_path / "absent")
    with pytest.raises(cpu_budget.Unavailable), cpu_budget.budgets(["instance-0"]):
        pass
    assert not (tmp_path / "absent").exists()


def uncapped(instance_ms: float, azurite_ms: float, wrk_ms: float, clicks: int) -> BlobRun:
    return BlobRun(
        clicks=[clicks],
        p50_ms=[15.0],
        p99_ms=[60.0],
        wrk_runs=[],
        cpu_s=[instance_ms * clicks / 1000],
        kernel=0.06,
        azurite_s=azurite_ms * clicks / 1000,
        wrk_s=wrk_ms * clicks / 1000,
        seconds=8,
        wall_s=8.1,
        busy=0.86,
    )


def test_four_budgeted_instances_and_the_shared_parts_fit_in_the_cores() -> None:
    run = uncapped(instance_ms=1.72, azurite_ms=1.49, wrk_ms=0.13, clicks=4128)
    budget = budget_for(run, instances=4, cores=2)
    assert budget == 0.20
    # At that budget each instance clicks budget / 1.72 ms times a second; all of it:
    clicks_per_s = 4 * budget / 1.72e-3
    needed = clicks_per_s * (1.72 + 1.49 + 0.13) / 1000
    assert needed <= BUDGET_HEADROOM * 2


def test_wrk_errors_are_counted_by_kind() -> None:
    output = (
        "  Latency Distribution\n     50%  144.00ms\n     99%  300.00ms\n"
        "  1000 requests in 8.00s, 1.2MB read\n"
        "  Socket errors: connect 0, read 0, write 0, timeout 2\n"
        "  Non-2xx or 3xx responses: 1\nCLICKS 997 BAD 3\n"
    )
    run = parse_wrk(output, 1.0)
    assert run.errors == 6
    assert run.error_kinds == {"timeout": 2, "non-2xx": 1, "stale or refused": 3}
    assert errors_cell([run]) == "6 (stale or refused 3, timeout 2, non-2xx 1)"
