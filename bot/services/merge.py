"""Merging customer cards and undoing a merge, safe under concurrency.

Which cards to offer is :mod:`bot.services.merge_candidates`.

Design:

- **Markers.** ``keys.card_merge(card)`` holds a :class:`MergeMarker` created with
  create-if-absent. While a merge runs, both cards carry one (the survivor as
  ``survivor``, the absorbed card as ``absorbed``); a second merge touching either card
  finds the marker taken and is refused ("being merged, try again"), so two agents
  merging overlapping cards never interleave. After the merge the survivor's marker is
  released and the absorbed card's stays: it *is* the "merged into" mark that
  :func:`bot.services.cards.find_card` follows. Undo removes it.
- **Never merged.** A card created since cards carry the flag says it was never merged
  (``CustomerCard.never_merged``) and its readers skip its marker. Before it creates a
  card's marker, a merge (or undo) clears that flag with a compare-and-swap ``update`` of
  the card (:func:`bot.domain.cards.marked_for_merge`), so a reader that still finds it
  set knows the card has no marker, and an attach that wrote it so is met by the merge's
  late-interaction step. Nothing sets it again, an undo included, and a refused or dead
  merge leaves it cleared (its card's marker is read for nothing). Cards stored before the
  flag read as not known never merged and keep reading their markers. A version from
  before the flag does not clear it when it merges (a deploy's overlap: infra/README).
- **Audit first, then idempotent steps.** The audit entry (``keys.audit``) is written
  with create-if-absent under the merge id the confirm card carries, with both cards'
  before-state read *after* the markers are held. Every following step is a
  compare-and-swap ``update`` that is a no-op when already done (union of identities
  and interactions, index entry "absorbed -> survivor" only if it still names the
  absorbed card, interaction ``card_id`` likewise). A retried or crashed merge is
  resumed from the audit entry and cannot double-merge.
- **Undo** runs the same steps backwards from the audit entry: interactions and index
  entries that still name the survivor go back, the survivor loses only what the
  absorbed card brought (what reached it after the merge stays), and the absorbed card
  document, never modified by the merge once held (its flag cleared before, its
  before-state read after), is put back exactly as it was.
- **Crash recovery.** Before it holds any card, a merge (and an undo) files an
  :class:`UnfinishedMerge` under ``keys.unfinished_merge``, removed once it is settled.
  A process that dies midway leaves that entry and its holds behind; once the entry is
  older than :data:`STALE_LOCK`, the next merge that meets a held card, or the sweep every
  instance runs (:func:`sweep`, every :data:`SWEEP_SECONDS`), settles it with
  :func:`recover`: no audit entry yet means nothing moved, so the holds are let go; a
  pending merge or an undo under way is carried to its end by the same idempotent steps.
  So no card stays held longer than ``STALE_LOCK + SWEEP_SECONDS``. The same merge can be
  sent twice at once (Teams retries an invoke it got no answer to, an agent clicks
  twice), and both calls then hold the cards under one merge id, so each call marks its
  holds with a token of its own (``MergeMarker.holder``). A call that stops before
  anything moved (a card refused or gone, a store error) lets go at once of the holds it
  took itself and never of the other call's, which that call may still rely on. The entry
  lists the calls that filed it (their tokens; a call filing it after another adds its
  own and refreshes its time, so a retry after a dead call is not taken for dead): a call
  that stops takes only its own token out, and the entry goes with the last one. So a
  twin that filed it but holds nothing yet still has it, and a dead call's token keeps
  it for the sweep; an entry an older version filed, without tokens, is left to the
  sweep too. A hold whose write failed may have landed all the same (its answer lost): it
  is let go as well if it carries the call's token. A call that finds a card held by the
  other call takes the hold over (writes its own token into it): the call that took it
  cannot know otherwise that it is relied on, and lets go of it no more (nor of its
  token: the entry stays for the sweep if the other call stops too). A finished merge,
  :func:`recover` and the sweep let go by merge id, whichever call held the card: a dead
  call's holds are settled by any later one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta

from pydantic import Field

from bot.domain.api_model import Model
from bot.domain.cards import CardIdentity, CustomerCard, marked_for_merge
from bot.domain.errors import DomainError
from bot.domain.merge import (
    CardFacts,
    MarkerRole,
    MergeAudit,
    MergeMarker,
    MergeState,
    choose_survivor,
    merged,
    reasons,
    unmerged,
)
from bot.errors import Conflict
from bot.i18n import t
from bot.services import audit as audit_stream
from bot.services import keys, name_index
from bot.services.audit import Actor
from bot.services.cards import (
    IndexEntry,
    follow_merges,
    get_card,
    live_card,
    move_interaction,
    show_face,
)
from bot.services.context import Context
from bot.services.merge_candidates import card_facts
from bot.services.store import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooMuchContention,
    create_model,
    read_model,
    update,
)

STALE_LOCK = timedelta(minutes=2)
"""A merge or undo whose entry is this old is taken to have lost its process."""
SWEEP_SECONDS = 30.0
"""How often each instance looks for unfinished merges (:func:`keep_recovering`)."""
_FILING_ATTEMPTS = 10
"""How often a call tries to file itself in, or take itself out of, an entry that other
calls of the same merge keep changing."""

log = logging.getLogger(__name__)


class UnfinishedMerge(Model):
    """A merge or undo under way, and the cards it holds (or is about to hold)."""

    tenant_id: str
    merge_id: str
    card_ids: list[str]
    at: datetime
    """When a call of it last filed it: the sweep takes it as dead this long after."""
    calls: list[str] = Field(default_factory=list)
    """The holder tokens (``MergeMarker.holder``) of the calls that filed it and have not
    stopped: a call that stops before anything moved takes its own out, and the entry goes
    only with the last. Empty in entries filed by a version from before calls were
    recorded: those are left to the sweep."""


class MergeRefused(Conflict, DomainError):
    """The merge (or undo) cannot be done as asked; nothing was changed."""


class MergeBusy(MergeRefused):
    """Another merge holds one of the cards right now; try again in a moment."""


# --- markers --------------------------------------------------------------------------


async def _hold(ctx: Context, tenant_id: str, card_id: str, marker: MergeMarker) -> bool:
    """Take ``card_id`` for the call ``marker.holder`` of merge ``marker.audit_id``;
    MergeBusy if another merge holds it. False if another call of the same merge held it
    already (sent twice at once, or retried after its process died): that call may rely
    on the hold, so it is not this call's to let go, and this one now relies on it too, so
    it is taken over and that call no longer lets go of it either.

    The card is no longer ``never_merged`` first, held or refused: its readers then read
    the marker. A hold left by a merge whose process died is settled first
    (:func:`recover`)."""
    with contextlib.suppress(NotFound):  # a card gone has no readers to tell
        await update(ctx.store, keys.card(tenant_id, card_id), CustomerCard, marked_for_merge)
    key = keys.card_merge(tenant_id, card_id)
    for _ in range(3):
        try:
            await create_model(ctx.store, key, marker)
            return True
        except AlreadyExists:
            document = await ctx.store.read(key)
            if document is None:
                continue
            held = MergeMarker.model_validate_json(document.data)
            if held.audit_id == marker.audit_id:
                # Another call's: taken over (its holder rewritten), so that the call that
                # took it lets go of it no more if it stops, this one relying on it.
                ours = held.model_copy(update={"holder": marker.holder})
                try:
                    await ctx.store.replace(key, ours.model_dump_json().encode(), document.etag)
                except PreconditionFailed:  # let go or taken over meanwhile: look again
                    continue
                return False
            if held.role is MarkerRole.absorbed and await _finished(ctx, tenant_id, held):
                raise MergeRefused(
                    t("That card was already merged into another card; nothing was changed.")
                ) from None
            if ctx.clock() - held.at >= STALE_LOCK:
                await recover(ctx, tenant_id, held.audit_id, also_held=[card_id])
                continue
            raise MergeBusy(
                t("Someone is merging one of these cards right now; try again in a moment.")
            ) from None
    raise MergeBusy(t("Someone is merging one of these cards right now; try again in a moment."))


async def _finished(ctx: Context, tenant_id: str, marker: MergeMarker) -> bool:
    audit = await read_model(ctx.store, keys.audit(tenant_id, marker.audit_id), MergeAudit)
    return audit is not None and audit.state is not MergeState.pending


async def _release(
    ctx: Context, tenant_id: str, card_id: str, audit_id: str, holder: str | None = None
) -> bool:
    """Let go of ``card_id`` if merge ``audit_id`` holds it (with ``holder``: only if that
    call of it does). False if the hold is another call's of the same merge, which may
    rely on it, or kept changing under this call (left to :func:`recover`)."""
    key = keys.card_merge(tenant_id, card_id)
    for _ in range(5):
        document = await ctx.store.read(key)
        if document is None:
            return True
        held = MergeMarker.model_validate_json(document.data)
        if held.audit_id != audit_id:
            return True
        if holder is not None and held.holder != holder:
            return False
        try:
            await ctx.store.delete(key, document.etag)
            return True
        except PreconditionFailed:  # changed since it was read (taken over): look again
            continue
        except NotFound:
            return True
    return False


async def _let_go(
    ctx: Context, tenant_id: str, merge_id: str, holder: str, taken: list[str]
) -> None:
    """A call of a merge that stops before it moved anything releases the cards it took
    itself (``taken``, still held by ``holder``), then takes its token out of the entry
    (:func:`_unfile`), which another call of the same merge keeps with its own. In that
    order: a release that fails (a hold taken over, or changing under it) leaves the
    token, and so the entry, to :func:`recover`."""
    released = True
    for card_id in taken:
        released &= await _release(ctx, tenant_id, card_id, merge_id, holder)
    if released:
        await _unfile(ctx, tenant_id, merge_id, holder)


# --- merge ----------------------------------------------------------------------------


def new_merge_id() -> str:
    return f"merge-{uuid.uuid4().hex}"


async def merge(
    ctx: Context,
    tenant_id: str,
    open_card_id: str,
    other_card_id: str,
    actor: str,
    merge_id: str,
) -> MergeAudit:
    """Merge ``other_card_id`` and the open card; idempotent per ``merge_id``."""
    audit = await read_model(ctx.store, keys.audit(tenant_id, merge_id), MergeAudit)
    if audit is None:
        try:
            audit = await _plan(ctx, tenant_id, open_card_id, other_card_id, actor, merge_id)
        except MergeRefused:
            # The same merge sent twice at once (a double click, a retried invoke): the
            # other one may have started since and already taken the cards.
            audit = await read_model(ctx.store, keys.audit(tenant_id, merge_id), MergeAudit)
            if audit is None:
                raise
    if audit.state is MergeState.pending:
        audit = await _finish_merge(ctx, tenant_id, audit)
    return audit


async def _finish_merge(ctx: Context, tenant_id: str, audit: MergeAudit) -> MergeAudit:
    await _apply(ctx, tenant_id, audit)
    audit = await _advance(
        ctx, keys.audit(tenant_id, audit.id), MergeState.pending, MergeState.done
    )
    await _settled(ctx, tenant_id, audit.id)
    await _audit(ctx, tenant_id, audit, "card.merge", audit.actor)
    log.info(
        "cards merged",
        extra={
            "event": "merge.done",
            "merge": audit.id,
            "survivor": audit.survivor_id,
            "absorbed": audit.absorbed_id,
            "actor": audit.actor,
        },
    )
    return audit


async def _audit(ctx: Context, tenant_id: str, merged: MergeAudit, kind: str, actor: str) -> None:
    """The merge (or its undo) in the tenant's audit stream, once per merge id."""
    await audit_stream.record(
        ctx.store,
        tenant_id,
        Actor(actor, ctx.door),
        kind,
        at=ctx.clock(),
        target=merged.survivor_id,
        details={"mergeId": merged.id, "absorbedCardId": merged.absorbed_id},
        entry_id=f"{kind}-{merged.id}",
    )


async def _plan(
    ctx: Context,
    tenant_id: str,
    open_card_id: str,
    other_card_id: str,
    actor: str,
    merge_id: str,
) -> MergeAudit:
    if open_card_id == other_card_id:
        raise MergeRefused(t("A card cannot be merged with itself."))
    facts: list[CardFacts] = []
    for card_id in (open_card_id, other_card_id):
        card = await live_card(ctx.store, tenant_id, card_id)
        if card is None:
            raise MergeRefused(
                t("That card no longer exists or was already merged; nothing was changed.")
            )
        facts.append(await card_facts(ctx, tenant_id, card))
    open_facts, other_facts = facts
    choice = choose_survivor(open_facts, other_facts)
    now = ctx.clock()
    roles = {choice.survivor_id: MarkerRole.survivor, choice.absorbed_id: MarkerRole.absorbing}
    holder = uuid.uuid4().hex  # this call's: the same merge may be sent twice at once
    await _file_unfinished(ctx, tenant_id, merge_id, sorted(roles), holder)
    taken: list[str] = []  # the cards this call took itself
    try:
        # A fixed order (by card id) so that merges over overlapping cards cannot all
        # hold one card and wait on the next; a taken card refuses at once (MergeBusy).
        for card_id in sorted(roles):
            marker = MergeMarker(
                audit_id=merge_id,
                role=roles[card_id],
                survivor_id=choice.survivor_id,
                at=now,
                holder=holder,
            )
            if await _hold(ctx, tenant_id, card_id, marker):
                taken.append(card_id)
    except MergeRefused:  # nothing moved yet: no need to wait for the sweep
        await _let_go(ctx, tenant_id, merge_id, holder, taken)
        raise
    except StoreError:  # likewise; and the failed write may have landed, held by this call
        await _let_go(ctx, tenant_id, merge_id, holder, [*taken, card_id])
        raise
    # Both cards are ours now: their before-state cannot be changed by another merge.
    survivor = await get_card(ctx.store, tenant_id, choice.survivor_id)
    absorbed = await get_card(ctx.store, tenant_id, choice.absorbed_id)
    if survivor is None or absorbed is None:
        await _let_go(ctx, tenant_id, merge_id, holder, taken)
        raise MergeRefused(t("That card no longer exists; nothing was changed."))
    audit = MergeAudit(
        id=merge_id,
        tenant_id=tenant_id,
        actor=actor,
        at=now,
        open_card_id=open_card_id,
        survivor_before=survivor,
        absorbed_before=absorbed,
        why=choice.why,
        reasons=reasons(open_facts, other_facts),
    )
    try:
        await create_model(ctx.store, keys.audit(tenant_id, merge_id), audit)
    except AlreadyExists:
        stored = await read_model(ctx.store, keys.audit(tenant_id, merge_id), MergeAudit)
        if stored is None:
            raise
        audit = stored  # the same merge, retried concurrently: continue from its entry
    return audit


async def _repoint_index(
    ctx: Context, tenant_id: str, identity: CardIdentity, old: str, new: str
) -> None:
    with contextlib.suppress(NotFound):
        await update(
            ctx.store,
            keys.card_index(tenant_id, identity.key),
            IndexEntry,
            lambda e: IndexEntry(card_id=new) if e.card_id == old else e,
        )


async def _apply(ctx: Context, tenant_id: str, audit: MergeAudit) -> None:
    survivor_id, absorbed_id = audit.survivor_id, audit.absorbed_id
    absorbed = audit.absorbed_before
    # 0. From now on the absorbed card's identities find the survivor.
    marker_key = keys.card_merge(tenant_id, absorbed_id)
    await update(
        ctx.store,
        marker_key,
        MergeMarker,
        lambda m: (
            m.model_copy(update={"role": MarkerRole.absorbed})
            if m.audit_id == audit.id and m.role is MarkerRole.absorbing
            else m
        ),
    )
    # 1. The survivor gains everything (union: a retry adds nothing twice).
    await update(
        ctx.store,
        keys.card(tenant_id, survivor_id),
        CustomerCard,
        lambda card: merged(card, absorbed),
    )
    # 2. The absorbed card's identities now find the survivor.
    for identity in absorbed.identities:
        await _repoint_index(ctx, tenant_id, identity, absorbed_id, survivor_id)
    # 3. Its interactions (and so their links) move over.
    for interaction_id in absorbed.interaction_ids:
        await move_interaction(ctx.store, tenant_id, interaction_id, absorbed_id, survivor_id)
    # 4. Interactions that reached the absorbed card while it was being merged follow.
    late = await get_card(ctx.store, tenant_id, absorbed_id)
    if late is not None:
        extra = [i for i in late.interaction_ids if i not in absorbed.interaction_ids]
        if extra:
            carry = absorbed.model_copy(update={"interaction_ids": extra, "identities": []})
            await update(
                ctx.store,
                keys.card(tenant_id, survivor_id),
                CustomerCard,
                lambda card: merged(card, carry),
            )
            for interaction_id in extra:
                await move_interaction(
                    ctx.store, tenant_id, interaction_id, absorbed_id, survivor_id
                )
    # 5. The survivor is found by the absorbed card's names and CRM contacts too, and
    # lists the merge in its history.
    await name_index.copy_terms(
        ctx.store, tenant_id, absorbed_id, survivor_id, audit.id, [absorbed.display_name]
    )
    await name_index.add_history(ctx.store, tenant_id, survivor_id, audit.id)
    await show_face(ctx.store, tenant_id, survivor_id)  # its interactions' cards show all
    # The absorbed card keeps its marker ("merged into"); the survivor is free again.
    await _release(ctx, tenant_id, survivor_id, audit.id)


# --- undo -----------------------------------------------------------------------------


async def _advance(
    ctx: Context, audit_key: str, from_state: MergeState, to_state: MergeState
) -> MergeAudit:
    """Move the audit entry on once its work is done; a retry that finds it moved is fine."""
    return await update(
        ctx.store,
        audit_key,
        MergeAudit,
        lambda a: a.model_copy(update={"state": to_state}) if a.state is from_state else a,
    )


async def undo(
    ctx: Context,
    tenant_id: str,
    audit_id: str,
    actor: str,
) -> MergeAudit:
    """Put both cards back as they were before merge ``audit_id``; idempotent."""
    window = ctx.merge_undo_window
    audit_key = keys.audit(tenant_id, audit_id)
    audit = await read_model(ctx.store, audit_key, MergeAudit)
    if audit is None:
        raise MergeRefused(t("There is no such merge to undo."))
    if audit.state is MergeState.undone:
        return audit
    if audit.state is MergeState.pending:
        raise MergeBusy(t("That merge is still running; try again in a moment."))
    now = ctx.clock()
    if audit.state is MergeState.done:
        if now - audit.at > window:
            raise MergeRefused(
                t(
                    "That merge is older than {days} days and can no longer be undone.",
                    days=window.days,
                )
            )
        survivor_marker = await read_model(
            ctx.store, keys.card_merge(tenant_id, audit.survivor_id), MergeMarker
        )
        if survivor_marker is not None and survivor_marker.role is MarkerRole.absorbed:
            raise MergeRefused(
                t("The surviving card was merged again since; undo that merge first.")
            )
        # Hold the survivor so no other merge runs on it while we take it apart.
        holder = uuid.uuid4().hex  # this call's: the same undo may be sent twice at once
        await _file_unfinished(ctx, tenant_id, audit.id, [audit.survivor_id], holder)
        try:
            await _hold(
                ctx,
                tenant_id,
                audit.survivor_id,
                MergeMarker(
                    audit_id=audit.id,
                    role=MarkerRole.survivor,
                    survivor_id=audit.survivor_id,
                    at=now,
                    holder=holder,
                ),
            )
        except MergeRefused:  # refused before its write: nothing held, nothing moved
            await _unfile(ctx, tenant_id, audit.id, holder)
            raise

        def start(a: MergeAudit) -> MergeAudit:
            if a.state is not MergeState.done:
                return a
            return a.model_copy(
                update={"state": MergeState.undoing, "undone_by": actor, "undone_at": now}
            )

        audit = await update(ctx.store, audit_key, MergeAudit, start)
    if audit.state is MergeState.undoing:
        audit = await _finish_undo(ctx, tenant_id, audit)
    return audit


async def _finish_undo(ctx: Context, tenant_id: str, audit: MergeAudit) -> MergeAudit:
    await _revert(ctx, tenant_id, audit)
    audit = await _advance(
        ctx, keys.audit(tenant_id, audit.id), MergeState.undoing, MergeState.undone
    )
    await _settled(ctx, tenant_id, audit.id)
    await _audit(ctx, tenant_id, audit, "card.mergeUndo", audit.undone_by or audit.actor)
    log.info(
        "merge undone",
        extra={"event": "merge.undone", "merge": audit.id, "actor": audit.undone_by},
    )
    return audit


async def _revert(ctx: Context, tenant_id: str, audit: MergeAudit) -> None:
    survivor_id, absorbed_id = audit.survivor_id, audit.absorbed_id
    before = audit.absorbed_before
    # Both the absorbed card's own interactions and any that reached it during the merge
    # (recorded on its document) go back; nothing else on the survivor moves.
    kept = await get_card(ctx.store, tenant_id, absorbed_id)
    returning = list(
        dict.fromkeys([*before.interaction_ids, *(kept.interaction_ids if kept else [])])
    )
    for interaction_id in returning:
        await move_interaction(ctx.store, tenant_id, interaction_id, survivor_id, absorbed_id)
    for identity in before.identities:
        if identity not in audit.survivor_before.identities:
            await _repoint_index(ctx, tenant_id, identity, survivor_id, absorbed_id)
    back = before.model_copy(update={"interaction_ids": returning})
    await update(
        ctx.store,
        keys.card(tenant_id, survivor_id),
        CustomerCard,
        lambda card: unmerged(card, audit.survivor_before, back),
    )
    await update(
        ctx.store,
        keys.card(tenant_id, absorbed_id),
        CustomerCard,
        lambda card: card if card == back else back,
    )
    await name_index.drop_source(ctx.store, tenant_id, survivor_id, audit.id)
    for card_id in (survivor_id, absorbed_id):  # each interaction's card shows its own again
        await show_face(ctx.store, tenant_id, card_id)
    await _release(ctx, tenant_id, absorbed_id, audit.id)
    await _release(ctx, tenant_id, survivor_id, audit.id)


# --- recovery -------------------------------------------------------------------------


async def _file_unfinished(
    ctx: Context, tenant_id: str, merge_id: str, card_ids: list[str], holder: str
) -> None:
    """File merge ``merge_id`` as under way, by the call ``holder`` among its calls.

    Created if absent (a lone call's one request). If another call of the same merge
    filed it, this call's token is added and ``at`` refreshed, so that a retry after a
    dead call does not look stale to the sweep. An entry without tokens (an older
    version's) is only refreshed: a call cannot tell whether that version still relies on
    it, so it is left to the sweep."""
    key = keys.unfinished_merge(tenant_id, merge_id)
    now = ctx.clock()

    def joined(entry: UnfinishedMerge) -> UnfinishedMerge:
        held = list(dict.fromkeys([*entry.card_ids, *card_ids]))
        calls = [*entry.calls, holder] if entry.calls and holder not in entry.calls else entry.calls
        return entry.model_copy(update={"card_ids": held, "calls": calls, "at": now})

    entry = UnfinishedMerge(
        tenant_id=tenant_id, merge_id=merge_id, card_ids=card_ids, at=now, calls=[holder]
    )
    for _ in range(_FILING_ATTEMPTS):
        try:
            await create_model(ctx.store, key, entry)
            return
        except AlreadyExists:
            pass
        try:
            await update(ctx.store, key, UnfinishedMerge, joined)
            return
        except NotFound:  # settled meanwhile: file it anew
            continue
    raise TooMuchContention(t("Too many changes at once; nothing was changed. Try again."))


async def _unfile(ctx: Context, tenant_id: str, merge_id: str, holder: str) -> None:
    """The call ``holder`` of merge ``merge_id`` stopped before anything moved: its token
    leaves the entry, and the entry goes with the last one (deleted under the ETag read,
    so that a call filing it meanwhile is not lost). An entry without this call's token
    (an older version's, or filed anew since by another call) is not its own to remove:
    it is left to that call or to the sweep, as it is when the store keeps changing it."""
    key = keys.unfinished_merge(tenant_id, merge_id)
    for _ in range(_FILING_ATTEMPTS):
        document = await ctx.store.read(key)
        if document is None:
            return
        entry = UnfinishedMerge.model_validate_json(document.data)
        if holder not in entry.calls:
            return
        calls = [call for call in entry.calls if call != holder]
        try:
            if calls:
                left = entry.model_copy(update={"calls": calls})
                await ctx.store.replace(key, left.model_dump_json().encode(), document.etag)
            else:
                await ctx.store.delete(key, document.etag)
            return
        except PreconditionFailed:  # another call filed or left it meanwhile: look again
            continue
        except NotFound:
            return


async def _settled(ctx: Context, tenant_id: str, merge_id: str) -> None:
    with contextlib.suppress(NotFound):
        await ctx.store.delete(keys.unfinished_merge(tenant_id, merge_id))


async def recover(
    ctx: Context, tenant_id: str, merge_id: str, also_held: list[str] | None = None
) -> None:
    """Settle merge (or undo) ``merge_id`` whose process stopped midway; idempotent.

    Without an audit entry nothing has moved yet: the holds are let go. A pending merge
    is finished, an undo under way is finished; a merge already done only lets go of an
    undo's hold on its survivor that never got to start. ``also_held``: cards found held
    by it (a hold can outlive its entry when the process died between the two writes).
    """
    entry = await read_model(ctx.store, keys.unfinished_merge(tenant_id, merge_id), UnfinishedMerge)
    held = list(dict.fromkeys([*(entry.card_ids if entry else []), *(also_held or [])]))
    audit = await read_model(ctx.store, keys.audit(tenant_id, merge_id), MergeAudit)
    if audit is None:
        for card_id in held:
            await _release(ctx, tenant_id, card_id, merge_id)
    elif audit.state is MergeState.pending:
        await _finish_merge(ctx, tenant_id, audit)
    elif audit.state is MergeState.undoing:
        await _finish_undo(ctx, tenant_id, audit)
    else:
        # done (an undo that never started: its survivor hold goes) or undone (settled).
        await _release(ctx, tenant_id, audit.survivor_id, merge_id)
    await _settled(ctx, tenant_id, merge_id)
    log.info(
        "merge recovered",
        extra={"event": "merge.recovered", "merge": merge_id, "state": audit and audit.state},
    )


async def sweep(ctx: Context) -> int:
    """Recover every merge or undo whose entry is older than :data:`STALE_LOCK`."""
    recovered = 0
    now = ctx.clock()
    found = [key async for key in ctx.store.keys(keys.UNFINISHED_MERGES_PREFIX)]
    for key in found:
        entry = await read_model(ctx.store, key, UnfinishedMerge)
        if entry is None or now - entry.at < STALE_LOCK:
            continue
        await recover(ctx, entry.tenant_id, entry.merge_id)
        recovered += 1
    return recovered


async def keep_recovering(ctx: Context, interval: float = SWEEP_SECONDS) -> None:
    """Run :func:`sweep` every ``interval`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep(ctx)
        except Exception:  # a store hiccup: the next sweep tries again
            log.warning("merge recovery sweep failed", exc_info=True)


async def merge_of(ctx: Context, tenant_id: str, audit_id: str) -> MergeAudit | None:
    return await read_model(ctx.store, keys.audit(tenant_id, audit_id), MergeAudit)


async def merged_again(ctx: Context, tenant_id: str, audit: MergeAudit) -> bool:
    """Whether the two cards of merge ``audit`` are one card now, by this merge or a later."""
    survivor = await follow_merges(ctx.store, tenant_id, audit.survivor_id)
    return survivor == await follow_merges(ctx.store, tenant_id, audit.absorbed_id)


def within_window(audit: MergeAudit, now: datetime, window: timedelta) -> bool:
    return audit.state is MergeState.done and now - audit.at <= window


async def recent_merges(
    ctx: Context, tenant_id: str, card_id: str, limit: int = 5
) -> list[MergeAudit]:
    """Merges into ``card_id`` that can still be undone, newest first.

    Read from the card's merge history (``keys.merge_history``), newest first, stopping
    once ``limit`` are found or the entries fall out of the undo window.
    """
    now = ctx.clock()
    found: list[MergeAudit] = []
    for audit_id in reversed(await name_index.history(ctx.store, tenant_id, card_id)):
        audit = await merge_of(ctx, tenant_id, audit_id)
        if audit is None or audit.survivor_id != card_id:
            continue
        if within_window(audit, now, ctx.merge_undo_window):
            found.append(audit)
            if len(found) >= limit:
                break
        elif now - audit.at > ctx.merge_undo_window:
            break
    found.sort(key=lambda a: a.at, reverse=True)
    return found[:limit]
