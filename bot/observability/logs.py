"""Log lines as production reads them: one JSON object per line, never a secret.

Every line carries its time, level, logger and message, the request / tenant /
interaction it belongs to (:mod:`.context`) and the ``extra`` fields its caller gave
(``event``, ``verb``, ``crm``, ``outcome``...). Fields whose names say they hold a secret
are dropped, and bearer tokens or JWTs inside messages are masked, whatever the caller
passed. The Azure SDK logs every HTTP request at INFO: its loggers stay at WARNING unless
the operator asks for more.

Every click writes a line (its access line), so a line is cheap: the second of its time
stamp is formatted once per second, a message is searched for secrets only when it could
hold one, the line is encoded by orjson, and records do not look up the thread, process,
task and source line no formatter here writes.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from functools import lru_cache
from typing import Any

import orjson

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
    if "eyJ" not in text and "bearer" not in text.lower():
        return text  # neither can be there: skip the search
    return _SECRET_TEXT.sub(lambda m: (m.group(1) or "") + "***", text)


_AS_IS = (int, float)  # written as JSON numbers and booleans


@lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def _timestamp(created: float) -> str:
    """``2026-12-01T13:53:25.206+00:00`` (UTC, milliseconds)."""
    second = int(created)
    return f"{_utc_second(second)}.{int((created - second) * 1000):03d}+00:00"


@lru_cache(maxsize=1024)
def _written(name: str) -> bool:
    """Whether an ``extra`` field goes into the line: not private, not named as a secret
    (asked of every field of every line: the few names callers use are looked at once)."""
    return not name.startswith("_") and _SECRET_NAME.search(name) is None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
            **context.current(),
        }
        for name, value in vars(record).items():
            if name in _STANDARD or not _written(name):
                continue
            line[name] = value if value is None or isinstance(value, _AS_IS) else mask(str(value))
        if record.exc_info:
            line["error"] = mask(self.formatException(record.exc_info))
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    """The developer's format, masked like the JSON one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def configure(*, json_lines: bool, level: str = "INFO", azure_level: str = "WARNING") -> None:
    """Send every log line to stderr in one format; replaces earlier handlers."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False
    # The source line, otherwise found by walking the caller's stack for every record (the
    # logging HOWTO's "Optimization" names this switch).
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in AZURE_LOGGERS:
        logging.getLogger(name).setLevel(azure_level.upper())
