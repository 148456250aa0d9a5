"""Which agent a CRM call is made for: the agent of the current request or turn.

A CRM connected with delegated access (``CrmConfig.access``) calls the CRM as the agent
rather than as crmcard, so it must know who that is deep inside an adapter. The doors that
know set it for the rest of the current task: the Teams turn (the activity's sender), the
tab request (its validated SSO token), an interaction event (the agent it is assigned
to). Tasks started from there (the slower CRMs of a lookup) inherit it; a call no agent
is acting for (a platform key's lookup, the write-back worker) finds none.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ActingAgent:
    tenant_id: str
    object_id: str
    """The agent's Entra object id."""


_acting: ContextVar[ActingAgent | None] = ContextVar("crmcard_acting_agent", default=None)


def act_as(tenant_id: str, object_id: str) -> None:
    """For the rest of the current task (one request, one turn), CRM calls are this agent's."""
    _acting.set(ActingAgent(tenant_id, object_id) if object_id else None)


def current() -> ActingAgent | None:
    return _acting.get()
