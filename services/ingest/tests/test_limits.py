"""Every field copied into an event is bounded: no event can exceed MAX_EVENT_BYTES."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herald.ingest.alertmanager import WebhookMessage, fingerprint
from herald.ingest.limits import (
    CLIPPED_ANNOTATION,
    DEFAULT_LIMITS,
    ELLIPSIS,
    MAX_EVENT_BYTES,
    FieldLimits,
    clip,
    text,
)
from herald.ingest.normalize import alert_events, normalize
from herald.shared.streams import MIN_ALERTS_MSG_SIZE

from .payloads import alert, message

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WORST = "\x01"
"""A character JSON writes as 6 bytes (\\u0001)."""


def events_of(doc: dict[str, Any], limits: FieldLimits = DEFAULT_LIMITS) -> list[Any]:
    return normalize(WebhookMessage.model_validate(doc), "am", NOW, limits)


def test_the_bounds_fit_below_nats_max_payload() -> None:
    assert DEFAULT_LIMITS.max_event_chars() * 6 <= MAX_EVENT_BYTES
    assert MAX_EVENT_BYTES <= MIN_ALERTS_MSG_SIZE < 1024 * 1024


def test_clip_marks_what_it_cuts() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("abcd", 3) == "ab" + ELLIPSIS
    assert len(clip("x" * 10_000, 100)) == 100


def test_lone_surrogates_become_replacement_characters() -> None:
    assert text("a\ud800b") == "a\ufffdb"
    assert text("ok \U0001f600") == "ok \U0001f600"


def test_small_alert_is_untouched() -> None:
    [ev] = events_of(message(alert()))
    assert CLIPPED_ANNOTATION not in ev.annotations
    assert ev.annotations["description"] == "<b>5xx</b> > 5%"


def test_one_megabyte_description_is_clipped_and_marked() -> None:
    doc = alert()
    doc["annotations"]["description"] = "d" * 1_000_000
    [ev] = events_of(message(doc))
    assert len(ev.annotations["description"]) == DEFAULT_LIMITS.annotation_value
    assert ev.annotations["description"].endswith(ELLIPSIS)
    assert "annotations.description" in ev.annotations[CLIPPED_ANNOTATION]
    assert ev.annotations["summary"] == "HighErrorRate on payments"
    assert len(ev.model_dump_json().encode()) <= MAX_EVENT_BYTES


def test_shared_fields_are_clipped_once_and_noted_in_every_alert() -> None:
    doc = message(alert("A"), alert("B"), groupKey="g" * 500_000, externalURL="u" * 10_000)
    events = events_of(doc)
    for ev in events:
        assert len(ev.group_key) == DEFAULT_LIMITS.group_key
        assert len(ev.external_url) == DEFAULT_LIMITS.url
        assert "groupKey" in ev.annotations[CLIPPED_ANNOTATION]
        assert "externalURL" in ev.annotations[CLIPPED_ANNOTATION]


def test_too_many_labels_are_dropped_but_the_fingerprint_is_alertmanagers() -> None:
    labels = {f"l{i:03}": "v" for i in range(200)}
    doc = alert(**labels)
    [ev] = events_of(message(doc))
    assert len(ev.labels) == DEFAULT_LIMITS.labels
    assert "labels (" in ev.annotations[CLIPPED_ANNOTATION]
    assert ev.fingerprint == fingerprint(doc["labels"])  # of the labels as sent


def test_huge_fingerprint_is_replaced_by_a_stable_hash() -> None:
    [a] = events_of(message(alert(fingerprint="f" * 10_000)))
    [b] = events_of(message(alert(fingerprint="f" * 10_000)))
    assert len(a.fingerprint) == 32
    assert a.fingerprint == b.fingerprint
    assert a.event_id == b.event_id
    assert "fingerprint" in a.annotations[CLIPPED_ANNOTATION]


def test_worst_case_alert_stays_below_max_event_bytes() -> None:
    big = WORST * 1_000_000
    labels = {WORST * 300 + str(i): big for i in range(100)}
    annotations = {WORST * 300 + str(i): big for i in range(100)}
    doc = {
        "status": "firing",
        "labels": labels,
        "annotations": {**annotations, CLIPPED_ANNOTATION: big},
        "startsAt": "2024-05-01T10:00:00Z",
        "generatorURL": big,
        "fingerprint": big,
    }
    msg = message(doc, groupKey=big, receiver=big, externalURL=big)
    [ev] = events_of(msg)
    assert len(ev.model_dump_json().encode()) <= MAX_EVENT_BYTES


def test_events_are_made_one_at_a_time() -> None:
    events = alert_events(
        WebhookMessage.model_validate(message(*(alert(str(i)) for i in range(3)))), "am", NOW
    )
    assert next(events).labels["alertname"] == "0"


small = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
label_maps = st.dictionaries(small, st.text(max_size=300), max_size=12)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    labels=label_maps,
    annotations=label_maps,
    group_key=st.text(max_size=300),
    repeat=st.integers(min_value=1, max_value=400),
)
def test_any_alert_fits_and_keeps_its_identity(
    labels: dict[str, str], annotations: dict[str, str], group_key: str, repeat: int
) -> None:
    # Tight limits so that small generated inputs exercise every clipping path.
    limits = FieldLimits(
        label_name=8,
        label_value=16,
        labels=4,
        labels_total=40,
        annotation_name=8,
        annotation_value=16,
        annotations=4,
        annotations_total=40,
        url=10,
        group_key=10,
        receiver=10,
        clipped_note=64,
    )
    doc = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": "2024-05-01T10:00:00Z",
        "generatorURL": "u" * repeat,
    }
    [ev] = events_of(message(doc, groupKey=group_key * repeat), limits)
    assert len(ev.labels) <= limits.labels
    assert sum(len(k) + len(v) for k, v in ev.labels.items()) <= limits.labels_total
    assert all(len(k) <= 8 and len(v) <= 16 for k, v in ev.labels.items())
    own = {k: v for k, v in ev.annotations.items() if k != CLIPPED_ANNOTATION}
    assert sum(len(k) + len(v) for k, v in own.items()) <= limits.annotations_total
    assert len(ev.group_key) <= 10
    assert len(ev.generator_url) <= 10
    assert len(ev.annotations.get(CLIPPED_ANNOTATION, "")) <= 64
    assert ev.fingerprint == fingerprint(labels)
    assert len(ev.model_dump_json().encode()) <= limits.max_event_chars() * 6
