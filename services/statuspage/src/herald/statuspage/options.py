"""The status page's own settings from the environment (limits of the live page)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from herald.shared.settings import SettingsError

MAX_SSE_CLIENTS = 10_000
"""Browsers one process serves live by default (measured on 2 CPUs: docs/performance.md)."""
POLL_SECONDS = 30
"""How often a page refused the live stream polls the page's JSON (`/api/page.json`)."""


@dataclass(frozen=True)
class StatuspageOptions:
    max_sse_clients: int = MAX_SSE_CLIENTS
    """Concurrent `/events` streams one process serves (HERALD_STATUSPAGE_MAX_SSE_CLIENTS); a
    browser beyond them is answered 503 with Retry-After, and the page polls its JSON."""
    poll_seconds: int = POLL_SECONDS
    """Seconds between two polls of a page refused the live stream
    (HERALD_STATUSPAGE_POLL_SECONDS); the page carries it in `<body data-poll-seconds>`."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StatuspageOptions:
        e = os.environ if env is None else env
        return cls(
            max_sse_clients=_positive(
                e, "HERALD_STATUSPAGE_MAX_SSE_CLIENTS", MAX_SSE_CLIENTS, "connections"
            ),
            poll_seconds=_positive(e, "HERALD_STATUSPAGE_POLL_SECONDS", POLL_SECONDS, "seconds"),
        )


def _positive(env: Mapping[str, str], name: str, default: int, unit: str) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.strip().isascii() or not raw.strip().isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r} is not a positive whole number of {unit}")
    return int(raw)
