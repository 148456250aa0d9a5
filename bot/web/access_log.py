"""The server's access log: one line per request, cheap, without the tab's SSO token.

The tab's ``EventSource`` cannot send an ``Authorization`` header, so ``/api/tab/events``
takes the SSO token as ``?access_token=``; aiohttp's access log writes the request line
with its query, which would put live bearer tokens into the logs. This logger writes the
same Apache-style line (aiohttp's default format) with the query of such requests left
out.

Every click writes this line, so it is built directly rather than through aiohttp's
format interpreter: the request's start second is formatted once per second, and the
line's fields are the few a reader filters on (the request's own facts, such as a card
action's verb, come from the log context: :func:`bot.observability.context.note`).
"""

from __future__ import annotations

import logging
import time as clock
from datetime import datetime
from functools import lru_cache

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse


def _start_text(elapsed: float) -> str:
    """``[01/Dec/2026:13:53:25 +0000]``: when the request started, in local time."""
    return _local_second(int(clock.time() - elapsed))


@lru_cache(maxsize=4)
def _local_second(second: int) -> str:
    return datetime.fromtimestamp(second).astimezone().strftime("[%d/%b/%Y:%H:%M:%S %z]")


class RedactingAccessLogger(AbstractAccessLogger):
    def __init__(self, logger: logging.Logger, log_format: str = AccessLogger.LOG_FORMAT) -> None:
        super().__init__(logger, log_format)
        # Another format than the default one: aiohttp's own logger writes it.
        self._other = (
            None if log_format == AccessLogger.LOG_FORMAT else AccessLogger(logger, log_format)
        )

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if "access_token" in request.query_string:
            request = request.clone(rel_url=request.rel_url.with_query(None))
        if self._other is not None:
            self._other.log(request, response, time)
            return
        version = request.version
        first_line = f"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}"
        headers = request.headers
        remote = request.remote or "-"
        self.logger.info(
            '%s %s "%s" %s %s "%s" "%s"',
            remote,
            _start_text(time),
            first_line,
            response.status,
            response.body_length,
            headers.get("Referer", "-"),
            headers.get("User-Agent", "-"),
            extra={
                "remote_address": remote,
                "first_request_line": first_line,
                "response_status": response.status,
                "response_size": response.body_length,
                "duration_ms": round(time * 1000, 2),
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
