"""Structured logging: one JSON object per line on stderr (or plain text for humans).

Kept cheap, since ingest writes a line per webhook at the default level (INFO): the logging
module is told not to look up what no Herald line shows (the caller's file and line, thread,
process: the "Optimization" section of Python's logging HOWTO), the timestamp's second is
formatted once per second, and one JSON encoder is made once, not per line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; `extra={...}` fields become top-level keys."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._encode = json.JSONEncoder(default=str).encode
        self._second = -1
        self._second_text = ""

    def _timestamp(self, created: float) -> str:
        """`created` as ISO 8601 in UTC to the millisecond (2026-05-28T14:32:00.125+00:00)."""
        second = int(created)
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        millis = min(int((created - second) * 1000), 999)
        return f"{self._second_text}.{millis:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key[0] != "_":
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return self._encode(doc)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route all logging (ours, uvicorn's, faststream's) through one handler."""
    # Neither format shows the caller's file and line, the thread or the process: not looked
    # up per record (findCaller walks the stack).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel("WARNING")
