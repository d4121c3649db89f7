"""JetStream stream definitions and their idempotent creation (the keeper that puts them back
under a running service is `herald.shared.runtime.DurableKeeper`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from herald.shared.subjects import (
    ALERTS_STREAM,
    ALERTS_SUBJECTS,
    COMMANDS_STREAM,
    COMMANDS_SUBJECTS,
    INCIDENTS_STREAM,
    INCIDENTS_SUBJECTS,
    RESPONSES_STREAM,
    RESPONSES_SUBJECTS,
    SUBSCRIPTIONS_STREAM,
    SUBSCRIPTIONS_SUBJECTS,
)

DUPLICATE_WINDOW_SECONDS = 10 * 60
"""JetStream de-duplicates Nats-Msg-Id within this window (first line of defence only)."""

DAY = 24 * 3600

CHECK_SECONDS = 5.0
"""How often a running service checks that the streams it reads still exist (besides after every
reconnect to NATS): an operator may delete and re-create a stream without a restart."""

RETRY_SECONDS = 1.0
"""How soon a check that failed (JetStream not answering yet) is tried again."""


MIB = 1024 * 1024

MIN_ALERTS_MSG_SIZE = 768 * 1024
"""ingest bounds every alert event below this (herald.ingest.limits.MAX_EVENT_BYTES): a smaller
`max_msg_size` on ALERTS could refuse an alert for ever."""


@dataclass(frozen=True)
class StreamLimits:
    """Size bounds of the streams Herald creates (per replica, on each NATS node's disk).

    ALERTS discards NEW messages when full: ingest's publish fails, it answers 503 and
    Alertmanager retries, so an alert is delayed, never lost, and alerts stored but not yet
    processed are never dropped to make room. INCIDENTS discards OLD messages: its events are
    snapshots (each carries its incident whole, with a version), consumed within seconds, so
    the oldest history is what can go; refusing new ones would freeze the status page and
    the pages."""

    alerts_max_bytes: int = 1024 * MIB
    alerts_max_msg_size: int = MIB
    incidents_max_bytes: int = 512 * MIB
    incidents_max_msg_size: int = MIB

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StreamLimits:
        """HERALD_ALERTS_MAX_BYTES, HERALD_ALERTS_MAX_MSG_SIZE, HERALD_INCIDENTS_MAX_BYTES,
        HERALD_INCIDENTS_MAX_MSG_SIZE (bytes); ValueError names a wrong one."""
        e = os.environ if env is None else env
        limits = cls(
            alerts_max_bytes=_bytes(e, "HERALD_ALERTS_MAX_BYTES", cls.alerts_max_bytes),
            alerts_max_msg_size=_bytes(e, "HERALD_ALERTS_MAX_MSG_SIZE", cls.alerts_max_msg_size),
            incidents_max_bytes=_bytes(e, "HERALD_INCIDENTS_MAX_BYTES", cls.incidents_max_bytes),
            incidents_max_msg_size=_bytes(
                e, "HERALD_INCIDENTS_MAX_MSG_SIZE", cls.incidents_max_msg_size
            ),
        )
        if limits.alerts_max_msg_size < MIN_ALERTS_MSG_SIZE:
            raise ValueError(
                f"HERALD_ALERTS_MAX_MSG_SIZE={limits.alerts_max_msg_size}: at least "
                f"{MIN_ALERTS_MSG_SIZE} (the largest alert event ingest makes)"
            )
        for name, size, total in (
            ("ALERTS", limits.alerts_max_msg_size, limits.alerts_max_bytes),
            ("INCIDENTS", limits.incidents_max_msg_size, limits.incidents_max_bytes),
        ):
            if size > total:
                raise ValueError(
                    f"HERALD_{name}_MAX_MSG_SIZE is larger than HERALD_{name}_MAX_BYTES"
                )
        return limits


def _bytes(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name}={raw!r} is not a positive whole number of bytes")
    return int(raw)


def stream_configs(replicas: int = 1, limits: StreamLimits | None = None) -> list[StreamConfig]:
    bounds = limits or StreamLimits()
    return [
        StreamConfig(
            name=ALERTS_STREAM,
            subjects=[ALERTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=7 * DAY,
            max_bytes=bounds.alerts_max_bytes,
            max_msg_size=bounds.alerts_max_msg_size,
            discard=DiscardPolicy.NEW,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=INCIDENTS_STREAM,
            subjects=[INCIDENTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * DAY,
            max_bytes=bounds.incidents_max_bytes,
            max_msg_size=bounds.incidents_max_msg_size,
            discard=DiscardPolicy.OLD,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=RESPONSES_STREAM,
            subjects=[RESPONSES_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * DAY,
            max_bytes=64 * MIB,
            max_msg_size=64 * 1024,
            discard=DiscardPolicy.OLD,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
        # Commands discard NEW when full: the admin API answers 503 rather than drop an
        # accepted command to make room.
        StreamConfig(
            name=COMMANDS_STREAM,
            subjects=[COMMANDS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * DAY,
            max_bytes=64 * MIB,
            max_msg_size=256 * 1024,
            discard=DiscardPolicy.NEW,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
        # Sign-up requests carry an address: a work queue (gone once handled) kept a day at most
        # (a confirmation link is short-lived anyway), and small.
        StreamConfig(
            name=SUBSCRIPTIONS_STREAM,
            subjects=[SUBSCRIPTIONS_SUBJECTS],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            max_age=DAY,
            max_bytes=16 * MIB,
            max_msg_size=16 * 1024,
            discard=DiscardPolicy.NEW,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        ),
    ]


async def ensure_streams(
    js: JetStreamContext, replicas: int = 1, limits: StreamLimits | None = None
) -> None:
    """Create the streams when missing; leave existing ones as they are (an operator may tune
    them). Limits default to the environment's (`StreamLimits.from_env`), so whichever service
    creates a stream gives it the same bounds."""
    for cfg in stream_configs(replicas, limits or StreamLimits.from_env()):
        assert cfg.name is not None
        try:
            await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(cfg)
