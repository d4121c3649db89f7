from __future__ import annotations

from herald.shared.streams import DUPLICATE_WINDOW_SECONDS, stream_configs
from herald.shared.subjects import (
    ALERTS_STREAM,
    COMMANDS_STREAM,
    INCIDENTS_STREAM,
    RESPONSES_STREAM,
    SUBSCRIPTIONS_STREAM,
)


def test_streams_are_replicated_as_asked_and_deduplicate() -> None:
    configs = {c.name: c for c in stream_configs(replicas=3)}
    assert set(configs) == {
        ALERTS_STREAM,
        INCIDENTS_STREAM,
        RESPONSES_STREAM,
        SUBSCRIPTIONS_STREAM,
        COMMANDS_STREAM,
    }
    assert configs[COMMANDS_STREAM].subjects == ["commands.>"]
    assert {c.num_replicas for c in configs.values()} == {3}
    assert {c.duplicate_window for c in configs.values()} == {DUPLICATE_WINDOW_SECONDS}
    assert configs[ALERTS_STREAM].subjects == ["alerts.>"]
    assert configs[INCIDENTS_STREAM].subjects == ["incidents.>"]
    assert configs[RESPONSES_STREAM].subjects == ["responses.>"]
    assert configs[SUBSCRIPTIONS_STREAM].subjects == ["subscriptions.>"]


def test_streams_are_bounded_with_a_deliberate_discard_policy() -> None:
    from nats.js.api import DiscardPolicy

    from herald.shared.streams import MIN_ALERTS_MSG_SIZE, StreamLimits

    configs = {c.name: c for c in stream_configs(limits=StreamLimits(alerts_max_bytes=10**9))}
    alerts, incidents = configs[ALERTS_STREAM], configs[INCIDENTS_STREAM]
    assert alerts.max_bytes == 10**9
    assert alerts.discard is DiscardPolicy.NEW  # refuse -> 503 -> Alertmanager retries
    assert incidents.discard is DiscardPolicy.OLD  # oldest snapshots go first
    assert (alerts.max_msg_size or 0) >= MIN_ALERTS_MSG_SIZE
    assert (incidents.max_bytes or 0) > 0


def test_stream_limits_from_the_environment() -> None:
    import pytest

    from herald.shared.streams import StreamLimits

    limits = StreamLimits.from_env(
        {"HERALD_ALERTS_MAX_BYTES": "2048000000", "HERALD_INCIDENTS_MAX_MSG_SIZE": "2097152"}
    )
    assert limits.alerts_max_bytes == 2048000000
    assert limits.incidents_max_msg_size == 2097152
    assert StreamLimits.from_env({}) == StreamLimits()
    for env in (
        {"HERALD_ALERTS_MAX_BYTES": "lots"},
        {"HERALD_ALERTS_MAX_BYTES": "0"},
        {"HERALD_ALERTS_MAX_MSG_SIZE": "1000"},
        {"HERALD_INCIDENTS_MAX_BYTES": "1000"},
    ):
        with pytest.raises(ValueError, match="HERALD_"):
            StreamLimits.from_env(env)
