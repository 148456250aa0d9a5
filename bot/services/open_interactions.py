"""An agent with several open interactions chooses which customer card to see."""

from __future__ import annotations

from typing import Any

from bot.adaptive_cards.open_interactions import OpenInteractionView, render_open_interactions
from bot.i18n import AgentLocale, localize, t
from bot.services.card_view import channel_label, contact_name, state_label
from bot.services.cards import get_card
from bot.services.context import Context
from bot.services.interactions import open_for_agent


async def open_interactions_card(
    ctx: Context, tenant_id: str, aad_object_id: str, locale: AgentLocale
) -> dict[str, Any]:
    """The agent's open interactions (newest first), each with a button to its card."""
    items = []
    for interaction in await open_for_agent(ctx, tenant_id, aad_object_id):
        if not interaction.history:
            continue
        card = await get_card(ctx.store, tenant_id, interaction.card_id)
        name = contact_name(card, interaction) if card else interaction.customer_name or ""
        line = t(
            "{channel} · {state} · since {started}",
            channel=channel_label(interaction),
            state=state_label(interaction),
            started=interaction.history[0].occurred_at,
        )
        items.append(
            OpenInteractionView(
                interaction_id=interaction.id,
                rev=interaction.revision,
                name=localize(name, locale),
                line=localize(line, locale),
            )
        )
    return render_open_interactions(items, locale.language)
