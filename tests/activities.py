"""Bot Framework activities as Teams sends them, for tests and benchmarks."""

from __future__ import annotations

import uuid
from typing import Any

TENANT = "demo-tenant"
AGENT = "00000000-0000-0000-0000-0000000000a1"
AGENT_USER_ID = "29:agent-user"
BOT_ID = "28:crmcard-bot"
CONVERSATION = "a:personal-chat-1"


def activity(service_url: str, type_: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": type_,
        "id": uuid.uuid4().hex,
        "timestamp": "2026-11-23T08:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": AGENT_USER_ID, "name": "Avery Agent", "aadObjectId": AGENT},
        "recipient": {"id": BOT_ID, "name": "crmcard"},
        "conversation": {"id": CONVERSATION, "conversationType": "personal", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
    }
    return {**base, **fields}


def message(service_url: str, text: str) -> dict[str, Any]:
    return activity(service_url, "message", text=text)


def installed(service_url: str) -> dict[str, Any]:
    return activity(service_url, "installationUpdate", action="add")


def card_action(service_url: str, verb: str, data: dict[str, Any]) -> dict[str, Any]:
    return activity(
        service_url,
        "invoke",
        name="adaptiveCard/action",
        value={
            "action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": "manual",
        },
    )


def interaction_event(
    interaction_id: str,
    event: str,
    *,
    customer: dict[str, str] | None = None,
    channel: str = "voice",
    occurred_at: str = "2026-11-23T08:00:00Z",
    agent: str = AGENT,
) -> dict[str, Any]:
    return {
        "interactionId": interaction_id,
        "event": event,
        "occurredAt": occurred_at,
        "channel": channel,
        "agent": {"aadObjectId": agent, "name": "Avery Agent"},
        "customer": customer or {"phone": "+1 555 0100"},
        "queue": "Support",
    }
