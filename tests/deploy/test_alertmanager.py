"""deploy/alertmanager/alertmanager.yml: amtool checks and routing of every alert we ship."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.catalog import DEPLOY, SERVICES
from tests.deploy.rules import alert_rules
from tests.deploy.tools import require, run

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
HERALD_RECEIVERS = {"herald-status-page", "herald-internal"}


@cache
def config() -> dict[str, Any]:
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def route(labels: dict[str, str]) -> list[str]:
    """Receivers Alertmanager picks for `labels` (amtool config routes test)."""
    argv = [require("amtool"), "config", "routes", "test", f"--config.file={CONFIG}"]
    argv += [f"{k}={v}" for k, v in labels.items()]
    out = run(argv)
    return out.stdout.strip().split(",")


def expected_receiver(labels: dict[str, str]) -> str:
    if labels.get("alertname") == "Watchdog":
        return "heartbeat"
    if labels.get("customer_facing") == "false":
        return "herald-internal"
    if labels.get("customer_facing") == "true" or labels.get("severity") == "critical":
        return "herald-status-page"
    return "herald-internal"


def test_amtool_accepts_the_config() -> None:
    out = run([require("amtool"), "check-config", str(CONFIG)])
    assert "SUCCESS" in out.stdout


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r.name)
def test_each_shipped_alert_goes_to_the_right_receiver(rule: Any) -> None:
    assert route(rule.alert_labels) == [expected_receiver(rule.alert_labels)]


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": "SomethingUnlabelled"}, "herald-internal"),
        ({"alertname": "X", "severity": "warning"}, "herald-internal"),
        (
            {"alertname": "TestAlert", "severity": "critical", "service": "payments-api"},
            "herald-status-page",
        ),
        ({"alertname": "X", "customer_facing": "false", "severity": "critical"}, "herald-internal"),
        (
            {"alertname": "X", "customer_facing": "true", "severity": "warning"},
            "herald-status-page",
        ),
        ({"alertname": "InfoInhibitor", "severity": "none"}, "blackhole"),
    ],
)
def test_only_customer_facing_or_critical_alerts_reach_the_status_page(
    labels: dict[str, str], receiver: str
) -> None:
    assert route(labels) == [receiver]


def test_the_heartbeat_repeats_quickly() -> None:
    watchdog = next(r for r in config()["route"]["routes"] if r["receiver"] == "heartbeat")
    assert watchdog["repeat_interval"] == "1m"


def test_herald_receivers_post_to_ingest_with_a_token_and_file_credentials() -> None:
    receivers = {r["name"]: r for r in config()["receivers"]}
    assert receivers.keys() >= HERALD_RECEIVERS
    for name in HERALD_RECEIVERS:
        (hook,) = receivers[name]["webhook_configs"]
        url = urlsplit(hook["url"])
        assert url.netloc == f"herald-ingest:{SERVICES['ingest'].port}", name
        prefix, _, token = url.path.rpartition("/")
        assert prefix == "/hooks/inbound", name
        assert token, name
        assert hook["send_resolved"] is True
        auth = hook["http_config"]["authorization"]
        assert "credentials" not in auth, "credentials belong in credentials_file"
        assert auth["credentials_file"].startswith("/etc/alertmanager/secrets/")
    tokens = {urlsplit(receivers[n]["webhook_configs"][0]["url"]).path for n in HERALD_RECEIVERS}
    assert len(tokens) == len(HERALD_RECEIVERS), "each Herald receiver needs its own integration"
