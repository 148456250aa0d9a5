"""Storage tests, and how they open a store: shared by the fixtures and the worker processes.

A store is described by plain strings (a :data:`StoreTarget`) so that another process can
open its own instance on the same SQLite file or Azurite container.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.adapters.storage.blob import BlobStore
from bot.adapters.storage.local import LocalStore
from bot.services.store import Store

StoreTarget = tuple[str, ...]
"""``("local", sqlite_path)`` or ``("blob", connection_string, container)``."""


def open_store(target: Sequence[str]) -> Store:
    """A new store instance on the target: each call is a separate client."""
    match tuple(target):
        case ("local", path):
            return LocalStore(path)
        case ("blob", connection_string, container):
            return BlobStore(connection_string, container)
    raise ValueError(f"unknown store target {target!r}")
