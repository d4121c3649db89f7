"""JetStream stream definitions and their idempotent creation (the keeper that puts them back
under a running service is `herald.shared.runtime.DurableKeeper`)."""

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

CHECK_SECONDS = 5.0
"""How often a running service checks that the streams it reads still exist (besides after every
reconnect to NATS): an operator may delete and re-create a stream without a restart."""

RETRY_SECONDS = 1.0
"""How soon a check that failed (JetStream not answering yet) is tried again."""


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
