"""The Bot Connector's REST API on aiohttp: the calls the SDK makes, without blocking.

The SDK's ``ConnectorClient`` writes every outgoing activity with msrest's generic
serializer (which walks the whole Adaptive Card) and sends it through msrest's
pipeline; building one costs more than a whole turn. :class:`Connector` has the part of
its surface that ``CloudAdapter``, ``TurnContext`` and ``TeamsInfo`` call
(``conversations.send_to_conversation`` / ``reply_to_activity`` / ``update_activity`` /
``delete_activity`` / ``get_conversation_member``), writes activities with
:func:`bot.adapters.teams.activity_json.dumps` (or takes them written as JSON already, as
a card's delivery does) and sends them on one shared aiohttp session. Its token comes
from the bot's credentials (MSAL: the SDK's, or those of
:mod:`bot.adapters.teams.login_authority` at an authority the operator names), fetched in
a worker thread, as MSAL is synchronous.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeAlias
from urllib.parse import quote

import orjson
from aiohttp import ClientSession, ClientTimeout
from botbuilder.schema import Activity, ChannelAccount, ResourceResponse
from botframework.connector.auth import AuthenticationConstants
from yarl import URL

from bot.adapters.teams.activity_json import activity_to_json, dumps, model_from_json

TIMEOUT = ClientTimeout(total=30)
TOKEN_REUSE_SECONDS = 240.0
"""MSAL hands out a cached token until five minutes before it expires: one it returned
is valid for at least this long, so it is asked again (in a thread) at most this often."""

_JSON = "application/json; charset=utf-8"

Message: TypeAlias = Activity | dict[str, Any]
"""An outgoing activity: the SDK's model, or its JSON (:func:`activity_to_json`'s form)."""


class ConnectorError(Exception):
    """The Bot Connector answered with an error status.

    ``response.status`` and ``response.headers`` are what a caller reads to honour a
    429's ``Retry-After`` (as it would on the SDK's ``ErrorResponseException``).
    """

    def __init__(self, method: str, url: str, status: int, headers: Any, body: bytes) -> None:
        self.response = SimpleNamespace(status=status, status_code=status, headers=headers)
        super().__init__(f"{method} {url}: HTTP {status} {body[:300]!r}")


def _part(value: str) -> str:
    return quote(value, safe="")


class _Token:
    """The bot's bearer token for one audience, renewed through the SDK's credentials."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials
        self._value: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    @property
    def needed(self) -> bool:
        app_id = getattr(self._credentials, "microsoft_app_id", None)
        return bool(app_id) and app_id != AuthenticationConstants.ANONYMOUS_SKILL_APP_ID

    async def value(self) -> str:
        value = self._value
        if value is None or time.monotonic() >= self._until:
            async with self._lock:
                value = self._value
                if value is None or time.monotonic() >= self._until:
                    value = str(await asyncio.to_thread(self._credentials.get_access_token))
                    self._value, self._until = value, time.monotonic() + TOKEN_REUSE_SECONDS
        return value

    def forget(self) -> None:
        self._value = None


class Conversations:
    """``ConnectorClient.conversations``, the operations the bot's turns need."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector

    async def send_to_conversation(
        self, conversation_id: str, activity: Message, **_: Any
    ) -> ResourceResponse:
        path = f"/v3/conversations/{_part(conversation_id)}/activities"
        return _resource(await self._connector.call("POST", path, conversation_id, activity))

    async def reply_to_activity(
        self, conversation_id: str, activity_id: str, activity: Message, **_: Any
    ) -> ResourceResponse:
        path = f"/v3/conversations/{_part(conversation_id)}/activities/{_part(activity_id)}"
        return _resource(await self._connector.call("POST", path, conversation_id, activity))

    async def update_activity(
        self, conversation_id: str, activity_id: str, activity: Message, **_: Any
    ) -> ResourceResponse:
        path = f"/v3/conversations/{_part(conversation_id)}/activities/{_part(activity_id)}"
        return _resource(await self._connector.call("PUT", path, conversation_id, activity))

    async def delete_activity(self, conversation_id: str, activity_id: str, **_: Any) -> None:
        path = f"/v3/conversations/{_part(conversation_id)}/activities/{_part(activity_id)}"
        await self._connector.call("DELETE", path, conversation_id)

    async def get_conversation_member(
        self, conversation_id: str, member_id: str, **_: Any
    ) -> ChannelAccount:
        path = f"/v3/conversations/{_part(conversation_id)}/members/{_part(member_id)}"
        body = await self._connector.call("GET", path, conversation_id)
        return model_from_json(ChannelAccount, body)


def _resource(body: Any) -> ResourceResponse:
    identifier = body.get("id") if isinstance(body, dict) else None
    return ResourceResponse(id=identifier)


class Connector:
    """One service URL's Bot Connector, called as one bot identity for one audience."""

    def __init__(
        self, service_url: str, credentials: Any, session: Callable[[], ClientSession]
    ) -> None:
        self._base = service_url.rstrip("/")
        self._token = _Token(credentials)
        self._session = session
        self.conversations = Conversations(self)
        # What SDK helpers (TeamsInfo) read off a connector client.
        self.config = SimpleNamespace(base_url=service_url, credentials=credentials)

    async def call(
        self, method: str, path: str, conversation_id: str, activity: Message | None = None
    ) -> Any:
        url = self._base + path
        headers = {"Accept": "application/json", "x-ms-conversation-id": conversation_id}
        data = None
        if activity is not None:
            headers["Content-Type"] = _JSON
            data = dumps(activity if isinstance(activity, dict) else activity_to_json(activity))
        for attempt in (1, 2):
            if self._token.needed:
                headers["Authorization"] = f"Bearer {await self._token.value()}"
            async with self._session().request(
                method, URL(url, encoded=True), data=data, headers=headers, timeout=TIMEOUT
            ) as response:
                body = await response.read()
                if response.status == 401 and attempt == 1 and self._token.needed:
                    self._token.forget()  # revoked or rotated early: ask Entra once more
                    continue
                if response.status >= 400:
                    raise ConnectorError(method, url, response.status, response.headers, body)
                return orjson.loads(body) if body else None
        raise AssertionError("unreachable")
