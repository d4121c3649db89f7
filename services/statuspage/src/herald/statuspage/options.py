"""The status page's own settings from the environment (limits of the live page)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from herald.shared.settings import SettingsError

MAX_SSE_CLIENTS = 10_000
"""Browsers one process serves live by default (measured on 2 CPUs: docs/performance.md)."""


@dataclass(frozen=True)
class StatuspageOptions:
    max_sse_clients: int = MAX_SSE_CLIENTS
    """Concurrent `/events` streams one process serves (HERALD_STATUSPAGE_MAX_SSE_CLIENTS); a
    browser beyond them is answered 503 with Retry-After, and the page polls the JSON API."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StatuspageOptions:
        e = os.environ if env is None else env
        name = "HERALD_STATUSPAGE_MAX_SSE_CLIENTS"
        raw = e.get(name)
        if not raw:
            return cls()
        if not raw.strip().isascii() or not raw.strip().isdigit() or int(raw) < 1:
            raise SettingsError(f"{name}={raw!r} is not a positive whole number of connections")
        return cls(max_sse_clients=int(raw))
