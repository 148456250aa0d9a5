"""bench.production's answers to this machine's drift (its speed changes 2-3x within
minutes): the machine's pace is printed beside absolute figures (the cold start), and
the link rounds take turns in opposite orders so that no server always runs last."""

from __future__ import annotations

import re

from bench.production import machine_pace, turn_order


def test_the_pace_is_whole_cpu_milliseconds_of_real_work() -> None:
    found = re.fullmatch(r"(\d+) ms", machine_pace())
    assert found is not None
    assert int(found[1]) > 0  # three million additions take a measurable time anywhere


def test_every_server_runs_once_a_round_and_each_position_is_shared_out() -> None:
    servers = ["crmcard", "stock", "fixed", "bare"]
    rounds = [turn_order(servers, r) for r in range(4)]
    assert all(sorted(r) == sorted(servers) for r in rounds)
    # Over two rounds every server's mean position is the same: a steady drift is even.
    for server in servers:
        assert sum(r.index(server) for r in rounds[:2]) == len(servers) - 1
    assert rounds[0] == rounds[2] and rounds[1] == rounds[3]
