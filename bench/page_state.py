"""What the status page shows, folded from its Server-Sent Events (`snapshot` and per-service
changes) the way the live page's script does. Pure: events are plain decoded JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PageState:
    """The component status of every watched service, as the page last showed it."""

    services: frozenset[str]
    statuses: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, services: Iterable[str]) -> PageState:
        return cls(frozenset(services))

    def _set(self, service: str, status: str) -> None:
        if service not in self.services:
            return
        old = self.statuses.get(service)
        if old is not None:
            self.counts[old] -= 1
        self.statuses[service] = status
        self.counts[status] += 1

    def apply(self, kind: str, data: Mapping[str, Any]) -> None:
        """Fold one SSE event (`kind` is its `event:` field) into the state."""
        if kind == "snapshot":
            for component in data.get("components", ()):
                if not component.get("group"):
                    self._set(str(component["id"]), str(component["status"]))
        elif "service" in data and isinstance(data.get("component"), Mapping):
            self._set(str(data["service"]), str(data["component"]["status"]))

    def all_show(self, status: str) -> bool:
        """True when every watched service shows `status`."""
        return self.counts[status] == len(self.services)
