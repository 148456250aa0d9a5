"""Which language and time zone each agent sees crmcard in.

Teams tells it on every activity (``locale``, and ``clientInfo`` with the time zone) and the
tab from its Teams context; an agent may also choose a language in the bot chat
(``language de``), which wins over the client's, because some clients (the Agents
Playground) always say ``en-US``. Proactive cards, sent with no activity at hand, use what
was seen last.

Each open interaction keeps a copy (:attr:`bot.domain.interactions.Interaction.agent_locale`),
so a card click renders in the agent's language without reading it: the copy is taken when
the interaction starts, and :func:`observe` and :func:`choose` say when it changed, for the
caller to refresh the agent's open interactions
(:func:`bot.services.interactions.follow_agent_locale`).
"""

from __future__ import annotations

from bot.domain.api_model import Model
from bot.domain.interactions import Interaction
from bot.i18n import ENGLISH, AgentLocale
from bot.services import keys
from bot.services.store import Store, put_model, read_model


class AgentLanguage(Model):
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
    """Where the agent's language is kept."""
    return keys.tenant_prefix(tenant_id) + f"agents/{keys.part(aad_object_id)}/language"


async def get(store: Store, tenant_id: str, aad_object_id: str) -> AgentLanguage:
    return await read_model(store, key(tenant_id, aad_object_id), AgentLanguage) or (
        AgentLanguage()
    )


async def locale_of(store: Store, tenant_id: str, aad_object_id: str) -> AgentLocale:
    if not aad_object_id:
        return ENGLISH
    return (await get(store, tenant_id, aad_object_id)).locale()


async def of_interaction(store: Store, interaction: Interaction) -> AgentLocale:
    """The locale to render the interaction's card in: its copy, else the agent's own."""
    if interaction.agent_locale is not None:
        return interaction.agent_locale
    return await locale_of(store, interaction.tenant_id, interaction.agent.aad_object_id)


async def observe(
    store: Store,
    tenant_id: str,
    aad_object_id: str,
    client_locale: str | None,
    time_zone: str | None,
) -> tuple[AgentLanguage, bool]:
    """Remember what the agent's client says; written only when it changed. Returns the
    agent's language, and whether the locale their cards render in changed."""
    current = await get(store, tenant_id, aad_object_id)
    seen = current.model_copy(
        update={
            "client_locale": client_locale or current.client_locale,
            "time_zone": time_zone or current.time_zone,
        }
    )
    if seen != current:
        await put_model(store, key(tenant_id, aad_object_id), seen)
    return seen, seen.locale() != current.locale()


async def choose(
    store: Store, tenant_id: str, aad_object_id: str, language: str | None
) -> tuple[AgentLanguage, bool]:
    """The agent's own choice of language (None: follow Teams again), and whether the
    locale their cards render in changed."""
    current = await get(store, tenant_id, aad_object_id)
    chosen = current.model_copy(update={"chosen": language})
    await put_model(store, key(tenant_id, aad_object_id), chosen)
    return chosen, chosen.locale() != current.locale()
