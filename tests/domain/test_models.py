"""Every crmcard model builds its validator on first use, not when it is imported.

A server imports some 160 models and uses a handful before its first request; a model
that does not derive from :class:`bot.domain.api_model.Model` is built at import, on
every start. Settings and the agent's locale are validated while the app is built, and
``bot.i18n`` imports nothing of the domain.
"""

from __future__ import annotations

import importlib

from pydantic import BaseModel, TypeAdapter

from bot.domain.api_model import Model
from tests.test_layers import MODULES

BUILT_AT_START = {"bot.settings.Settings", "bot.i18n.locale.AgentLocale"}


def _subclasses(kind: type[BaseModel]) -> set[type[BaseModel]]:
    found = set(kind.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def test_every_model_but_those_start_up_validates_is_built_on_first_use() -> None:
    for module in MODULES:
        if module != "bot.__main__":
            importlib.import_module(module)
    ours = {m for m in _subclasses(BaseModel) if m.__module__.startswith("bot.")}
    eager = {f"{m.__module__}.{m.__qualname__}" for m in ours if not issubclass(m, Model)}
    assert eager == BUILT_AT_START
    assert all(m.model_config.get("defer_build") for m in ours if issubclass(m, Model))


def test_a_module_s_type_adapter_is_built_on_first_use_too() -> None:
    """``WORKFLOW`` (the union of the workflow kinds) is built by the first workflow parsed:
    an admin's, or the first card of a tenant that has workflows (some 2 ms)."""
    adapters = {}
    for module in MODULES:
        if module != "bot.__main__":
            for name, value in vars(importlib.import_module(module)).items():
                if isinstance(value, TypeAdapter):
                    adapters[f"{module}.{name}"] = value._config
    assert "bot.domain.workflows.WORKFLOW" in adapters
    assert {
        name for name, config in adapters.items() if not (config or {}).get("defer_build")
    } == set()
