"""deploy/prometheus: promtool checks and unit tests, and the contract with Herald's config."""

from __future__ import annotations

import re

import yaml

from herald.shared.config import HeraldConfig, load_config
from herald.shared.matchers import matches_all
from tests.deploy.catalog import DEPLOY, ROOT
from tests.deploy.rules import META_GROUP, RULES_FILE, alert_rules, rule_groups
from tests.deploy.tools import require, run

PROMETHEUS_RULE = DEPLOY / "kubernetes" / "components" / "monitoring" / "prometheusrule.yaml"
HERALD_CONFIGS = {
    "examples/herald.yaml": ROOT / "examples" / "herald.yaml",
    "deploy/kubernetes/base/herald.yaml": DEPLOY / "kubernetes" / "base" / "herald.yaml",
}


def test_promtool_accepts_the_rules() -> None:
    out = run([require("promtool"), "check", "rules", str(RULES_FILE)])
    assert "SUCCESS" in out.stdout


def test_promtool_unit_tests_pass() -> None:
    out = run([require("promtool"), "test", "rules", str(RULES_FILE.parent / "rules_test.yaml")])
    assert "SUCCESS" in out.stdout


def test_every_alert_is_covered_by_a_unit_test() -> None:
    tests = yaml.safe_load((RULES_FILE.parent / "rules_test.yaml").read_text(encoding="utf-8"))
    tested = {
        case["alertname"]
        for t in tests["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {r.name for r in alert_rules()} <= tested


def test_the_prometheus_rule_holds_the_same_groups_without_meta() -> None:
    resource = yaml.safe_load(PROMETHEUS_RULE.read_text(encoding="utf-8"))
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    expected = [g for g in rule_groups() if g["name"] != META_GROUP]
    assert resource["spec"]["groups"] == expected


def test_alerts_carry_what_routing_and_the_page_need() -> None:
    for rule in alert_rules():
        assert rule.annotations.get("summary"), rule.name
        assert rule.annotations.get("description"), rule.name
        assert "severity" in rule.labels, rule.name
        if rule.group == META_GROUP:
            continue
        assert rule.labels.get("customer_facing") in {"true", "false"}, rule.name
        assert rule.labels.get("team"), rule.name
        assert rule.for_ is not None, rule.name
        assert re.fullmatch(r"\d+[smh]", rule.for_), rule.name


def test_the_requested_production_for_durations() -> None:
    fors = {r.name: r.for_ for r in alert_rules()}
    assert fors["PaymentsAPICrashLoopBackOff"] == "2m"
    assert fors["PaymentsAPIHighRestartCount"] == "1m"


def routed_services(config: HeraldConfig, labels: dict[str, str]) -> list[str]:
    return [sid for sid in config.services if matches_all(config.service_matchers(sid), labels)]


def test_each_alert_reaches_exactly_one_status_page_service() -> None:
    """The alertnames and labels match the service matchers of Herald's configs."""
    for where, path in HERALD_CONFIGS.items():
        config = load_config(path)
        for rule in alert_rules():
            if rule.group == META_GROUP:
                assert routed_services(config, rule.alert_labels) == [], f"{where}: {rule.name}"
                continue
            services = routed_services(config, rule.alert_labels)
            assert len(services) == 1, f"{where}: {rule.name} routes to {services}"


def test_severities_are_known_to_herald() -> None:
    for path in HERALD_CONFIGS.values():
        config = load_config(path)
        for rule in alert_rules():
            if rule.group != META_GROUP:
                assert rule.labels[config.severity.label] in config.severity.map, rule.name
