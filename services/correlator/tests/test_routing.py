from herald.correlator.routing import route
from herald.shared.config import parse_config

CONFIG = parse_config(
    """
services:
  payments-api:
    name: Payments API
  nodes:
    name: Nodes
    matchers: ['alertname=~"KubeNode.*"', 'cluster="prod"']
  catch-all-nodes:
    name: Any node
    matchers: ['alertname=~"KubeNode.*"']
"""
)


def test_default_matcher_is_service_label() -> None:
    assert route({"service": "payments-api", "alertname": "HighLatency"}, CONFIG) == "payments-api"


def test_all_matchers_must_match() -> None:
    assert route({"alertname": "KubeNodeNotReady", "cluster": "prod"}, CONFIG) == "nodes"
    assert route({"alertname": "KubeNodeNotReady", "cluster": "dev"}, CONFIG) == "catch-all-nodes"


def test_first_service_in_config_order_wins() -> None:
    labels = {"alertname": "KubeNodeNotReady", "cluster": "prod", "service": "payments-api"}
    assert route(labels, CONFIG) == "payments-api"


def test_unrouted_when_nothing_matches() -> None:
    assert route({"alertname": "Watchdog"}, CONFIG) is None
    assert route({}, parse_config("")) is None
