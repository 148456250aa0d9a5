"""A mapping of at most so many entries that drops the least recently used one first.

Several parts of one instance remember what they would otherwise read, parse or build
again (parsed documents, agents' conversation references, posted messages, clients, what
a tenant's settings say), each for a bounded number of keys, so that memory stays flat
however many tenants and agents come by. They all keep this one kind of mapping.

It is an :class:`~collections.OrderedDict`, the newest entry last, with two short methods
of its own and nothing else in the way: these lookups are on the path of every click and
every card sent. Reading with ``get``, ``[]`` or ``in`` leaves the order as it is, for a
memo where only keeping counts as use (the oldest kept goes first).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentlyUsed(OrderedDict[K, V], Generic[K, V]):
    """At most ``limit`` entries, the least recently used first."""

    __slots__ = ("limit",)  # read by every keep: a slot is quicker than the instance dict

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def recall(self, key: K) -> V | None:
        """The value kept under ``key``, now the most recently used; None if none is (a
        mapping read this way keeps no None values)."""
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def keep(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key`` as the most recently used entry, dropping the
        least recently used one past the limit."""
        if key in self:
            self.move_to_end(key)
        self[key] = value
        if len(self) > self.limit:
            self.popitem(last=False)
