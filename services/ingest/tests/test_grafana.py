"""Grafana-managed alerting's webhook -> AlertReceived (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from herald.ingest.grafana import GrafanaMessage, grafana_events, is_grafana
from herald.shared.events import AlertState

from .payloads import alert, message

DATA = Path(__file__).parent / "data"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def grafana_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / "grafana-firing.json").read_text())
    return doc


def test_recognised_by_its_content() -> None:
    assert is_grafana(grafana_doc())
    assert not is_grafana(message(alert()))


def test_alerts_keep_grafanas_identity_and_gain_its_extras() -> None:
    firing, resolved = grafana_events(GrafanaMessage.model_validate(grafana_doc()), "gf", NOW)
    assert firing.fingerprint == "c6eadffa33fcdf37"
    assert firing.status is AlertState.FIRING
    assert firing.starts_at == datetime(2024, 5, 1, 7, 51, 3, 157076, tzinfo=UTC)
    assert firing.labels["alertname"] == "High memory usage"
    assert firing.annotations["summary"] == "This alert was triggered for zone us-1"
    assert firing.annotations["grafana_org_id"] == "1"
    assert json.loads(firing.annotations["grafana_values"]) == {"B": 44.23943737541908, "C": 1}
    assert firing.annotations["dashboard_url"] == "https://grafana.example.com/d/payments?orgId=1"
    assert firing.annotations["panel_url"].endswith("viewPanel=2")
    assert firing.annotations["silence_url"].startswith("https://grafana.example.com/alerting/")
    assert "grafana_value_string" in firing.annotations
    assert firing.receiver == "herald"
    assert firing.external_url == "https://grafana.example.com/"
    assert resolved.status is AlertState.RESOLVED
    assert resolved.ends_at == datetime(2024, 5, 1, 8, 11, 3, 157076, tzinfo=UTC)
    assert "dashboard_url" not in resolved.annotations  # empty in the payload
    assert "grafana_values" not in resolved.annotations  # null in the payload


def test_grafanas_own_annotation_wins_over_an_extra() -> None:
    doc = grafana_doc()
    doc["alerts"][0]["annotations"]["dashboard_url"] = "mine"
    [firing, _] = grafana_events(GrafanaMessage.model_validate(doc), "gf", NOW)
    assert firing.annotations["dashboard_url"] == "mine"


def test_non_finite_values_are_null() -> None:
    doc = grafana_doc()
    doc["alerts"][0]["values"] = {"A": float("nan"), "B": float("inf")}
    [firing, _] = grafana_events(GrafanaMessage.model_validate(doc), "gf", NOW)
    assert json.loads(firing.annotations["grafana_values"]) == {"A": None, "B": None}
