"""Who may act on an interaction that is not their own: supervisors, by app role.

An interaction belongs to its agent. A tenant may assign the app role
``crmcard.Supervisor`` (declared on crmcard's Entra app) to the people who may step into
their agents' interactions. The role arrives in the user's Teams SSO token, so the tab
knows it on every request; a bot activity carries no roles, so the tab remembers a
supervisor's role until that token expires, and card actions through the bot honour it
for that long. Nobody else can act on an interaction that is not theirs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.api_model import Model
from bot.services import keys
from bot.services.store import Store, put_model, read_model

SUPERVISOR_ROLE = "crmcard.Supervisor"


class SupervisorRole(Model):
    until: datetime
    """When the token that showed the role expires."""


async def remember(store: Store, tenant_id: str, user_id: str, until: datetime) -> None:
    """The user showed the supervisor role in a token valid ``until``."""
    key = keys.supervisor(tenant_id, user_id)
    known = await read_model(store, key, SupervisorRole)
    if known is None or known.until < until:
        await put_model(store, key, SupervisorRole(until=until))


async def is_supervisor(store: Store, tenant_id: str, user_id: str, now: datetime) -> bool:
    known = await read_model(store, keys.supervisor(tenant_id, user_id), SupervisorRole)
    return known is not None and known.until > now


def expiry(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)
