"""CRM records outside an interaction: searched from the compose box, unfurled from links.

An agent consulting a colleague searches the tenant's connected CRMs by name, phone,
e-mail or a case / account number and shares a record's card in any chat; a CRM record
link pasted into a message is answered with that record's card. Both ask every connected
CRM at once within the CRM deadline, as the customer card does.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from bot.domain import identifiers, record_links
from bot.domain.errors import InvalidIdentifier
from bot.domain.interactions import Interaction
from bot.domain.links import pin_record
from bot.domain.records import CrmRecord, RecordRef
from bot.errors import InvalidInput, NotFound
from bot.i18n import t
from bot.services import audit, name_index, tenant_settings
from bot.services.caller_lookup import by_number, can_find_numbers
from bot.services.context import Context
from bot.services.crm import CrmClient, CrmError, SearchCriteria
from bot.services.crm_configs import StoredCrmConfig, stored_configs
from bot.services.crm_fan_out import fan_out
from bot.services.interactions import latest_for_agent
from bot.services.rendering import publish

log = logging.getLogger(__name__)

MAX_RESULTS = 25  # what a message extension shows at most
SEARCHED_TYPES = ["contact", "account", "lead", "case"]
_NUMBER = re.compile(r"^#?[A-Za-z]{0,4}-?\d{2,12}$")
_PHONE = re.compile(r"^\+?[\d\s().\-/]{6,}$")


async def search(ctx: Context, tenant_id: str, text: str) -> list[CrmRecord]:
    """Records matching ``text`` in every connected CRM, the admin's CRM order kept."""
    text = text.strip()
    if len(text) < 2:
        return []
    region = await tenant_settings.region_of(ctx, tenant_id)
    criteria = _criteria(text, region)
    number = text.lstrip("#") if _NUMBER.match(text) else None

    async def call(client: CrmClient) -> list[CrmRecord]:
        found: list[CrmRecord] = []
        if number is not None and can_find_numbers(client):
            for record_type in ("case", "account"):
                found.extend(await by_number(client, record_type, number))
        if criteria is not None:
            found.extend(await client.search(criteria))
        return found

    clients = await ctx.crms.clients(tenant_id)
    answered = await fan_out(clients, call, ctx.crm_deadline)
    unique = {record.ref.key: record for record in answered.records}
    return list(unique.values())[:MAX_RESULTS]


def _criteria(text: str, region: str) -> SearchCriteria | None:
    if "@" in text:
        try:
            return SearchCriteria(emails=[identifiers.email(text).value], region=region)
        except InvalidIdentifier:
            return None
    if _PHONE.match(text) and sum(c.isdigit() for c in text) >= 6:
        try:
            phone = identifiers.phone(text, region)
        except InvalidIdentifier:
            return None
        return SearchCriteria(phones=[phone.value], region=region)
    if _NUMBER.match(text):
        return None  # a record number: asked by number only
    return SearchCriteria(name=text, record_types=SEARCHED_TYPES, region=region)


async def unfurl(ctx: Context, tenant_id: str, url: str) -> CrmRecord | None:
    """The record a pasted link points at, from the tenant's CRM connected on its host."""
    link = record_links.parse(url)
    if link is None:
        return None
    for stored in await stored_configs(ctx.store, tenant_id):
        config = stored.config
        if not config.enabled or config.kind != link.kind or not _same_site(stored, link):
            continue
        for client in await ctx.crms.clients(tenant_id):
            if client.settings_id == config.settings_id:
                ref = RecordRef(crm=client.settings_id, type=link.record_type, id=link.record_id)
                try:
                    return await client.get(ref)
                except CrmError:
                    return None
    return None


def _host(stored: StoredCrmConfig) -> str:
    base = stored.config.base_url
    return (urlsplit(base).hostname or "").lower() if base else ""


def _same_site(stored: StoredCrmConfig, link: record_links.RecordLink) -> bool:
    """Is ``link`` on the site of the configuration's CRM (same org, not just the vendor)?"""
    host = _host(stored)
    if not host:
        return False
    if link.kind == "salesforce":  # Lightning pages live beside the My Domain API host
        return _org(host) == _org(link.host)
    return host == link.host


def link_domains(configs: list[StoredCrmConfig]) -> list[str]:
    """Where the tenant's CRM record pages live: the link domains the app must listen on."""
    found: list[str] = []
    for stored in configs:
        host = _host(stored)
        if host and record_links.kind_of_host(host):
            found.append(host)
            if host.endswith(".my.salesforce.com"):
                found.append(_org(host) + ".lightning.force.com")
    return list(dict.fromkeys(found))


def _org(host: str) -> str:
    return host.split(".", 1)[0]


async def link_to_open_interaction(
    ctx: Context, tenant_id: str, actor: audit.Actor, record_key: str
) -> tuple[Interaction, CrmRecord]:
    """Pin a shared record to the actor's open interaction (so it is linked and written
    back); the record is read again from its CRM, never taken from the card's data."""
    interaction = await latest_for_agent(ctx, tenant_id, actor.id)
    if interaction is None or not interaction.is_open:
        raise NotFound(t("You have no open interaction to link this record to."))
    try:
        ref = RecordRef.parse(record_key)
    except ValueError:
        raise InvalidInput(t("this card names no CRM record")) from None
    clients = {client.settings_id: client for client in await ctx.crms.clients(tenant_id)}
    client = clients.get(ref.crm)
    if client is None:
        raise NotFound(t("That record's CRM is not connected for your organization."))
    record = await client.get(ref)
    now = ctx.clock()

    def pin(current: Interaction) -> Interaction:
        if record.ref.key in current.shown.current or not current.is_open:
            return current
        return pin_record(current, record, actor=actor.id, now=now)

    updated = await name_index.update_interaction(ctx.store, tenant_id, interaction.id, pin)
    await audit.record(
        ctx.store,
        tenant_id,
        actor,
        "card.link",
        at=now,
        target=record.ref.key,
        details={"interactionId": updated.id, "cardId": updated.card_id, "via": "shared card"},
    )
    await publish(ctx, updated)
    return updated, record
