"""Verbs of the merge flow: candidates, search, confirm, merge, undo."""

from __future__ import annotations

from bot.adaptive_cards.merge_cards import (
    CandidatesView,
    CandidateView,
    ConfirmView,
    HistoryView,
    render_candidates,
    render_confirm,
    with_undo_banner,
)
from bot.domain.interactions import Interaction
from bot.domain.merge import Candidate, MergeState, choose_survivor, reasons
from bot.services import merge as merge_service
from bot.services import merge_candidates
from bot.services.card_actions.base import (
    ActionData,
    ActionResult,
    InvalidAction,
    open_card,
    reread,
)
from bot.services.card_view import contact_name
from bot.services.cards import live_card
from bot.services.context import Context
from bot.services.rendering import card_for


def _candidate_views(found: list[Candidate]) -> list[CandidateView]:
    return [
        CandidateView(
            card_id=c.card_id,
            name=c.name or "Unknown contact",
            reasons=[r.text for r in c.reasons] or ["Found by search"],
        )
        for c in found
    ]


async def _merge_candidates_card(
    ctx: Context, interaction: Interaction, query: str, notices: list[str]
) -> ActionResult:
    card = await open_card(ctx, interaction)
    tenant = interaction.tenant_id
    if query.strip():
        found = await merge_candidates.search(ctx, tenant, card, query)
        heading = f"Cards matching “{query.strip()}”"
        empty = "No card matches that search."
    else:
        found = await merge_candidates.candidates(ctx, tenant, card)
        heading = "Possible duplicates of this contact, best match first"
        empty = "No likely duplicates found. Search for any card below."
    view = CandidatesView(
        interaction_id=interaction.id,
        rev=interaction.revision,
        contact_name=contact_name(card, interaction),
        heading=heading,
        candidates=_candidate_views(found),
        empty_text=empty,
        query=query,
        notices=notices,
        history=[
            HistoryView(
                audit_id=audit.id,
                text=f"{await merge_candidates.display_name(ctx, tenant, audit.absorbed_before)} · "
                f"{audit.at:%Y-%m-%d %H:%M} UTC",
            )
            for audit in await merge_service.recent_merges(ctx, tenant, card.id)
        ],
    )
    return ActionResult(render_candidates(view), notices)


async def merge_start(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult:
    return await _merge_candidates_card(ctx, interaction, "", [])


async def merge_search(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult:
    return await _merge_candidates_card(ctx, interaction, data.query or "", [])


async def merge_confirm(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult | tuple[Interaction, list[str]]:
    if not data.other_card_id:
        raise InvalidAction("pick the card to merge")
    tenant = interaction.tenant_id
    opened = await open_card(ctx, interaction)
    other = await live_card(ctx.store, tenant, data.other_card_id)
    if other is None or other.id == opened.id:
        notice = "That card no longer exists or was already merged; pick another one."
        return await _merge_candidates_card(ctx, interaction, "", [notice])
    open_facts = await merge_candidates.card_facts(ctx, tenant, opened)
    other_facts = await merge_candidates.card_facts(ctx, tenant, other)
    choice = choose_survivor(open_facts, other_facts)
    survivor, absorbed = (
        (open_facts, other_facts) if choice.survivor_id == opened.id else (other_facts, open_facts)
    )
    view = ConfirmView(
        interaction_id=interaction.id,
        rev=interaction.revision,
        other_card_id=other.id,
        merge_id=merge_service.new_merge_id(),
        survivor_text=(
            "The open card is kept and the other card is merged into it."
            if choice.survivor_id == opened.id
            else "The other card is kept, because it is tied to a CRM contact and the "
            "open card is not; the open card is merged into it."
        ),
        survivor_name=survivor.name or merge_candidates.label(survivor.card),
        survivor_lines=merge_candidates.describe(survivor.card),
        absorbed_name=absorbed.name or merge_candidates.label(absorbed.card),
        absorbed_lines=merge_candidates.describe(absorbed.card),
        reasons=[r.text for r in reasons(open_facts, other_facts)],
        undo_days=ctx.merge_undo_window.days,
    )
    return ActionResult(render_confirm(view), [])


async def merge_do(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> ActionResult | tuple[Interaction, list[str]]:
    if not data.other_card_id or not data.merge_id:
        raise InvalidAction("this action needs the card to merge and the merge id")
    try:
        audit = await merge_service.merge(
            ctx,
            interaction.tenant_id,
            interaction.card_id,
            data.other_card_id,
            actor,
            data.merge_id,
        )
    except merge_service.MergeRefused as refused:
        # A retry whose merge already moved this interaction lands here too; the audit
        # entry says whether that was this very merge.
        done = await merge_service.merge_of(ctx, interaction.tenant_id, data.merge_id)
        if done is None:
            return interaction, [str(refused)]
        audit = done
    interaction = await reread(ctx, interaction)
    if audit.state is not MergeState.done:
        return interaction, ["That merge was undone since; the cards are separate."]
    absorbed = await merge_candidates.display_name(
        ctx, interaction.tenant_id, audit.absorbed_before
    )
    text = f"Merged {absorbed} into this card."
    card = await card_for(ctx, interaction, [])
    return ActionResult(
        with_undo_banner(card, text, interaction.id, interaction.revision, audit.id), [text]
    )


async def merge_undo(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    if not data.audit_id:
        raise InvalidAction("this action needs the merge to undo")
    try:
        await merge_service.undo(ctx, interaction.tenant_id, data.audit_id, actor)
    except merge_service.MergeRefused as refused:
        return await reread(ctx, interaction), [str(refused)]
    return await reread(ctx, interaction), [
        "Merge undone: the two cards are separate again, as they were."
    ]
