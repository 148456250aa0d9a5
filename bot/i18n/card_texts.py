"""Which strings of an Adaptive Card template a person reads, and their translation.

Card templates (``cards/*.json``) are written in English; the text under ``text``,
``title``, ``label``, ``tooltip``... is a gettext message id. The renderer
(:mod:`bot.adaptive_cards.template`) translates a template with :func:`translated` before
compiling it, and the catalogue extractor (:mod:`bot.i18n.extract`) lists
:func:`messages`, so both read the same rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_EXPRESSION = re.compile(r"\$\{([^}]*)\}")
TRANSLATED_KEYS = frozenset(
    {"text", "title", "label", "tooltip", "errorMessage", "placeholder", "altText", "fallbackText"}
)


def is_message(key: str, value: Any) -> bool:
    """Whether ``value`` under ``key`` is text for a person: a message id to translate."""
    return (
        key in TRANSLATED_KEYS
        and isinstance(value, str)
        and any(c.isalpha() for c in _EXPRESSION.sub("", value))
    )


def messages(node: Any) -> list[str]:
    """Every message id of a template, in order."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if is_message(k, v)]
        return found + [m for v in node.values() for m in messages(v)]
    if isinstance(node, list):
        return [m for item in node for m in messages(item)]
    return []


def translated(node: Any, gettext: Callable[[str], str]) -> Any:
    """``node`` with every message id replaced by ``gettext``'s translation of it."""
    if isinstance(node, dict):
        return {
            k: gettext(v) if is_message(k, v) else translated(v, gettext) for k, v in node.items()
        }
    if isinstance(node, list):
        return [translated(item, gettext) for item in node]
    return node
