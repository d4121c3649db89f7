"""The alerting rules of deploy/prometheus/rules.yaml as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from tests.deploy.catalog import DEPLOY

RULES_FILE = DEPLOY / "prometheus" / "rules.yaml"
META_GROUP = "meta"
"""The group kube-prometheus-stack already has (Watchdog); left out of the PrometheusRule."""


@dataclass(frozen=True)
class AlertRule:
    group: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    for_: str | None

    @property
    def alert_labels(self) -> dict[str, str]:
        """The labels Alertmanager and Herald see (without the series' own labels)."""
        return {"alertname": self.name, **self.labels}


@cache
def rule_groups() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    groups = data["groups"]
    assert isinstance(groups, list)
    return groups


def alert_rules() -> list[AlertRule]:
    return [
        AlertRule(
            group=g["name"],
            name=r["alert"],
            labels={k: str(v) for k, v in r.get("labels", {}).items()},
            annotations=r.get("annotations", {}),
            for_=r.get("for"),
        )
        for g in rule_groups()
        for r in g["rules"]
        if "alert" in r
    ]
