"""Turning an interaction into its customer card and putting it in front of the agent."""

from __future__ import annotations

import logging
from typing import Any

from bot.adaptive_cards.customer_card import render_customer_card
from bot.domain.cards import CustomerCard
from bot.domain.interactions import Interaction
from bot.domain.merge import MergeMarker
from bot.domain.workflows import StoredWorkflow, parse_workflow, runs_from_card
from bot.i18n import AgentLocale, localize, t
from bot.services import agent_locale, keys, merge_candidates
from bot.services.card_view import MergedInto, build_view
from bot.services.cards import get_card
from bot.services.context import Context
from bot.services.crm import creatable
from bot.services.outbox import card_status
from bot.services.publisher import Reached
from bot.services.store import read_model

log = logging.getLogger(__name__)

_PAST_TICKETS = t("Past tickets")


async def card_for(
    ctx: Context,
    interaction: Interaction,
    notices: list[str] | None = None,
    *,
    answers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The interaction's customer card in its agent's language; ``answers`` (record key ->
    text) answer a click on the row it was made on."""
    card = interaction.card_face or await _card_of(ctx, interaction)
    clients = await ctx.crms.clients(interaction.tenant_id)
    tenant = interaction.tenant_id
    locale = await agent_locale.of_interaction(ctx.store, interaction)
    view = build_view(
        card,
        interaction,
        crm_connected=bool(clients),
        crm_names={client.settings_id: client.display_name for client in clients},
        locale=locale,
        has_workflows=bool(clients) and await _has_workflows(ctx, tenant),
        answers=answers,
        notices=notices,
        refresh_user_ids=await ctx.delivery.refresh_user_ids(interaction),
        merged_into=await _merge_of_its_card(ctx, interaction),
        icons=ctx.icons,
        creatable=creatable(clients[0]) if clients else (),
        past_tickets_url=await _past_tickets(ctx, interaction, locale),
        writeback=(
            await card_status(ctx.store, interaction.tenant_id, interaction.id)
            if interaction.writeback_due
            else []
        ),
    )
    return render_customer_card(view)


async def _card_of(ctx: Context, interaction: Interaction) -> CustomerCard:
    card = await get_card(ctx.store, interaction.tenant_id, interaction.card_id)
    if card is None:
        raise LookupError(f"card {interaction.card_id!r} of interaction {interaction.id!r} is gone")
    return card


async def _past_tickets(ctx: Context, interaction: Interaction, locale: AgentLocale) -> str:
    """The card's "Past tickets" link for this caller, or "" (see past_tickets)."""
    if ctx.past_tickets is None:
        return ""
    label = localize(_PAST_TICKETS, locale)  # a label: looked up once per language
    return await ctx.past_tickets.link(interaction.tenant_id, interaction.identities, label)


async def _merge_of_its_card(ctx: Context, interaction: Interaction) -> MergedInto | None:
    """The merge that moved this interaction off its card onto its card now, if not undone."""
    if not interaction.merged_from:
        return None
    key = keys.card_merge(interaction.tenant_id, interaction.merged_from)
    marker = await read_model(ctx.store, key, MergeMarker)
    if marker is None or not marker.moved_onto(interaction.card_id):
        return None
    card = await _card_of(ctx, interaction)
    name = await merge_candidates.display_name(ctx, interaction.tenant_id, card)
    return MergedInto(audit_id=marker.audit_id, name=name)


async def _has_workflows(ctx: Context, tenant_id: str) -> bool:
    """Whether the tenant has a workflow an agent can run from the card (search, create;
    update and timeline ones run elsewhere): the card offers Workflows only then. This
    instance looks at most every few seconds, and at once after its own change
    (:func:`bot.services.workflows.save` and ``delete`` forget what it kept)."""

    async def listed() -> bool:
        async for key in ctx.store.keys(keys.workflows_prefix(tenant_id)):
            stored = await read_model(ctx.store, key, StoredWorkflow)
            if stored is not None and runs_from_card(parse_workflow(stored.definition)):
                return True
        return False

    return await ctx.workflows_defined.get(tenant_id, listed)


async def publish(ctx: Context, interaction: Interaction, reached: Reached | None = None) -> bool:
    """Post or update the agent's card; a failure is logged, never fatal to the caller.
    ``reached``: the card's, where its first delivery found the agent (its update goes
    there without reading it again)."""
    try:
        card = await card_for(ctx, interaction)
        return await ctx.delivery.deliver(interaction, card, reached)
    except Exception:
        log.exception("could not deliver the card of interaction %s", interaction.id)
        return False
