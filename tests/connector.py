"""A local Bot Connector: records what the bot sends, answers like the Bot Framework does."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Sent:
    method: str
    conversation_id: str
    activity_id: str | None
    activity: dict[str, Any]
    authorization: str | None = None
    """The request's ``Authorization`` header: the bot identity's bearer token, if any."""

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.activity.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                content: dict[str, Any] = attachment["content"]
                return content
        return None


@dataclass
class FakeConnector:
    sent: list[Sent] = field(default_factory=list)
    throttle_next: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
        app.router.add_post("/v3/conversations/{conversation}/activities/{reply_to}", self._post)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._put)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        return app

    async def _member(self, request: web.Request) -> web.Response:
        """Teams looks up each added member's details (TeamsInfo.get_member)."""
        member = request.match_info["member"]
        return web.json_response({"id": member, "name": f"Member {member}", "aadObjectId": member})

    def _throttled(self) -> web.Response | None:
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return web.json_response(
                {"error": {"code": "TooManyRequests", "message": "slow down"}},
                status=429,
                headers={"Retry-After": "0.05"},
            )
        return None

    async def _post(self, request: web.Request) -> web.Response:
        if (throttled := self._throttled()) is not None:
            return throttled
        activity_id = f"activity-{next(self._ids)}"
        self._record("POST", request, activity_id, await request.json())
        return web.json_response({"id": activity_id})

    async def _put(self, request: web.Request) -> web.Response:
        if (throttled := self._throttled()) is not None:
            return throttled
        activity_id = request.match_info["activity"]
        self._record("PUT", request, activity_id, await request.json())
        return web.json_response({"id": activity_id})

    def _record(self, method: str, request: web.Request, activity_id: str, body: Any) -> None:
        conversation = request.match_info["conversation"]
        authorization = request.headers.get("Authorization")
        self.sent.append(Sent(method, conversation, activity_id, body, authorization))
        self._arrived.set()

    def cards(self) -> list[Sent]:
        return [sent for sent in self.sent if sent.card is not None]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Sent]:
        """Wait until at least ``count`` activities have arrived."""
        return await self.wait_until(lambda sent: len(sent) >= count, timeout)

    async def wait_until(
        self, condition: Callable[[list[Sent]], bool], timeout: float = 5.0
    ) -> list[Sent]:
        """Wait, woken by each arrival, until ``condition`` holds for the activities sent."""

        async def met() -> None:
            while not condition(self.sent):
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(met(), timeout)
        return self.sent
