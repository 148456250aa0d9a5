"""bench.production prints the machine's pace beside absolute figures (the cold start):
it must stay a number of CPU milliseconds a reader can compare between runs."""

from __future__ import annotations

import re

from bench.production import machine_pace


def test_the_pace_is_whole_cpu_milliseconds_of_real_work() -> None:
    found = re.fullmatch(r"(\d+) ms", machine_pace())
    assert found is not None
    assert int(found[1]) > 0  # three million additions take a measurable time anywhere
