"""A CRM's warning on a card clears itself once that CRM answers again.

The warning lines live with the interaction (``ShownRecords.problems``: CRM settings id ->
why its records are missing), stored, so they outlive whatever would have cleared them: the
late-answer task of a process that restarted ("X is still answering…" for ever), or a CRM
that was down when the card was made and is back now. :func:`recheck` asks again only the
CRMs a card warns about, once the warning is :data:`RECHECK_AFTER` old (a dead CRM is not
asked on every look at the card), and keeps what they answer: their records join the card,
their lines go, or are replaced by the current reason with a new time.

It runs whenever the card is shown again: Teams' automatic refresh of the card (its
``refresh`` action, sent when the agent looks at the card) and the tab loading it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.interactions import Interaction
from bot.services import name_index, tenant_settings
from bot.services.context import Context
from bot.services.crm_fan_out import fan_out
from bot.services.interactions import criteria_for

RECHECK_AFTER = timedelta(seconds=30)
"""How old a card's CRM warning is before the card asks that CRM again. Longer than any
lookup's deadline, so a lookup still running in this process is never asked twice."""


def due(interaction: Interaction, now: datetime) -> list[str]:
    """The CRMs (settings ids) whose warning on the open card is old enough to ask again."""
    shown = interaction.shown
    if not interaction.is_open or not shown.problems:
        return []
    if shown.problems_at is not None and now - shown.problems_at < RECHECK_AFTER:
        return []
    return list(shown.problems)


async def recheck(ctx: Context, interaction: Interaction) -> Interaction:
    """``interaction`` with its due CRM warnings asked again (itself when none is due)."""
    now = ctx.clock()
    wanted = due(interaction, now)
    if not wanted:
        return interaction
    tenant = interaction.tenant_id
    clients = [c for c in await ctx.crms.clients(tenant) if c.settings_id in wanted]
    region = await tenant_settings.region_of(ctx, tenant)
    criteria = criteria_for(interaction.identities, interaction.customer_name, region)
    answers = await fan_out(clients, lambda client: client.search(criteria), ctx.crm_deadline)
    connected = {client.settings_id for client in clients}

    def change(current: Interaction) -> Interaction:
        if due(current, now) != wanted:
            return current  # another look at the card asked them meanwhile
        shown = current.shown
        found = answers.records
        # A CRM disconnected since has nothing to recover: its line goes with it.
        problems = {k: v for k, v in shown.problems.items() if k not in wanted}
        problems.update({k: v for k, v in answers.problems.items() if k in connected})
        person = [*shown.person, *(r.ref.key for r in found if r.is_person_level)]
        changed = shown.model_copy(
            update={
                "records": {**shown.records, **{r.ref.key: r for r in found}},
                "person": list(dict.fromkeys(person)),
                "problems": problems,
                "problems_at": now,
            }
        )
        return current.bumped(shown=changed)

    return await name_index.update_interaction(ctx.store, tenant, interaction.id, change)
