"""The demo CRM's records read as a CRM's do in every language the card speaks."""

from __future__ import annotations

from bot.adapters.crm.demo import DemoCrm
from bot.domain.records import RecordRef
from bot.i18n import AgentLocale
from bot.services.card_view import Render, key_fields
from tests.domain.factories import interaction


async def test_an_opportunitys_amount_is_a_field_the_card_formats_not_subtitle_text() -> None:
    related = await DemoCrm().related(RecordRef(crm="demo", type="account", id="A-1001"))
    [opportunity] = [r for r in related if r.ref.type == "opportunity"]
    assert opportunity.subtitle == "Proposal"  # no "$12000" in any language
    render = Render(interaction(), AgentLocale.of("de"), {})
    shown = {field["label"]: field["value"] for field in key_fields(opportunity, render)}
    assert shown["Betrag"] == "12.000"
