"""A compact card of one CRM record, shared into any chat (message extension, unfurled link).

Its title, type and CRM, a few fields, "Open in <CRM>" and "Link to my interaction": the
agent who clicks the latter gets the record linked to their open interaction. The card's
action data (``linkToMine``) carries only the record's key: the record is read again from
its CRM when linked, so a forged card cannot plant a snapshot the CRM does not hold.
"""

from __future__ import annotations

from typing import Any

from bot.adaptive_cards.template import load, render
from bot.domain.records import CrmRecord
from bot.i18n import ENGLISH, AgentLocale, localize, t

RECORD_TYPES = {
    "contact": t("Contact"),
    "account": t("Account"),
    "lead": t("Lead"),
    "case": t("Case"),
    "opportunity": t("Opportunity"),
}

MAX_FACTS = 6
MAX_FACT_LENGTH = 200


def record_card(record: CrmRecord, crm_name: str, locale: AgentLocale = ENGLISH) -> dict[str, Any]:
    facts = [
        {"name": name.replace("_", " ").capitalize(), "value": value[:MAX_FACT_LENGTH]}
        for name, value in record.fields.items()
        if value and name not in ("id", "name", "title")
    ][:MAX_FACTS]
    card: dict[str, Any] = render(
        load("record", locale.language),
        {
            "title": record.title,
            "typeLine": type_line(record, crm_name, locale),
            "subtitle": record.subtitle or "",
            "facts": facts,
            "url": record.url or "",
            "openTitle": localize(t("Open in {crm}", crm=crm_name), locale),
            "linkData": {"record": record.ref.key},
        },
    )
    return card


def type_line(record: CrmRecord, crm_name: str, locale: AgentLocale) -> str:
    kind = RECORD_TYPES.get(record.ref.type)
    shown = localize(kind, locale) if kind else record.ref.type.replace("_", " ").capitalize()
    return f"{shown} · {crm_name}"


def preview(record: CrmRecord, crm_name: str, locale: AgentLocale = ENGLISH) -> dict[str, Any]:
    """The thumbnail Teams lists in the compose box's results."""
    return {
        "contentType": "application/vnd.microsoft.card.thumbnail",
        "content": {"title": record.title, "text": type_line(record, crm_name, locale)},
    }
