"""Ingest's own settings from the environment (limits and timeouts)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from herald.shared.settings import SettingsError

MIB = 1024 * 1024


@dataclass(frozen=True)
class IngestOptions:
    max_body: int = MIB
    """Largest accepted request body in bytes (HERALD_INGEST_MAX_BODY)."""
    publish_timeout: float = 5.0
    """Seconds to wait for JetStream to acknowledge a request's alerts
    (HERALD_INGEST_PUBLISH_TIMEOUT); past it the request answers 503."""
    connect_timeout: float = 2.0
    """Seconds one NATS connection attempt may take."""
    reconnect_wait: float = 2.0
    """Seconds between NATS (re)connection attempts (HERALD_INGEST_RECONNECT_WAIT)."""
    publish_batch: int = 256
    """Most alerts of a request published at once, awaiting their acks before the next batch
    (HERALD_INGEST_PUBLISH_BATCH)."""
    publish_batch_bytes: int = 8 * MIB
    """About the most bytes of events of a request in flight at once
    (HERALD_INGEST_PUBLISH_BATCH_BYTES)."""
    stream_usage_interval: float = 15.0
    """Seconds between two readings of the streams' fill level for the
    `herald_stream_usage_ratio` gauge (HERALD_INGEST_STREAM_USAGE_INTERVAL)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestOptions:
        e = os.environ if env is None else env
        return cls(
            max_body=int(_positive(e, "HERALD_INGEST_MAX_BODY", cls.max_body, integer=True)),
            publish_timeout=_positive(e, "HERALD_INGEST_PUBLISH_TIMEOUT", cls.publish_timeout),
            reconnect_wait=_positive(e, "HERALD_INGEST_RECONNECT_WAIT", cls.reconnect_wait),
            publish_batch=int(
                _positive(e, "HERALD_INGEST_PUBLISH_BATCH", cls.publish_batch, integer=True)
            ),
            publish_batch_bytes=int(
                _positive(
                    e, "HERALD_INGEST_PUBLISH_BATCH_BYTES", cls.publish_batch_bytes, integer=True
                )
            ),
            stream_usage_interval=_positive(
                e, "HERALD_INGEST_STREAM_USAGE_INTERVAL", cls.stream_usage_interval
            ),
        )


def _positive(env: Mapping[str, str], name: str, default: float, *, integer: bool = False) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = -1
    if not (value > 0 and math.isfinite(value)):
        kind = "a positive whole number of bytes" if integer else "a positive number of seconds"
        raise SettingsError(f"{name}={raw!r} is not {kind}")
    return value
