"""Which ticketing export reads a CRM configuration: Zendesk's or Salesforce's.

The sync's :class:`~bot.services.ticketing.sync.TicketSource` for a stored configuration,
built on the same client (HTTP caller, credentials, token caches) the card uses.
"""

from __future__ import annotations

import aiohttp

from bot.adapters.crm.factory import build_client
from bot.adapters.crm.salesforce import SalesforceClient
from bot.adapters.crm.salesforce_tickets import SalesforceExport
from bot.adapters.crm.zendesk import ZendeskCrm
from bot.adapters.crm.zendesk_tickets import ZendeskExport
from bot.domain.tickets import TicketingSettings
from bot.services.crm import NotSupported
from bot.services.crm_configs import CrmConfigs, StoredCrmConfig
from bot.services.ticketing.sync import TicketSource


def ticket_source(
    stored: StoredCrmConfig,
    configs: CrmConfigs,
    session: aiohttp.ClientSession,
    *,
    tls_verify: bool | str = True,
) -> TicketSource:
    """Raises NotSupported for kinds without ticketing, CrmAuthError without credentials."""
    config = stored.config
    client = build_client(
        config, session=session, secret=configs.secret_of(stored), tls_verify=tls_verify
    )
    settings = config.ticketing or TicketingSettings()
    if isinstance(client, ZendeskCrm):
        return ZendeskExport(client, requests_per_minute=settings.export_requests_per_minute)
    if isinstance(client, SalesforceClient):
        return SalesforceExport(client, bulk_threshold=settings.bulk_threshold)
    raise NotSupported(f"{config.display_name}: ticketing needs Salesforce or Zendesk")
