from __future__ import annotations

from herald.shared.streams import DUPLICATE_WINDOW_SECONDS, stream_configs
from herald.shared.subjects import ALERTS_STREAM, INCIDENTS_STREAM


def test_streams_are_replicated_as_asked_and_deduplicate() -> None:
    configs = {c.name: c for c in stream_configs(replicas=3)}
    assert set(configs) == {ALERTS_STREAM, INCIDENTS_STREAM}
    assert {c.num_replicas for c in configs.values()} == {3}
    assert {c.duplicate_window for c in configs.values()} == {DUPLICATE_WINDOW_SECONDS}
    assert configs[ALERTS_STREAM].subjects == ["alerts.>"]
    assert configs[INCIDENTS_STREAM].subjects == ["incidents.>"]
