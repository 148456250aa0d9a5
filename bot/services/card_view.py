"""What the customer card shows, as a typed view built from the card and its interaction.

Presentation (Adaptive Card JSON) is derived from this model only, so the bot message,
the tab and the tests all see the same thing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from bot.domain.cards import CustomerCard
from bot.domain.identifiers import Identifier, IdentifierKind
from bot.domain.interactions import Interaction, LifecycleEvent
from bot.domain.links import is_linked

DEFAULT_PAGE_SIZE = 8
CHILDREN_SHOWN = 6

_STATE_LABELS = {
    None: "New",
    LifecycleEvent.assigned: "Assigned",
    LifecycleEvent.connected: "Connected",
    LifecycleEvent.ended: "Ended · after-call work",
    LifecycleEvent.acw_completed: "Completed",
    LifecycleEvent.transferred: "Transferred",
    LifecycleEvent.unassigned: "Unassigned",
    LifecycleEvent.abandoned: "Abandoned",
}


class _View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class RecordView(_View):
    key: str
    title: str
    subtitle: str = ""
    url: str | None = None
    linked: bool
    can_expand: bool = Field(description="has related records to show, not shown yet")
    expanded: bool = False
    children: list[RecordView] = Field(default_factory=list)
    more_children: int = 0


class SectionView(_View):
    id: str
    title: str
    records: list[RecordView]
    hidden: int = Field(0, description="records left out by paging ('show more')")
    empty_text: str
    refreshable: bool = False


class FieldView(_View):
    label: str
    value: str


class CustomerCardView(_View):
    interaction_id: str
    rev: int
    card_id: str
    contact_name: str
    channel: str
    state: str
    queue: str
    contact_fields: list[FieldView]
    sections: list[SectionView]
    related_loaded: bool
    is_open: bool
    notices: list[str]
    problems: list[str]
    crm_connected: bool
    refresh_user_ids: list[str]
    writeback: list[str] = Field(
        default_factory=list, description="write-back outcome: written, retrying, parked..."
    )
    routed: str = Field("", description="IVR routing: queue · skills · tier (screen pop)")


def _record_view(interaction: Interaction, key: str, expandable: bool) -> RecordView:
    record = interaction.shown.records[key]
    expanded = expandable and key in interaction.view.expanded
    view = RecordView(
        key=key,
        title=record.title,
        subtitle=record.subtitle or "",
        url=record.url,
        linked=is_linked(interaction, key),
        can_expand=expandable and not expanded,
        expanded=expanded,
    )
    if view.expanded:
        child_keys = interaction.shown.related.get(key, [])
        view.children = [
            _record_view(interaction, child, expandable=False)
            for child in child_keys[:CHILDREN_SHOWN]
        ]
        view.more_children = max(0, len(child_keys) - CHILDREN_SHOWN)
    return view


def _section(
    interaction: Interaction,
    section_id: str,
    title: str,
    record_keys: list[str],
    empty: str,
    refreshable: bool = False,
) -> SectionView:
    size = interaction.view.page_sizes.get(section_id, DEFAULT_PAGE_SIZE)
    return SectionView(
        id=section_id,
        title=title,
        records=[_record_view(interaction, key, expandable=True) for key in record_keys[:size]],
        hidden=max(0, len(record_keys) - size),
        empty_text=empty,
        refreshable=refreshable,
    )


def _related_keys(interaction: Interaction) -> list[str]:
    """Person-level records first; after Refresh, the records related to them."""
    shown = interaction.shown
    keys = [*shown.person, *shown.found]
    if interaction.view.related_loaded:
        for person in shown.person:
            keys.extend(shown.related.get(person, []))
    current = set(shown.current)
    return [key for key in dict.fromkeys(keys) if key not in current]


def _shown(identifier: Identifier) -> str:
    """As written; a value crmcard could not read says so (it was kept, not refused)."""
    return identifier.shown if identifier.readable else f"{identifier.shown} (unreadable)"


def _contact_fields(card: CustomerCard, interaction: Interaction) -> list[FieldView]:
    fields = [
        FieldView(label=label, value=", ".join(_shown(i) for i in values))
        for label, values in (
            ("Phone", card.readings(IdentifierKind.phone)),
            ("Email", card.readings(IdentifierKind.email)),
            ("Handle", card.readings(IdentifierKind.handle)),
        )
        if values
    ]
    contacts = [
        interaction.shown.records[key]
        for key in interaction.shown.person
        if interaction.shown.records[key].ref.type == "contact"
    ]
    mapped: dict[str, str] = {}  # dynamic data mappings: each CRM's first contact, in order
    seen_crms: set[str] = set()
    for record in contacts:
        if record.ref.crm not in seen_crms:
            seen_crms.add(record.ref.crm)
            for label, value in record.card_fields.items():
                mapped.setdefault(label, value)
    if mapped:
        fields.extend(FieldView(label=label, value=value) for label, value in mapped.items())
    elif contacts:  # no mappings: the first contact's own fields
        fields.extend(
            FieldView(label=name.capitalize(), value=value)
            for name, value in contacts[0].fields.items()
            if name not in ("phone", "email")
        )
    return fields


def contact_name(card: CustomerCard, interaction: Interaction) -> str:
    for key in interaction.shown.person:
        record = interaction.shown.records[key]
        if record.ref.type in ("contact", "lead"):
            return record.title
    if interaction.customer_name or card.display_name:
        return interaction.customer_name or card.display_name or ""
    first = card.identities[0].identifier.value if card.identities else ""
    return f"Unknown contact {first}".strip()


def build_view(
    card: CustomerCard,
    interaction: Interaction,
    *,
    crm_connected: bool,
    notices: list[str] | None = None,
    refresh_user_ids: list[str] | None = None,
    writeback: list[str] | None = None,
) -> CustomerCardView:
    return CustomerCardView(
        interaction_id=interaction.id,
        rev=interaction.revision,
        card_id=card.id,
        contact_name=contact_name(card, interaction),
        channel=interaction.channel.value.capitalize(),
        state=_STATE_LABELS[interaction.state],
        queue=interaction.queue or "",
        contact_fields=_contact_fields(card, interaction),
        sections=[
            _section(
                interaction,
                "current",
                "Current interaction",
                interaction.shown.current,
                "Records created or pinned during this interaction appear here.",
            ),
            _section(
                interaction,
                "related",
                "Related interactions",
                _related_keys(interaction),
                "No CRM records found for this contact.",
                refreshable=True,
            ),
        ],
        related_loaded=interaction.view.related_loaded,
        is_open=interaction.is_open,
        notices=notices or [],
        problems=list(interaction.shown.problems.values()),
        crm_connected=crm_connected,
        refresh_user_ids=refresh_user_ids or [],
        writeback=writeback or [],
        routed=interaction.routing or "",
    )
