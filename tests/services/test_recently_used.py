"""The bounded mapping that drops its least recently used entry first."""

from __future__ import annotations

from bot.services.recently_used import RecentlyUsed


def test_keeping_past_the_limit_drops_the_least_recently_used() -> None:
    kept: RecentlyUsed[str, int] = RecentlyUsed(3)
    for number, key in enumerate("abcde"):
        kept.keep(key, number)
    assert list(kept.items()) == [("c", 2), ("d", 3), ("e", 4)]


def test_keeping_a_kept_key_replaces_its_value_and_makes_it_the_newest() -> None:
    kept: RecentlyUsed[str, int] = RecentlyUsed(3)
    for number, key in enumerate("abc"):
        kept.keep(key, number)
    kept.keep("a", 10)
    kept.keep("d", 3)
    assert list(kept.items()) == [("c", 2), ("a", 10), ("d", 3)]


def test_recall_makes_the_entry_the_newest_and_a_plain_read_does_not() -> None:
    kept: RecentlyUsed[str, int] = RecentlyUsed(3)
    for number, key in enumerate("abc"):
        kept.keep(key, number)
    assert kept.recall("a") == 0
    assert kept.get("b") == 1 and "b" in kept and kept["b"] == 1
    assert list(kept) == ["b", "c", "a"]
    kept.keep("d", 3)
    assert list(kept) == ["c", "a", "d"]  # "b", read but not recalled, went first


def test_recall_of_a_key_not_kept_is_none_and_changes_nothing() -> None:
    kept: RecentlyUsed[str, int] = RecentlyUsed(2)
    kept.keep("a", 0)
    kept.keep("b", 1)
    assert kept.recall("z") is None
    assert list(kept) == ["a", "b"]
