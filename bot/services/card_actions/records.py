"""Verbs on the card's records: link, unlink, refresh, expand, page, create."""

from __future__ import annotations

from bot.domain.errors import UnknownRecord
from bot.domain.interactions import Interaction
from bot.domain.links import LinkOutcome, pin_record, set_link
from bot.domain.records import NewRecord, RecordRef
from bot.i18n import t
from bot.services import crm_warnings
from bot.services.audit_feed import link_change
from bot.services.card_actions.base import (
    ActionData,
    CreateRecordData,
    InvalidAction,
    RecordData,
    SectionData,
    change_interaction,
    record_title,
)
from bot.services.card_view import DEFAULT_PAGE_SIZE
from bot.services.context import Context
from bot.services.crm import CARD_CREATES, CrmError
from bot.services.crm_fan_out import related_of
from bot.services.interactions import lookup_people


async def _set_link(
    ctx: Context, interaction: Interaction, data: RecordData, actor: str, linked: bool
) -> tuple[Interaction, list[str]]:
    key = data.record
    outcomes: list[LinkOutcome] = []

    def change(current: Interaction) -> Interaction:
        now = ctx.clock()
        result = set_link(current, key, linked=linked, seen_revision=data.rev, actor=actor, now=now)
        outcomes.append(result.outcome)
        if result.outcome is not LinkOutcome.applied:
            return result.interaction
        # Its audit entry is written with the change, and copied to the audit stream soon.
        audited = link_change(current, key, linked=linked, by=actor, door=ctx.door, at=now)
        made = result.interaction
        return made.model_copy(update={"unaudited": [*made.unaudited, audited]})

    updated = await change_interaction(ctx, interaction, change)
    notice = _link_notice(outcomes[-1], updated, key, linked)
    return updated, [notice] if notice else []


def _link_notice(
    outcome: LinkOutcome, interaction: Interaction, key: str, linked: bool
) -> str | None:
    """What the agent is told about their click (only that one text is made: every click
    asks)."""
    if outcome is LinkOutcome.applied:
        if linked:
            return t("Linked: this interaction is written here when it ends.")
        return t("Unlinked: nothing is written here.")
    if outcome is LinkOutcome.stale:
        return t(
            "“{title}” was changed by someone else after this card was shown. "
            "Here is the current card; nothing was changed.",
            title=record_title(interaction, key),
        )
    if outcome is LinkOutcome.closed:
        return t("This interaction is finished, so its links can no longer change.")
    return None


async def link(
    ctx: Context, i: Interaction, d: RecordData, actor: str
) -> tuple[Interaction, list[str]]:
    return await _set_link(ctx, i, d, actor, linked=True)


async def unlink(
    ctx: Context, i: Interaction, d: RecordData, actor: str
) -> tuple[Interaction, list[str]]:
    return await _set_link(ctx, i, d, actor, linked=False)


async def refresh(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    """Re-ask the CRMs for the contact's records, then for the records related to them."""
    people = await lookup_people(
        ctx, interaction.tenant_id, interaction.identities, interaction.customer_name
    )
    clients = await ctx.crms.clients(interaction.tenant_id)
    refs = [people.records[key].ref for key in people.person]
    related = await related_of(clients, refs, ctx.crm_deadline)

    def change(current: Interaction) -> Interaction:
        records = {**current.shown.records, **people.records}
        problems = dict(people.problems)
        children: dict[str, list[str]] = dict(current.shown.related)
        for parent, lookup in related.items():
            records.update({r.ref.key: r for r in lookup.records})
            children[parent] = [r.ref.key for r in lookup.records]
            problems.update(lookup.problems)
        shown = current.shown.model_copy(
            update={
                "records": records,
                "person": people.person,
                "related": children,
                "problems": problems,
                "problems_at": ctx.clock(),
            }
        )
        view = current.view.model_copy(update={"related_loaded": True})
        return current.bumped(shown=shown, view=view)

    return await change_interaction(ctx, interaction, change), []


async def expand(
    ctx: Context, interaction: Interaction, data: RecordData, actor: str
) -> tuple[Interaction, list[str]]:
    key = data.record
    if key not in interaction.shown.records:
        raise UnknownRecord(t("record {record} is not on this card", record=repr(key)))
    loaded = {}
    if key not in interaction.shown.related:
        clients = await ctx.crms.clients(interaction.tenant_id)
        loaded = await related_of(clients, [RecordRef.parse(key)], ctx.crm_deadline)

    def change(current: Interaction) -> Interaction:
        if key in current.view.expanded and key in current.shown.related:
            return current
        shown = current.shown
        if key in loaded:
            lookup = loaded[key]
            shown = shown.model_copy(
                update={
                    "records": {**shown.records, **{r.ref.key: r for r in lookup.records}},
                    "related": {**shown.related, key: [r.ref.key for r in lookup.records]},
                    "problems": {**shown.problems, **lookup.problems},
                }
            )
        view = current.view.model_copy(
            update={"expanded": list(dict.fromkeys([*current.view.expanded, key]))}
        )
        return current.bumped(shown=shown, view=view)

    return await change_interaction(ctx, interaction, change), []


async def collapse(
    ctx: Context, interaction: Interaction, data: RecordData, actor: str
) -> tuple[Interaction, list[str]]:
    key = data.record

    def change(current: Interaction) -> Interaction:
        if key not in current.view.expanded:
            return current
        expanded = [k for k in current.view.expanded if k != key]
        return current.bumped(view=current.view.model_copy(update={"expanded": expanded}))

    return await change_interaction(ctx, interaction, change), []


async def show_more(
    ctx: Context, interaction: Interaction, data: SectionData, actor: str
) -> tuple[Interaction, list[str]]:
    section = data.section

    def change(current: Interaction) -> Interaction:
        if current.revision != data.rev:
            return current  # a replay, or the card moved on: show what is there now
        sizes = dict(current.view.page_sizes)
        sizes[section] = sizes.get(section, DEFAULT_PAGE_SIZE) + DEFAULT_PAGE_SIZE
        return current.bumped(view=current.view.model_copy(update={"page_sizes": sizes}))

    return await change_interaction(ctx, interaction, change), []


async def create_record(
    ctx: Context, interaction: Interaction, data: CreateRecordData, actor: str
) -> tuple[Interaction, list[str]]:
    """Create a record in the contact's CRM and pin it to the interaction (a case, or for
    an unknown caller a contact or lead)."""
    record_type = data.record_type or "case"
    if record_type not in CARD_CREATES:
        raise InvalidAction(t("the card cannot create a {type}", type=repr(record_type)))
    if not data.subject or not data.subject.strip():
        return interaction, [t("Give the new record a subject.")]
    if interaction.revision != data.rev:
        # A retried invoke of a create that already happened must not create twice.
        return interaction, []
    person = [interaction.shown.records[k].ref for k in interaction.shown.person]
    contact = next((ref for ref in person if ref.type == "contact"), person[0] if person else None)
    fields = {"subject": data.subject.strip()}
    if record_type in PEOPLE:  # an unknown caller becomes a contact or lead, reachable
        fields = {"name": data.subject.strip(), **_reachable_at(interaction)}
        contact = None
    clients = await ctx.crms.clients(interaction.tenant_id)
    client = next((c for c in clients if contact and c.settings_id == contact.crm), None)
    client = client or (clients[0] if clients else None)
    if client is None:
        return interaction, [t("No CRM is connected, so no record can be created.")]
    try:
        record = await client.create(record_type, NewRecord(fields=fields), contact)
    except CrmError as error:
        return interaction, [t("Could not create the record: {error}", error=error.message)]
    updated = await change_interaction(
        ctx, interaction, lambda current: pin_record(current, record, actor=actor, now=ctx.clock())
    )
    return updated, [t("Created “{title}” and linked it to this interaction.", title=record.title)]


PEOPLE = frozenset({"contact", "lead"})


def _reachable_at(interaction: Interaction) -> dict[str, str]:
    """The caller's phone and email as this interaction knows them, for a new contact."""
    found: dict[str, str] = {}
    for identity in interaction.identities:
        kind = identity.identifier.kind.value
        if kind in ("phone", "email") and identity.identifier.readable:
            found.setdefault(kind, identity.identifier.shown)
    return found


async def show(
    ctx: Context, interaction: Interaction, data: ActionData, actor: str
) -> tuple[Interaction, list[str]]:
    """The card as it is now (Teams' automatic refresh, Back): a CRM it has warned about
    for a while is asked again first, so a warning clears itself once the CRM is back."""
    return await crm_warnings.recheck(ctx, interaction), []


# --- merging cards (PRODUCT.md section 1, issue 3) ------------------------------------
# Each verb is idempotent: showing candidates or a confirmation changes nothing, a
# retried mergeDo carries the same merge id (resumed, never merged twice), and undo of
# an undone merge answers as if it just happened.
