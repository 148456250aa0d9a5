"""Which CRMs each tenant has connected."""

from __future__ import annotations

from collections.abc import Sequence

from bot.services.crm import CrmClient


class SameForEveryTenant:
    """Every tenant sees the same clients: the embedded demo, or a single-tenant install."""

    def __init__(self, clients: Sequence[CrmClient]) -> None:
        self._clients = list(clients)

    async def clients(self, tenant_id: str) -> list[CrmClient]:
        return self._clients
