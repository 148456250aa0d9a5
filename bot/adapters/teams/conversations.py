"""Where each agent can be reached: the Bot Framework conversation reference of their chat.

Captured on install and on every message, so proactive cards always go to the latest
conversation and service URL Teams gave us.
"""

from __future__ import annotations

from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference

from bot.adapters.teams.activity_json import model_from_json
from bot.domain.api_model import Model
from bot.services import keys
from bot.services.recently_used import RecentlyUsed
from bot.services.store import Store, parsed, put_model


class AgentConversation(Model):
    user_id: str
    reference: dict[str, Any]

    def conversation_reference(self) -> ConversationReference:
        """Read as msrest would read it, without its generic reader (every card sent)."""
        return model_from_json(ConversationReference, self.reference)


def tenant_of(activity: Activity, default: str) -> str:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = channel_data.get("tenant") or {}
    if isinstance(tenant, dict) and tenant.get("id"):
        return str(tenant["id"])
    conversation_tenant = getattr(activity.conversation, "tenant_id", None)
    return str(conversation_tenant) if conversation_tenant else default


def agent_of(activity: Activity) -> str:
    """The user's Entra object id; the channel user id where a client sends none."""
    user = activity.from_property
    return str(user.aad_object_id or user.id)


def is_personal(activity: Activity) -> bool:
    """A one-to-one chat with the bot (not a group chat or a channel)."""
    kind = activity.conversation.conversation_type if activity.conversation else None
    return kind in (None, "personal")


def time_zone_of(activity: Activity) -> str | None:
    """The client's IANA time zone: ``localTimezone``, else the ``clientInfo`` entity."""
    if activity.local_timezone:
        return str(activity.local_timezone)
    for entity in activity.entities or []:
        properties = getattr(entity, "additional_properties", None) or {}
        if getattr(entity, "type", None) == "clientInfo" and properties.get("timezone"):
            return str(properties["timezone"])
    return None


async def remember(store: Store, tenant_id: str, activity: Activity) -> None:
    reference = TurnContext.get_conversation_reference(activity)
    if activity.conversation and activity.conversation.conversation_type not in (None, "personal"):
        return  # cards go to the agent's personal chat only
    conversation = AgentConversation(
        user_id=activity.from_property.id, reference=reference.serialize()
    )
    await put_model(store, keys.agent_conversation(tenant_id, agent_of(activity)), conversation)


class References:
    """The agents' conversations as :meth:`find` reads them, each stored version parsed
    once: every card sent reads its agent's document, which rarely changes."""

    def __init__(self, store: Store, kept: int = 4096) -> None:
        self._store = store
        self._kept: RecentlyUsed[str, tuple[bytes, AgentConversation, ConversationReference]]
        self._kept = RecentlyUsed(kept)

    async def find(
        self, tenant_id: str, aad_object_id: str
    ) -> tuple[AgentConversation, ConversationReference] | None:
        """The agent's conversation and its reference, read from the store every time."""
        key = keys.agent_conversation(tenant_id, aad_object_id)
        document = await self._store.read(key)
        if document is None:
            self._kept.pop(key, None)
            return None
        kept = self._kept.recall(key)
        if kept is not None and kept[0] == document.data:
            return kept[1], kept[2]
        agent = parsed(AgentConversation, document)
        reference = agent.conversation_reference()
        self._kept.keep(key, (document.data, agent, reference))
        return agent, reference
