"""Asking every connected CRM at once, and never waiting on a slow or dead one.

The card is built from whatever answered before the deadline; each CRM that failed or
was too slow becomes a short problem line on the card instead of an empty card.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bot.domain.records import CrmRecord, RecordRef
from bot.services.crm import CrmClient, CrmError, SearchCriteria

log = logging.getLogger(__name__)


@dataclass
class Lookup:
    records: list[CrmRecord] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


async def fan_out(
    clients: Sequence[CrmClient],
    call: Callable[[CrmClient], Awaitable[list[CrmRecord]]],
    deadline: float,
) -> Lookup:
    """Run ``call`` on every client in parallel; collect answers until ``deadline`` seconds."""
    lookup = Lookup()
    if not clients:
        return lookup
    tasks = {asyncio.ensure_future(call(client)): client for client in clients}
    done, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
        lookup.problems[tasks[task].settings_id] = (
            f"{tasks[task].display_name} did not answer in time; Refresh to try again"
        )
    for client in clients:  # keep the admin's CRM order, not completion order
        task = next(t for t, c in tasks.items() if c is client)
        if task not in done:
            continue
        error = task.exception()
        if error is None:
            lookup.records.extend(task.result())
        elif isinstance(error, CrmError):
            lookup.problems[client.settings_id] = str(error)
        else:
            log.error("CRM %s failed", client.settings_id, exc_info=error)
            lookup.problems[client.settings_id] = f"{client.display_name} failed unexpectedly"
    return lookup


async def find_people(
    clients: Sequence[CrmClient], criteria: SearchCriteria, deadline: float
) -> Lookup:
    """Person-level records (account, contact, lead) matching the contact's identifiers."""
    if criteria.is_empty:
        return Lookup()
    return await fan_out(clients, lambda client: client.search(criteria), deadline)


async def related_of(
    clients: Sequence[CrmClient], refs: Sequence[RecordRef], deadline: float
) -> dict[str, Lookup]:
    """Records related to each of ``refs``, asked of the CRM each one lives in."""
    by_crm = {client.settings_id: client for client in clients}

    async def one(ref: RecordRef) -> Lookup:
        client = by_crm.get(ref.crm)
        if client is None:
            return Lookup(problems={ref.crm: f"CRM {ref.crm!r} is no longer connected"})
        return await fan_out([client], lambda c: c.related(ref), deadline)

    results = await asyncio.gather(*(one(ref) for ref in refs))
    return {ref.key: result for ref, result in zip(refs, results, strict=True)}
