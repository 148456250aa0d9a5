"""The message extension surface: CRM records searched from the compose box, links unfurled.

``composeExtension/query`` (the search command ``searchRecords``) answers with a list of
record cards; ``composeExtension/queryLink`` answers a pasted CRM record link with that
record's card. Both are invokes answered with HTTP 200 and a ``composeExtension`` body
(Teams: "Respond to search command", "Link unfurling"); a refusal is a ``message``
result, shown in the compose box, never an HTTP error. Texts follow the agent's language.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from botbuilder.core import InvokeResponse

from bot.adaptive_cards.record_card import preview, record_card
from bot.domain.records import CrmRecord
from bot.i18n import ENGLISH, AgentLocale, Text, localize, t
from bot.services import record_search
from bot.services.context import Context

SEARCH_COMMAND = "searchRecords"
CARD = "application/vnd.microsoft.card.adaptive"


def _answer(body: dict[str, Any]) -> InvokeResponse:
    return InvokeResponse(status=int(HTTPStatus.OK), body={"composeExtension": body})


def _message(text: Text, locale: AgentLocale) -> InvokeResponse:
    return _answer({"type": "message", "text": localize(text, locale)})


async def _result(
    ctx: Context, tenant_id: str, records: list[CrmRecord], locale: AgentLocale
) -> InvokeResponse:
    names = {c.settings_id: c.display_name for c in await ctx.crms.clients(tenant_id)}
    attachments = []
    for record in records:
        crm = names.get(record.ref.crm, record.ref.crm)
        attachments.append(
            {
                "contentType": CARD,
                "content": record_card(record, crm, locale),
                "preview": preview(record, crm, locale),
            }
        )
    return _answer({"type": "result", "attachmentLayout": "list", "attachments": attachments})


async def query(
    ctx: Context, tenant_id: str, value: Any, locale: AgentLocale = ENGLISH
) -> InvokeResponse:
    """The compose box's search: ``value.parameters[0]`` holds what the agent typed."""
    if not isinstance(value, dict) or value.get("commandId") != SEARCH_COMMAND:
        return _message(t("crmcard does not know that command."), locale)
    parameters = value.get("parameters") or []
    first = parameters[0] if parameters and isinstance(parameters[0], dict) else {}
    if first.get("name") == "initialRun":
        return _message(t("Search your CRMs by name, phone, e-mail or case number."), locale)
    text = first.get("value")
    if not isinstance(text, str) or not text.strip():
        return _message(t("Type a name, phone number, e-mail address or case number."), locale)
    records = await record_search.search(ctx, tenant_id, text[:200])
    if not records:
        return _message(t("No CRM record matches “{text}”.", text=text[:80]), locale)
    return await _result(ctx, tenant_id, records, locale)


async def query_link(
    ctx: Context, tenant_id: str, value: Any, locale: AgentLocale = ENGLISH
) -> InvokeResponse:
    """A pasted link: the record's card, or nothing when it is no record of a connected CRM."""
    url = value.get("url") if isinstance(value, dict) else None
    record = await record_search.unfurl(ctx, tenant_id, url) if isinstance(url, str) else None
    return await _result(ctx, tenant_id, [record] if record is not None else [], locale)


Handler = Callable[[Context, str, Any, AgentLocale], Awaitable[InvokeResponse]]
INVOKES: dict[str, Handler] = {
    "composeExtension/query": query,
    "composeExtension/queryLink": query_link,
}
"""The invokes of this surface, by activity name."""
