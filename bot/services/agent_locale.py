"""Which language and time zone each agent sees crmcard in.

Teams tells it on every activity (``locale``, and ``clientInfo`` with the time zone) and the
tab from its Teams context; an agent may also choose a language in the bot chat
(``language de``), which wins over the client's, because some clients (the Agents
Playground) always say ``en-US``. Proactive cards, sent with no activity at hand, use what
was seen last.
"""

from __future__ import annotations

from pydantic import BaseModel

from bot.i18n import ENGLISH, AgentLocale
from bot.services import keys
from bot.services.store import Store, put_model, read_model


class AgentLanguage(BaseModel):
    chosen: str | None = None
    """The language the agent picked in the chat (``language de``); None: follow Teams."""
    client_locale: str | None = None
    """The locale the agent's Teams client last sent (``de-DE``)."""
    time_zone: str | None = None
    """The IANA time zone the client last sent (``Europe/Berlin``)."""

    def locale(self) -> AgentLocale:
        if self.chosen:
            tag = self.client_locale if _same_language(self.client_locale, self.chosen) else None
            return AgentLocale.of(tag or self.chosen, self.time_zone)
        return AgentLocale.of(self.client_locale, self.time_zone)


def _same_language(tag: str | None, language: str) -> bool:
    return AgentLocale.of(tag).language == language if tag else False


def key(tenant_id: str, aad_object_id: str) -> str:
    """Where the agent's language is kept (a card click prefetches it)."""
    return keys.tenant_prefix(tenant_id) + f"agents/{keys.part(aad_object_id)}/language"


async def get(store: Store, tenant_id: str, aad_object_id: str) -> AgentLanguage:
    return await read_model(store, key(tenant_id, aad_object_id), AgentLanguage) or (
        AgentLanguage()
    )


async def locale_of(store: Store, tenant_id: str, aad_object_id: str) -> AgentLocale:
    if not aad_object_id:
        return ENGLISH
    return (await get(store, tenant_id, aad_object_id)).locale()


async def observe(
    store: Store,
    tenant_id: str,
    aad_object_id: str,
    client_locale: str | None,
    time_zone: str | None,
) -> AgentLanguage:
    """Remember what the agent's client says; written only when it changed."""
    current = await get(store, tenant_id, aad_object_id)
    seen = current.model_copy(
        update={
            "client_locale": client_locale or current.client_locale,
            "time_zone": time_zone or current.time_zone,
        }
    )
    if seen != current:
        await put_model(store, key(tenant_id, aad_object_id), seen)
    return seen


async def choose(
    store: Store, tenant_id: str, aad_object_id: str, language: str | None
) -> AgentLanguage:
    """The agent's own choice of language (None: follow Teams again)."""
    current = await get(store, tenant_id, aad_object_id)
    chosen = current.model_copy(update={"chosen": language})
    await put_model(store, key(tenant_id, aad_object_id), chosen)
    return chosen
