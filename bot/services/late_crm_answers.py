"""A new interaction's card shows the CRMs that answered fast, then fills in the slow ones.

:func:`first_answers` waits up to ``ctx.crm_first_paint`` for the contact's CRM records;
the card goes out with what answered, the slower CRMs marked "still answering".
:func:`finish_later`, called once that card is out (an update never goes before it), then
waits (in ``ctx.background``, off the webhook) for the others, up to ``ctx.crm_deadline``
from the start, writes their records into the interaction under compare-and-swap and
publishes the card again: with the late records, or with "X did not answer in time" for a
CRM that never did. The late records then file the card in the name and CRM-reference
indexes as the first ones did (its duplicates are found through them too): after the card
is sent, as the agent is waiting for the card and nobody for the index.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.domain.interactions import Interaction, ShownRecords
from bot.services import name_index
from bot.services.context import Context
from bot.services.crm import SearchCriteria
from bot.services.crm_fan_out import CrmAnswers, Progressive, fan_out_progressive
from bot.services.health import note_caller
from bot.services.name_index import FiledTerms
from bot.services.publisher import Reached
from bot.services.rendering import publish
from bot.services.store import Document, NotFound

log = logging.getLogger(__name__)


def shown_from(answers: CrmAnswers, at: datetime) -> ShownRecords:
    """The card's records and CRM warnings as the CRMs answered at ``at``."""
    return ShownRecords(
        records={record.ref.key: record for record in answers.records},
        person=[record.ref.key for record in answers.records if record.is_person_level],
        problems=answers.problems,
        problems_at=at,
    )


async def first_answers(ctx: Context, tenant_id: str, criteria: SearchCriteria) -> Progressive:
    if criteria.is_empty:
        return Progressive(CrmAnswers())
    clients = await ctx.crms.clients(tenant_id)
    return await fan_out_progressive(
        clients,
        lambda client: client.search(criteria),
        first_paint=ctx.crm_first_paint,
        deadline=ctx.crm_deadline,
    )


def with_late(
    current: Interaction, late: CrmAnswers, late_ids: list[str], at: datetime
) -> Interaction:
    """``current`` with the late CRMs' records and problems (their "still answering" gone),
    as they answered at ``at``."""
    shown = current.shown
    records = {**shown.records, **{r.ref.key: r for r in late.records}}
    person = list(
        dict.fromkeys([*shown.person, *(r.ref.key for r in late.records if r.is_person_level)])
    )
    problems = {k: v for k, v in shown.problems.items() if k not in late_ids}
    problems.update(late.problems)
    changed = shown.model_copy(update={"records": records, "person": person, "problems": problems})
    if changed == shown:
        return current
    return current.bumped(shown=changed.model_copy(update={"problems_at": at}))


async def _finish(
    ctx: Context,
    tenant_id: str,
    interaction_id: str,
    progressive: Progressive,
    stored: Document | None,
    filed: Callable[[], FiledTerms | None],
    reached: Reached | None,
) -> None:
    assert progressive.late is not None
    late = await progressive.late
    now = ctx.clock()
    try:
        before, interaction = await name_index.tracked_update(
            ctx.store,
            tenant_id,
            interaction_id,
            lambda current: with_late(current, late, progressive.late_ids, now),
            read=stored,
        )
    except NotFound:
        return
    note_caller(ctx.callers, tenant_id, bool(interaction.shown.person), ctx.clock())
    await publish(ctx, interaction, reached)
    if before is not None:  # after the card: the agent waits for it, not for the index
        await name_index.file_new_terms(ctx.store, tenant_id, before, interaction, terms=filed())


def finish_later(
    ctx: Context,
    tenant_id: str,
    interaction_id: str,
    progressive: Progressive,
    stored: Document | None = None,
    filed: Callable[[], FiledTerms | None] = lambda: None,
    reached: Reached | None = None,
) -> None:
    """Complete the card with the late CRMs in the background (no-op if none are late),
    from ``stored``, the interaction as last read or written, if known (a race re-reads);
    ``filed``: its card's terms as the first card's filing left them, once that is done
    (the late records are filed from them instead of a read); ``reached``: where the first
    card found its agent (the update goes there without reading it again)."""
    if progressive.late is None:
        return

    async def run() -> None:
        try:
            await _finish(ctx, tenant_id, interaction_id, progressive, stored, filed, reached)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not add late CRM answers to interaction %s", interaction_id)

    task = asyncio.ensure_future(run())
    ctx.background.add(task)
    task.add_done_callback(ctx.background.discard)


def abandon(progressive: Progressive) -> None:
    if progressive.late is not None:
        progressive.late.cancel()


async def drain(ctx: Context) -> None:
    """Cancel and await unfinished background work (app shutdown)."""
    tasks = list(ctx.background)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
