"""The customer card's "Past tickets": a link to the Tickets tab narrowed to the caller.

In Teams the link is a deep link to crmcard's Tickets static tab (entity ``tickets``)
whose ``subEntityId`` carries the caller's addresses and numbers as a query string
(``email=...&phone=...``, several comma separated, and ``shown=``, how the agent reads
them); the tab reads it from its context
(``page.subPageId``) and searches those tickets. The format is Teams' "deep link to an
app's tab": ``https://teams.microsoft.com/l/entity/<appId>/<entityId>?webUrl=&label=&context=``
with ``context`` the URL-encoded JSON ``{"subEntityId": ...}`` and ``appId`` the app
package's (manifest) id; ``webUrl`` is the page itself, for clients that cannot show the
tab. Without an app id (development, the Agents Playground) the link is that page.

Docs: https://learn.microsoft.com/en-us/microsoftteams/platform/concepts/build-and-test/deep-link-application
https://learn.microsoft.com/en-us/microsoftteams/platform/concepts/build-and-test/deep-links-execution-handling
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from bot.domain.cards import CardIdentity
from bot.domain.identifiers import IdentifierKind
from bot.i18n import format_phone

TICKETS_TAB = "tickets"
"""The Tickets static tab's ``entityId`` in the app manifest."""


def contact_query(identities: Iterable[CardIdentity]) -> str:
    """``email=...&phone=...`` of the caller's readable addresses and numbers, or "";
    ``shown=`` has them as the agent reads them (numbers in international format,
    addresses as written) for the page's "Past tickets of ..." line."""
    found: dict[str, list[str]] = {"email": [], "phone": []}
    shown: list[str] = []
    for identity in identities:
        reading = identity.identifier
        if reading.readable and reading.kind in (IdentifierKind.email, IdentifierKind.phone):
            values = found[reading.kind.value]
            if reading.value not in values:
                values.append(reading.value)
                phone = reading.kind is IdentifierKind.phone
                shown.append(format_phone(reading.value) if phone else reading.shown)
    query = {kind: ",".join(values) for kind, values in found.items() if values}
    return urlencode({**query, "shown": ", ".join(shown)} if query else {})


def tab_link(teams_app_id: str, page_url: str, contact: str, label: str) -> str:
    """The Teams deep link to the Tickets tab for ``contact`` (see the module docstring)."""
    web_url = f"{page_url}?{contact}"
    if not teams_app_id:
        return web_url
    context = json.dumps({"subEntityId": contact}, separators=(",", ":"))
    query = urlencode({"webUrl": web_url, "label": label, "context": context}, quote_via=quote)
    return f"https://teams.microsoft.com/l/entity/{quote(teams_app_id)}/{TICKETS_TAB}?{query}"


@dataclass(frozen=True)
class PastTickets:
    """Where the card's "Past tickets" leads, for tenants whose CRMs import tickets."""

    teams_app_id: str
    page_url: str
    """The Tickets page (``<public URL>/tab/tickets``)."""
    ticketing_on: Callable[[str], Awaitable[bool]]
    """Whether the tenant has a CRM with ticketing switched on."""

    async def link(self, tenant_id: str, identities: Iterable[CardIdentity], label: str) -> str:
        """The link for this caller, or "" (no ticketing, or nothing to look tickets up by)."""
        if not await self.ticketing_on(tenant_id):  # kept per tenant: asked first, cheap
            return ""
        contact = contact_query(identities)
        return tab_link(self.teams_app_id, self.page_url, contact, label) if contact else ""
