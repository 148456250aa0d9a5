"""What a log line or span belongs to: request, tenant and interaction, per task.

Context variables follow each request (and each task it starts), so a line logged deep in
a CRM adapter still says which tenant, interaction and request it was for. :func:`note`
adds what a request did (a card action's verb, door and actor): its access line, written
after the response in the same task, then says it, so a click logs one line, not two.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("crmcard_request_id", default=None)
tenant: ContextVar[str | None] = ContextVar("crmcard_tenant", default=None)
interaction: ContextVar[str | None] = ContextVar("crmcard_interaction", default=None)
_noted: ContextVar[dict[str, str] | None] = ContextVar("crmcard_noted", default=None)

_GIVEN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id(given: str | None = None) -> str:
    """The caller's ``X-Request-Id`` when it is a sane token, else a fresh one."""
    if given and _GIVEN_ID.match(given):
        return given
    return os.urandom(16).hex()  # as unique as uuid4().hex, a quarter of its cost


@contextlib.contextmanager
def about(*, tenant_id: str | None = None, interaction_id: str | None = None) -> Iterator[None]:
    """Within this block, log lines and spans are about this tenant / interaction."""
    tokens = []
    if tenant_id is not None:
        tokens.append((tenant, tenant.set(tenant_id)))
    if interaction_id is not None:
        tokens.append((interaction, interaction.set(interaction_id)))
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def bind(*, tenant_id: str | None = None, interaction_id: str | None = None) -> None:
    """For the rest of the current task (one request, one turn), lines are about these."""
    if tenant_id is not None:
        tenant.set(tenant_id)
    if interaction_id is not None:
        interaction.set(interaction_id)


def note(**facts: str) -> None:
    """For the rest of the current task, every line (its access line too) carries ``facts``."""
    _noted.set({**(_noted.get() or {}), **facts})


def current() -> dict[str, str]:
    found = {"requestId": request_id.get(), "tenant": tenant.get()}
    found["interaction"] = interaction.get()
    known = {name: value for name, value in found.items() if value}
    noted = _noted.get()
    return known if noted is None else {**known, **noted}
