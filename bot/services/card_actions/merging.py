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
from bot.domain.cards import CustomerCard
from bot.domain.identifiers import IdentifierKind
from bot.domain.interactions import Interaction
from bot.domain.merge import (
    REASON_TEXTS,
    Candidate,
    MergeState,
    Reason,
    ReasonKind,
    choose_survivor,
    reasons,
)
from bot.i18n import AgentLocale, Text, format_phone, localize, nt, separated, t
from bot.services import agent_locale, keys, merge_candidates
from bot.services import merge as merge_service
from bot.services.card_actions.base import (
    ActionData,
    ActionResult,
    MergeConfirmData,
    MergeDoData,
    MergeSearchData,
    MergeUndoData,
    open_card,
    reread,
)
from bot.services.card_view import (
    channel_label,
    channel_text,
    contact_name,
    shown_identifier,
)
from bot.services.cards import get_card, live_card
from bot.services.context import Context
from bot.services.rendering import card_for, publish
from bot.services.store import read_model


def _reason(reason: Reason) -> Text:
    detail = reason.detail
    if reason.kind is ReasonKind.same_phone:
        detail = ", ".join(format_phone(p.strip()) for p in detail.split(","))
    return REASON_TEXTS[reason.kind].fill(detail=detail)


async def _locale(ctx: Context, interaction: Interaction) -> AgentLocale:
    return await agent_locale.of_interaction(ctx.store, interaction)


async def describe(ctx: Context, card: CustomerCard, locale: AgentLocale) -> list[str]:
    """What tells this card apart: its channels, identifiers and last interaction."""
    lines: list[Text] = []
    channels = list(dict.fromkeys(identity.channel for identity in card.identities))
    if channels:
        labels = ", ".join(localize(channel_text(c.value), locale) for c in channels)
        lines.append(t("Channels: {channels}", channels=labels))
    for kind, label in (
        (IdentifierKind.phone, t("Phone: {values}")),
        (IdentifierKind.email, t("Email: {values}")),
        (IdentifierKind.handle, t("Handle: {values}")),
    ):
        values = [shown_identifier(i, locale) for i in card.readings(kind)]
        if values:
            lines.append(label.fill(values=", ".join(values)))
    count = len(card.interaction_ids)
    last = None
    if card.interaction_ids:
        key = keys.interaction(card.tenant_id, card.interaction_ids[-1])
        last = await read_model(ctx.store, key, Interaction)
    if last is not None and last.history:
        lines.append(
            nt(
                "{count} interaction, last: {channel}, {at}",
                "{count} interactions, last: {channel}, {at}",
                count,
                channel=channel_label(last),
                at=last.history[-1].occurred_at,
            )
        )
    else:
        lines.append(nt("{count} interaction", "{count} interactions", count))
    return [localize(line, locale) for line in lines]


def _name(known: str | None, card: CustomerCard | None, locale: AgentLocale) -> str:
    """The name a card is shown by: its contact's, else its label, in the agent's language."""
    if card is not None and (not known or known == merge_candidates.label(card)):
        return localize(merge_candidates.label(card), locale)
    return known or localize(t("Unknown contact"), locale)


async def _candidate_views(
    ctx: Context, tenant_id: str, found: list[Candidate], locale: AgentLocale
) -> list[CandidateView]:
    views = []
    for c in found:
        card = await get_card(ctx.store, tenant_id, c.card_id)
        views.append(
            CandidateView(
                card_id=c.card_id,
                name=_name(c.name, card, locale),
                reasons=[localize(_reason(r), locale) for r in c.reasons]
                or [localize(t("Found by search"), locale)],
                lines=await describe(ctx, card, locale) if card else [],
            )
        )
    return views


async def _merge_candidates_card(
    ctx: Context, interaction: Interaction, query: str, notices: list[str]
) -> ActionResult:
    card = await open_card(ctx, interaction)
    tenant = interaction.tenant_id
    locale = await _locale(ctx, interaction)
    if query.strip():
        found = await merge_candidates.search(ctx, tenant, card, query)
        heading = t("Cards matching “{query}”", query=query.strip())
        empty = t("No card matches that search.")
    else:
        found = await merge_candidates.candidates(ctx, tenant, card)
        heading = t("Possible duplicates of this contact, best match first")
        empty = t("No likely duplicates found. Search for any card below.")
    view = CandidatesView(
        language=locale.language,
        icons=ctx.icons,
        interaction_id=interaction.id,
        rev=interaction.revision,
        contact_name=localize(contact_name(card, interaction), locale),
        heading=localize(heading, locale),
        candidates=await _candidate_views(ctx, tenant, found, locale),
        empty_text=localize(empty, locale),
        query=query,
        notices=[localize(n, locale) for n in notices],
        history=[
            HistoryView(
                audit_id=audit.id,
                text=localize(
                    t(
                        "{name} · {at}",
                        name=await merge_candidates.display_name(
                            ctx, tenant, audit.absorbed_before
                        ),
                        at=audit.at,
                    ),
                    locale,
                ),
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
    ctx: Context, interaction: Interaction, data: MergeSearchData, actor: str
) -> ActionResult:
    return await _merge_candidates_card(ctx, interaction, data.query or "", [])


async def merge_confirm(
    ctx: Context, interaction: Interaction, data: MergeConfirmData, actor: str
) -> ActionResult | tuple[Interaction, list[str]]:
    tenant = interaction.tenant_id
    opened = await open_card(ctx, interaction)
    other = await live_card(ctx.store, tenant, data.other_card_id)
    if other is None or other.id == opened.id:
        notice = t("That card no longer exists or was already merged; pick another one.")
        return await _merge_candidates_card(ctx, interaction, "", [notice])
    open_facts = await merge_candidates.card_facts(ctx, tenant, opened)
    other_facts = await merge_candidates.card_facts(ctx, tenant, other)
    choice = choose_survivor(open_facts, other_facts)
    survivor, absorbed = (
        (open_facts, other_facts) if choice.survivor_id == opened.id else (other_facts, open_facts)
    )
    locale = await _locale(ctx, interaction)
    survivor_text = (
        t("The open card is kept and the other card is merged into it.")
        if choice.survivor_id == opened.id
        else t(
            "The other card is kept, because it is tied to a CRM contact and the "
            "open card is not; the open card is merged into it."
        )
    )
    view = ConfirmView(
        language=locale.language,
        icons=ctx.icons,
        interaction_id=interaction.id,
        rev=interaction.revision,
        other_card_id=other.id,
        merge_id=merge_service.new_merge_id(),
        survivor_text=localize(survivor_text, locale),
        survivor_name=_name(survivor.name, survivor.card, locale),
        survivor_lines=await describe(ctx, survivor.card, locale),
        absorbed_name=_name(absorbed.name, absorbed.card, locale),
        absorbed_lines=await describe(ctx, absorbed.card, locale),
        reasons=[localize(_reason(r), locale) for r in reasons(open_facts, other_facts)],
        undo_days=ctx.merge_undo_window.days,
    )
    return ActionResult(render_confirm(view), [])


async def merge_do(
    ctx: Context, interaction: Interaction, data: MergeDoData, actor: str
) -> ActionResult | tuple[Interaction, list[str]]:
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
            return interaction, [refused.message]
        audit = done
    interaction = await reread(ctx, interaction)
    if audit.state is not MergeState.done:
        return interaction, [t("That merge was undone since; the cards are separate.")]
    absorbed = await merge_candidates.display_name(
        ctx, interaction.tenant_id, audit.absorbed_before
    )
    locale = await _locale(ctx, interaction)
    described = await describe(ctx, audit.absorbed_before, locale)
    text = t(
        "Merged {name} ({details}) into this card.",
        name=absorbed,
        details=separated(described, locale),
    )
    await _publish_moved(ctx, interaction, audit.absorbed_before.interaction_ids)
    card = await card_for(ctx, interaction, [])
    if interaction.merged_from == audit.absorbed_id:  # this card went: its banner says so
        return ActionResult(card, [text])
    banner = with_undo_banner(
        card, text, interaction.id, interaction.revision, audit.id, locale, ctx.icons
    )
    return ActionResult(banner, [text])


async def _publish_moved(ctx: Context, clicked: Interaction, interaction_ids: list[str]) -> None:
    """The other messages of a merged (or unmerged) card show what became of it."""
    for interaction_id in interaction_ids:
        if interaction_id != clicked.id:
            key = keys.interaction(clicked.tenant_id, interaction_id)
            moved = await read_model(ctx.store, key, Interaction)
            if moved is not None:
                await publish(ctx, moved)


async def merge_undo(
    ctx: Context, interaction: Interaction, data: MergeUndoData, actor: str
) -> tuple[Interaction, list[str]]:
    try:
        await merge_service.undo(ctx, interaction.tenant_id, data.audit_id, actor)
    except merge_service.MergeRefused as refused:
        return await reread(ctx, interaction), [refused.message]
    undone = await merge_service.merge_of(ctx, interaction.tenant_id, data.audit_id)
    if undone is not None:
        if await merge_service.merged_again(ctx, interaction.tenant_id, undone):
            # An Undo left on another device: a later merge joined the cards again.
            notice = t("That merge was undone earlier; the two cards were merged again since.")
            return await reread(ctx, interaction), [notice]
        await _publish_moved(ctx, interaction, undone.absorbed_before.interaction_ids)
    return await reread(ctx, interaction), [
        t("Merge undone: the two cards are separate again, as they were.")
    ]
