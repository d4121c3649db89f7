"""What was made from an immutable object, kept by the object's identity (pure, in memory).

The correlator's steps meet the same objects again and again (a parsed alert record in every
step of its incident, an event from its step's write to its publish), and what is made from
them (a summary, a JSON text) costs more than a dict lookup. Each entry holds its object, so
the object's id cannot be reused while the entry lives; past `bound` entries the memo starts
over (cheaper than ordering them, and a miss only costs the making again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
V = TypeVar("V")


class Memo(Generic[T, V]):
    def __init__(self, make: Callable[[T], V], bound: int) -> None:
        self._make = make
        self._bound = bound
        self._kept: dict[int, tuple[T, V]] = {}

    def __call__(self, obj: T) -> V:
        """What `make` makes of `obj`, made once while kept. `obj` must not change (frozen)."""
        kept = self._kept.get(id(obj))
        if kept is not None and kept[0] is obj:
            return kept[1]
        if len(self._kept) >= self._bound:
            self._kept.clear()
        made = self._make(obj)
        self._kept[id(obj)] = (obj, made)
        return made

    def forget(self, obj: T) -> None:
        """Drop what was kept for `obj` (it will not be asked for again)."""
        self._kept.pop(id(obj), None)
