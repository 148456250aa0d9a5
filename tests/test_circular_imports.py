"""No import cycles in ``bot``, and every module importable on its own.

In the style of aiohttp's ``tests/test_circular_imports.py``: the import graph is read from
the source (imports inside functions included, as in :mod:`tests.test_layers`), and every
module is imported in a fresh interpreter, one interpreter per layer (one per module would
be some 200 interpreters).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.test_layers import ALLOWED, KERNEL, MODULES, ROOT, _within, ours


def _edges() -> dict[str, set[str]]:
    known = set(MODULES)
    return {m: {n for n in ours(m) if n in known and n != m} for m in MODULES}


def test_no_module_cycles_even_through_imports_inside_functions() -> None:
    """A module importing its own package (``from bot.services import keys``) is no cycle."""
    edges = {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in _edges().items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in MODULES:
        if module not in state:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("layer", sorted({*ALLOWED, "bot.web", "bot.cli", *KERNEL}))
def test_each_layer_imports_in_a_fresh_interpreter(layer: str) -> None:
    """Each layer's modules import cleanly when nothing else was imported first."""
    modules = [m for m in MODULES if _within(m, (layer,))]
    code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
