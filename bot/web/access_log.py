"""The server's access log, without the tab's SSO token.

The tab's ``EventSource`` cannot send an ``Authorization`` header, so ``/api/tab/events``
takes the SSO token as ``?access_token=``; aiohttp's access log writes the request line
with its query, which would put live bearer tokens into the logs. This logger writes the
same Apache-style line with the query of such requests left out.
"""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse


class RedactingAccessLogger(AbstractAccessLogger):
    def __init__(self, logger: logging.Logger, log_format: str = AccessLogger.LOG_FORMAT) -> None:
        super().__init__(logger, log_format)
        self._inner = AccessLogger(logger, log_format)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if "access_token" in request.query_string:
            request = request.clone(rel_url=request.rel_url.with_query(None))
        self._inner.log(request, response, time)

    @property
    def enabled(self) -> bool:
        return self._inner.enabled
