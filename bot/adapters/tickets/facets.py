"""A ticket's filter values as index tokens, for both engines.

A search for a common word with a selective filter (one agent, one channel) would rank
every ticket holding the word before the filter drops most of them. With the filter
values indexed as tokens next to the words (``xchwhatsapp``, ``xag<digest>``,
``xstsolved``), the engines intersect posting lists instead: FTS5 in a hidden ``facets``
column, PostgreSQL as extra lexemes of the ticket's tsvector. Tokens are letters and digits
only and start with ``x`` plus a kind, so they never equal a stem and need no quoting.
The embedded engine also indexes the tenant (``xtn<digest>``): its index is shared by
every tenant, and a tenant's search walks only that tenant's postings. Both engines
intersect a filter's tokens only where they narrow (:func:`narrowing`): the only tenant's
token, or a status nearly every ticket has, lists most of the archive, and walking that
list would be most of a search's cost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from bot.domain.tickets import Ticket
from bot.services.ticketing.archive import TicketQuery

SELECTIVE = 0.25
"""A filter whose values are on at most this share of tickets is intersected in the index;
a commoner one is checked on the rows only."""


def facet(kind: str, value: str) -> str:
    if kind in ("ag", "tn"):
        value = hashlib.sha1(value.lower().encode()).hexdigest()[:16]
    return "x" + kind + "".join(c for c in value.lower() if c.isalnum())


def facets(ticket: Ticket) -> list[str]:
    """The ticket's tokens: status, agent and (when known) channel."""
    found = [facet("st", ticket.status.value), facet("ag", ticket.agent_email)]
    if ticket.channel is not None:
        found.append(facet("ch", ticket.channel.value))
    return found


def facet_filters(query: TicketQuery) -> list[list[str]]:
    """The query's filters as groups of tokens: any token of a group, every group."""
    groups = (
        ("ch", [c.value for c in query.channels]),
        ("ag", list(query.agents)),
        ("st", [s.value for s in query.statuses]),
    )
    return [[facet(kind, v) for v in values] for kind, values in groups if values]


def narrowing(groups: list[list[str]], shares: Mapping[str, float]) -> list[list[str]]:
    """The token groups on at most :data:`SELECTIVE` of tickets, by ``shares`` (token ->
    share of tickets; a token missing from it counts as rare)."""
    return [g for g in groups if sum(shares.get(token, 0.0) for token in g) <= SELECTIVE]
