"""Reading Adaptive Cards in tests and benchmarks: the actions a card offers."""

from __future__ import annotations

from typing import Any


def actions(card: Any, verb: str) -> list[dict[str, Any]]:
    """Every Action.Execute with ``verb`` anywhere in the card."""
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type") == "Action.Execute" and card.get("verb") == verb:
            found.append(card)
        for value in card.values():
            found.extend(actions(value, verb))
    elif isinstance(card, list):
        for item in card:
            found.extend(actions(item, verb))
    return found
