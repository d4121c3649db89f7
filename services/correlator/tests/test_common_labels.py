"""The labels every alert of an incident shares, on its events (plain data)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from herald.correlator.common_labels import bounded, narrowed
from herald.correlator.incident import ServiceState, apply
from herald.shared.config import parse_config
from herald.shared.events import (
    MAX_INCIDENT_LABEL_CHARS,
    MAX_INCIDENT_LABELS,
    AlertReceived,
    IncidentOpened,
    IncidentUpdated,
)
from services.correlator.tests.alerts import T0, make_alert

SVC = "payments-api"
NOW = T0 + timedelta(minutes=1)
CONFIG = parse_config(
    """
page: {title: Acme}
integrations:
  alertmanager: {token: t1}
services:
  payments-api: {name: Payments API}
"""
)


def alert(fp: str, **labels: str) -> AlertReceived:
    return make_alert(fp, labels={"alertname": "HighErrorRate", "service": SVC, **labels})


def run(*events: AlertReceived) -> list[Any]:
    state = ServiceState(service=SVC)
    out: list[Any] = []
    for e in events:
        state, emitted = apply(state, e, SVC, CONFIG, NOW)
        out.extend(emitted)
    return out


def test_an_incident_carries_the_labels_all_its_alerts_share() -> None:
    opened, _, joined = run(
        alert("fp1", team="payments", instance="a"), alert("fp2", team="payments", instance="b")
    )
    assert isinstance(opened, IncidentOpened)
    assert opened.incident.labels == {
        "alertname": "HighErrorRate",
        "service": SVC,
        "team": "payments",
        "instance": "a",
    }
    assert isinstance(joined, IncidentUpdated)
    assert joined.incident.labels == {
        "alertname": "HighErrorRate",
        "service": SVC,
        "team": "payments",
    }


def test_an_alert_of_another_team_joining_leaves_no_team() -> None:
    events = run(alert("fp1", team="payments"), alert("fp2", team="search"), alert("fp3"))
    assert "team" not in events[-1].incident.labels
    assert events[-1].incident.labels == {"alertname": "HighErrorRate", "service": SVC}


def test_labels_stay_within_the_bounds_left_out_whole_by_name_order() -> None:
    many = {f"l{n:03}": "v" for n in range(100)}
    kept = bounded(many)
    assert list(kept) == [f"l{n:03}" for n in range(MAX_INCIDENT_LABELS)]
    long = {"a": "x" * MAX_INCIDENT_LABEL_CHARS, "b": "short", "team": "payments"}
    assert bounded(long) == {"b": "short", "team": "payments"}  # the long one left out, never cut


def test_an_incident_event_with_huge_labels_stays_bounded() -> None:
    huge = {f"label_{n:02}": "x" * 2000 for n in range(60)}
    (opened, *_) = run(make_alert("fp1", labels={"alertname": "A", **huge}))
    labels = opened.incident.labels
    assert len(labels) <= MAX_INCIDENT_LABELS
    assert sum(len(k) + len(v) for k, v in labels.items()) <= MAX_INCIDENT_LABEL_CHARS
    assert labels["alertname"] == "A"


def test_narrowing_keeps_only_same_name_and_value() -> None:
    assert narrowed({"team": "payments", "env": "prod"}, {"team": "payments", "env": "dev"}) == {
        "team": "payments"
    }
    assert narrowed({}, {"team": "payments"}) == {}
