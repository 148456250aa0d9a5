"""Asking every connected CRM at once, and never waiting on a slow or dead one.

The card is built from whatever answered before the deadline; each CRM that failed or
was too slow becomes a short problem line on the card instead of an empty card.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from bot.domain.records import CrmRecord, RecordRef
from bot.i18n import t
from bot.services.crm import CrmClient, CrmError, SearchCriteria

log = logging.getLogger(__name__)


@dataclass
class CrmAnswers:
    """What the CRMs asked returned: their records, and a problem line per CRM that did not."""

    records: list[CrmRecord] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


async def fan_out(
    clients: Sequence[CrmClient],
    call: Callable[[CrmClient], Awaitable[list[CrmRecord]]],
    deadline: float,
) -> CrmAnswers:
    """Run ``call`` on every client in parallel; collect answers until ``deadline`` seconds."""
    if not clients:
        return CrmAnswers()
    tasks = {asyncio.ensure_future(call(client)): client for client in clients}
    done, _ = await asyncio.wait(tasks, timeout=deadline)
    return _settle(clients, tasks, done)


async def find_people(
    clients: Sequence[CrmClient], criteria: SearchCriteria, deadline: float
) -> CrmAnswers:
    """Person-level records (account, contact, lead) matching the contact's identifiers."""
    if criteria.is_empty:
        return CrmAnswers()
    return await fan_out(clients, lambda client: client.search(criteria), deadline)


async def related_of(
    clients: Sequence[CrmClient], refs: Sequence[RecordRef], deadline: float
) -> dict[str, CrmAnswers]:
    """Records related to each of ``refs``, asked of the CRM each one lives in."""
    by_crm = {client.settings_id: client for client in clients}

    async def one(ref: RecordRef) -> CrmAnswers:
        client = by_crm.get(ref.crm)
        if client is None:
            return CrmAnswers(
                problems={ref.crm: t("The CRM {crm} is no longer connected", crm=ref.crm)}
            )
        return await fan_out([client], lambda c: c.related(ref), deadline)

    results = await asyncio.gather(*(one(ref) for ref in refs))
    return {ref.key: result for ref, result in zip(refs, results, strict=True)}


@dataclass
class Progressive:
    """A fan-out in two steps: what answered within the first-paint budget, and a task
    finishing the others by the deadline (None when every CRM answered in time)."""

    first: CrmAnswers
    late: asyncio.Task[CrmAnswers] | None = None
    late_ids: list[str] = field(default_factory=list)


def still_answering(client: CrmClient) -> str:
    return t("{crm} is still answering…", crm=client.display_name)


def too_slow(client: CrmClient) -> str:
    return t("{crm} did not answer in time; Refresh to try again", crm=client.display_name)


def failed(client: CrmClient, error: BaseException) -> str:
    """The card's line for a CRM call that failed: the CRM's own reason, or that it broke."""
    if isinstance(error, CrmError):
        return error.message
    log.error("CRM %s failed", client.settings_id, exc_info=error)
    return t("{crm} failed unexpectedly", crm=client.display_name)


async def fan_out_progressive(
    clients: Sequence[CrmClient],
    call: Callable[[CrmClient], Awaitable[list[CrmRecord]]],
    *,
    first_paint: float,
    deadline: float,
) -> Progressive:
    """Like :func:`fan_out`, but return after ``first_paint`` seconds with the CRMs that
    answered by then; the slower ones keep running (same deadline, from the start) in
    :attr:`Progressive.late`, and are marked "still answering" in the first answers."""
    if not clients:
        return Progressive(CrmAnswers())
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = {asyncio.ensure_future(call(client)): client for client in clients}
    try:
        done, pending = await asyncio.wait(tasks, timeout=min(first_paint, deadline))
        if not pending or first_paint >= deadline:
            remaining = max(0.0, deadline - (loop.time() - started))
            if pending:
                more, _ = await asyncio.wait(pending, timeout=remaining)
                done |= more
            return Progressive(_settle(clients, tasks, done))
    except asyncio.CancelledError:  # nobody waits for the answers any more
        for task in tasks:
            task.cancel()
        raise
    first = _settle([c for t, c in tasks.items() if t in done], tasks, done)
    slow = [client for task, client in tasks.items() if task in pending]
    for client in slow:
        first.problems[client.settings_id] = still_answering(client)

    async def finish() -> CrmAnswers:
        remaining = max(0.0, deadline - (loop.time() - started))
        try:
            late_done, _ = await asyncio.wait(pending, timeout=remaining)
        except asyncio.CancelledError:
            for task in pending:
                task.cancel()
            raise
        return _settle(slow, tasks, late_done)

    return Progressive(
        first, asyncio.ensure_future(finish()), [client.settings_id for client in slow]
    )


def _settle(
    clients: Sequence[CrmClient],
    tasks: Mapping[asyncio.Task[list[CrmRecord]], CrmClient],
    done: AbstractSet[asyncio.Task[list[CrmRecord]]],
) -> CrmAnswers:
    """Records and problems of ``clients`` (in the admin's CRM order, not completion
    order); unfinished ones are cancelled and reported as not having answered in time."""
    answers = CrmAnswers()
    for client in clients:
        task = next(t for t, c in tasks.items() if c is client)
        if task not in done:
            task.cancel()
            answers.problems[client.settings_id] = too_slow(client)
            continue
        error = task.exception()
        if error is None:
            answers.records.extend(task.result())
        else:
            answers.problems[client.settings_id] = failed(client, error)
    return answers
