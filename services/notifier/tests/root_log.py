"""What reaches the root logger: what the notifier's log would show."""

from __future__ import annotations

import logging


class RootLog(logging.Handler):
    """What reaches the root logger, where the notifier's one handler is (pytest's own `caplog`
    also listens on non-propagating loggers, so it sees more than the notifier's log does)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
