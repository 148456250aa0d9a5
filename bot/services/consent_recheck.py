"""Noticing that a tenant's admin consent is gone: the periodic re-check with Entra.

Entra tells an app nothing when a tenant's administrator deletes its enterprise
application (the service principal admin consent created) or disables it: the only
signal is that the app can no longer sign in there. So every ``interval`` each
consented tenant the gate applies to is confirmed again the way the consent callback
confirmed it (an app-only sign-in in that tenant, :class:`ConsentVerifier`). When Entra
answers that the app is not in the tenant (``AADSTS700016`` not found, ``AADSTS7000112``
disabled, ``AADSTS7000229`` no service principal), the tenant's consent is revoked --
recorded in its history and audited as ``consent.revoked`` through the ``system`` door --
and the gate refuses it from then on, telling its admin to grant consent again (the
callback restores it). An answer that says nothing about the tenant (Entra unreachable
or busy, this server's own secret refused) revokes nothing: it is logged and the next
round asks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from bot.services import tenants
from bot.services.audit import Door
from bot.services.store import Store
from bot.services.tenants import GateSettings

log = logging.getLogger(__name__)

RECHECK_ACTOR = "crmcard (consent re-check with Microsoft Entra ID)"


class Verdict(Enum):
    confirmed = "confirmed"
    """The app signed in in the tenant: it is (still) there."""
    absent = "absent"
    """Entra answered that the app is not (or no longer) in the tenant, or is disabled."""
    unknown = "unknown"
    """The answer says nothing about the tenant (Entra unavailable, own secret refused)."""


@dataclass(frozen=True)
class ConsentCheck:
    verdict: Verdict
    reason: str = ""
    """Why not confirmed, fit for the admin to read (Entra's own words where it gave any)."""


class ConsentVerifier(Protocol):
    async def __call__(self, tenant_id: str) -> ConsentCheck:
        """Whether crmcard's app really is consented in ``tenant_id``, asked of Entra."""
        ...


async def recheck(
    store: Store,
    settings: GateSettings,
    verify: ConsentVerifier,
    tenant_id: str,
    *,
    at: datetime,
) -> bool:
    """Confirm a consented tenant's consent again; revoke it when Entra says the app is
    gone from the tenant. True when it was revoked now."""
    if not tenants.gate_applies(settings, tenant_id):
        return False
    if not await tenants.is_consented(store, tenant_id):
        return False
    check = await verify(tenant_id)
    if check.verdict is Verdict.confirmed:
        return False
    if check.verdict is Verdict.unknown:
        log.warning("could not re-check the consent of tenant %s: %s", tenant_id, check.reason)
        return False
    await tenants.revoke(
        store, tenant_id, at=at, by=RECHECK_ACTOR, detail=check.reason, door=Door.system
    )
    log.warning("tenant %s removed crmcard's app: consent revoked (%s)", tenant_id, check.reason)
    return True


@dataclass
class ConsentRecheck:
    """Re-checks every consented tenant's consent, now (:meth:`once`) or forever (:meth:`run`)."""

    store: Store
    settings: GateSettings
    verify: ConsentVerifier
    clock: Callable[[], datetime]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def once(self) -> list[str]:
        """One round over every tenant that ever consented: the tenants revoked in it."""
        revoked = []
        for tenant_id in await tenants.registered(self.store):
            if await recheck(self.store, self.settings, self.verify, tenant_id, at=self.clock()):
                revoked.append(tenant_id)
        return revoked

    async def run(self, interval: float) -> None:
        """Forever: wait ``interval``, then one round (a failed round is logged, not fatal)."""
        while True:
            await self.sleep(interval)
            try:
                await self.once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the consent re-check failed; it runs again in %.0f s", interval)
