"""The delivery port: putting an agent's customer card in front of them, and keeping it current."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bot.domain.interactions import Interaction


class Reached:
    """Where one card's first delivery found its agent (each leg its own: the Teams
    conversation it posted to), for that card's update to go there without reading it
    again. Made for one card (an interaction's first card and its late CRMs' update) and
    dropped with it: never kept across cards, so it cannot serve a conversation the agent
    has left to a later card."""

    def __init__(self) -> None:
        self.legs: dict[object, object] = {}


class Delivery(Protocol):
    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: Reached | None = None
    ) -> bool:
        """Post the card to the agent (first time) or update it in place; False if
        unreachable. ``reached``: this card's, where an earlier delivery of it found the
        agent (filled in by the first)."""
        ...

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        """Channel user ids whose clients should auto-refresh this card."""
        ...


class CompositeDelivery:
    """Delivers to every channel the agent may be watching (Teams chat, open tabs).

    Delivered if any leg delivered; one leg failing does not keep the card from the others.
    """

    def __init__(self, *legs: Delivery) -> None:
        self._legs = legs

    async def deliver(
        self, interaction: Interaction, card: dict[str, Any], reached: Reached | None = None
    ) -> bool:
        delivered = False
        failure: Exception | None = None
        for leg in self._legs:
            try:
                delivered = await leg.deliver(interaction, card, reached) or delivered
            except Exception as error:
                logging.getLogger(__name__).exception(
                    "%s could not deliver the card of interaction %s",
                    type(leg).__name__,
                    interaction.id,
                )
                failure = failure or error
        if failure is not None and not delivered:
            raise failure
        return delivered

    async def refresh_user_ids(self, interaction: Interaction) -> list[str]:
        ids: list[str] = []
        for leg in self._legs:
            ids.extend(i for i in await leg.refresh_user_ids(interaction) if i not in ids)
        return ids
