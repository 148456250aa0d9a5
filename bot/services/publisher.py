"""The delivery port: putting an agent's customer card in front of them, and keeping it current."""

from __future__ import annotations

from typing import Any, Protocol

from bot.domain.interactions import Interaction


class Delivery(Protocol):
    async def deliver(self, interaction: Interaction, card: dict[str, Any]) -> bool:
        """Post the card to the agent (first time) or update it in place; False if unreachable."""
        ...

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        """Channel user ids whose clients should auto-refresh this card."""
        ...
