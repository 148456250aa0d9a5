"""Log lines as production reads them: one JSON object per line, never a secret.

Every line carries its time, level, logger and message, the request / tenant /
interaction it belongs to (:mod:`.context`) and the ``extra`` fields its caller gave
(``event``, ``verb``, ``crm``, ``outcome``...). Fields whose names say they hold a secret
are dropped, and bearer tokens or JWTs inside messages are masked, whatever the caller
passed. The Azure SDK logs every HTTP request at INFO: its loggers stay at WARNING unless
the operator asks for more.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from bot.observability import context

AZURE_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_NAME = re.compile(
    r"secret|token|password|passwd|authorization|assertion|api_?key|cookie", re.I
)
_SECRET_TEXT = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)


def mask(text: str) -> str:
    """``text`` with bearer tokens and JWTs replaced by ``***``."""
    return _SECRET_TEXT.sub(lambda m: (m.group(1) or "") + "***", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
            **context.current(),
        }
        for name, value in vars(record).items():
            if name in _STANDARD or name.startswith("_") or _SECRET_NAME.search(name):
                continue
            line[name] = (
                value
                if isinstance(value, int | float | bool) or value is None
                else mask(str(value))
            )
        if record.exc_info:
            line["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The developer's format, masked like the JSON one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def configure(*, json_lines: bool, level: str = "INFO", azure_level: str = "WARNING") -> None:
    """Send every log line to stderr in one format; replaces earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in AZURE_LOGGERS:
        logging.getLogger(name).setLevel(azure_level.upper())
