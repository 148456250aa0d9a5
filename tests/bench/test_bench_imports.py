"""Every bench module imports: the benches run by hand, not in the suite, and use the app's
own parts (the store's table, the app factory, the SDK's routes); a part they use that the
app renamed or dropped fails here instead of at the next measurement."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__))


def test_every_bench_is_found() -> None:
    assert {"production", "crm_fanout", "link_costs", "merge_latency"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_the_bench_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
