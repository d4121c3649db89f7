"""JetStream stream definitions and their idempotent creation."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from herald.shared.subjects import (
    ALERTS_STREAM,
    ALERTS_SUBJECTS,
    INCIDENTS_STREAM,
    INCIDENTS_SUBJECTS,
)

DUPLICATE_WINDOW_SECONDS = 10 * 60
"""JetStream de-duplicates Nats-Msg-Id within this window (first line of defence only)."""

DAY = 24 * 3600


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=ALERTS_STREAM,
            subjects=[ALERTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=7 * DAY,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=INCIDENTS_STREAM,
            subjects=[INCIDENTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * DAY,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
    ]


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the streams when missing; leave existing ones as they are (an operator may tune them)."""
    for cfg in stream_configs(replicas):
        assert cfg.name is not None
        try:
            await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(cfg)
