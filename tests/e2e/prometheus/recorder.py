"""Everything a queue yields, stamped with time.monotonic() the moment it arrives.

A background task drains the source queue (an SSE client's, the pager's, the relay's) so the
stamps do not depend on when the test gets round to looking; `wait(match, since=mark)` finds
the first matching item recorded at or after a mark, whether it already arrived or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Stamped(Generic[T]):
    at: float
    """time.monotonic() when the item reached the test."""
    item: T


class Recorder(Generic[T]):
    def __init__(self, source: asyncio.Queue[T], name: str) -> None:
        self.source = source
        self.name = name
        self.items: list[Stamped[T]] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def _drain(self) -> None:
        while True:
            item = await self.source.get()
            async with self._changed:
                self.items.append(Stamped(time.monotonic(), item))
                self._changed.notify_all()

    async def __aenter__(self) -> Recorder[T]:
        self._task = asyncio.create_task(self._drain())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def mark(self) -> int:
        """A position: `wait(..., since=mark)` only looks at what is recorded from here on."""
        return len(self.items)

    def since(self, mark: int) -> list[T]:
        return [s.item for s in self.items[mark:]]

    async def wait(
        self, match: Callable[[T], bool], what: str, since: int = 0, timeout: float = 60.0
    ) -> Stamped[T]:
        """The first item recorded at or after `since` that matches; AssertionError naming
        `what` (and what did arrive) after `timeout` seconds."""

        def found() -> Stamped[T] | None:
            return next((s for s in self.items[since:] if match(s.item)), None)

        try:
            async with self._changed:
                stamped = await asyncio.wait_for(self._changed.wait_for(found), timeout)
        except TimeoutError:
            seen = "\n  ".join(str(s.item) for s in self.items[since:][-15:]) or "(nothing)"
            raise AssertionError(
                f"{self.name}: no {what} within {timeout:.0f}s; recorded since the mark:\n  {seen}"
            ) from None
        assert stamped is not None  # Condition.wait_for returns once found() is truthy
        return stamped
