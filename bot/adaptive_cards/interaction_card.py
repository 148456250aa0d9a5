"""What the view of every card about one interaction carries (the merge and workflow
cards; the customer card's data has the same under the same names).

A card's texts are already in the agent's language when it is rendered; ``language``
names it (the template's own labels follow it) and ``icons`` is where the action icons
are served from. It also carries the interaction and the revision its buttons act on:
each ``Action.Execute`` sends that revision back, so a click on a stale card is refused
instead of applied to a newer state.
"""

from __future__ import annotations

from pydantic import Field

from bot.domain.api_model import ApiModel


class InteractionCardView(ApiModel):
    language: str = Field("en", description="the agent's language (texts are in it already)")
    icons: str = Field("/icons", description="base URL of the action icons crmcard serves")
    interaction_id: str
    rev: int = Field(description="the interaction's revision the card's actions act on")
