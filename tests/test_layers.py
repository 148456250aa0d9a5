"""The layers point inward: each layer imports only the layers inside it.

Every import in ``bot`` is read from the source (module level, inside functions and under
``TYPE_CHECKING`` alike), so a dependency cannot hide from these rules by moving into a
function. Import cycles and imports in a fresh interpreter: ``tests/test_circular_imports.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bot"

KERNEL = ("bot.errors", "bot.observability")
"""Cross-cutting, importing nothing of crmcard's but themselves: the error tree every layer
raises from, and the logging/telemetry context every layer reports to."""

ALLOWED: dict[str, tuple[str, ...]] = {
    # pure rules and data: nothing of ours but the domain itself
    "bot.domain": ("bot.domain", "bot.i18n"),
    # message catalogues: pure
    "bot.i18n": ("bot.i18n",),
    # pure rendering of domain views into Adaptive Card JSON (templates, no I/O)
    "bot.adaptive_cards": ("bot.adaptive_cards", "bot.domain", "bot.i18n"),
    # use cases and their ports; the card renderers are pure functions like the domain
    "bot.services": ("bot.services", "bot.domain", "bot.adaptive_cards", "bot.i18n"),
    # CRMs, storage, Teams: implement the services' ports
    "bot.adapters": (
        "bot.adapters",
        "bot.services",
        "bot.domain",
        "bot.adaptive_cards",
        "bot.i18n",
        "bot.settings",
    ),
    # the composition root: settings become running parts, for the server and the CLI
    "bot.composition": ("bot.adapters", "bot.services", "bot.domain", "bot.settings"),
}
"""For each layer, the packages its modules may import (besides the kernel); no module
is let off these rules."""


BOTBUILDER_HOME = "bot.adapters.teams"
BOTBUILDER = ("botbuilder", "botframework", "msrest")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py"))


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")
    is_package = (PACKAGE.parent / Path(*package) / "__init__.py").exists()
    base = package if is_package else package[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _source(module: str) -> Path:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    return path if path.exists() else ROOT.joinpath(*module.split("."), "__init__.py")


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every module ``module`` imports, wherever the import statement stands."""
    path = _source(module)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            # "from bot.services import keys" imports the module bot.services.keys
            submodules = {f"{target}.{a.name}" for a in node.names} & set(MODULES)
            found.update(submodules or {target})
    return frozenset(found)


def ours(module: str) -> Iterator[str]:
    for name in imports_of(module):
        if name == "bot" or name.startswith("bot."):
            yield name


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer(module: str) -> str | None:
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if _within(module, (layer,)):
            return layer
    return None


def test_every_module_imports_only_inward() -> None:
    wrong = []
    for module in MODULES:
        layer = _layer(module)
        if _within(module, KERNEL):
            wrong += [f"{module} -> {n}" for n in ours(module) if not _within(n, KERNEL)]
        elif layer is not None:
            allowed = (*ALLOWED[layer], *KERNEL)
            wrong += [f"{module} -> {n}" for n in ours(module) if not _within(n, allowed)]
    assert wrong == []


def test_only_the_teams_adapter_imports_botbuilder() -> None:
    wrong = [
        f"{module} -> {name}"
        for module in MODULES
        if not _within(module, (BOTBUILDER_HOME,))
        for name in imports_of(module)
        if _within(name, BOTBUILDER)
    ]
    assert wrong == []


def test_the_cli_is_assembled_by_the_composition_root_not_by_the_web_app() -> None:
    """``crmcard serve`` starts the web app; every other command gets its parts from
    :mod:`bot.composition`, never from the web server's factory."""
    wrong = []
    for module in MODULES:
        if not _within(module, ("bot.cli",)):
            continue
        for node in ast.walk(ast.parse(_source(module).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "bot.web.app":
                wrong += [f"{module}: {a.name}" for a in node.names if a.name != "create_app"]
    assert wrong == []
    assert "bot.composition" in {n for m in MODULES if _within(m, ("bot.cli",)) for n in ours(m)}
