from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from herald.correlator.routing import Route, RouteDecision, retirement, route, sticky_route
from herald.shared.config import parse_config
from herald.shared.events import AlertReceived, AlertState
from herald.shared.matchers import matches_all

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


T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=30)


def test_an_alert_never_seen_goes_where_the_config_says() -> None:
    assert sticky_route(None, T0, "checkout") == RouteDecision(
        "checkout", Route("checkout", T0), None
    )
    assert sticky_route(None, T0, None) == RouteDecision(None, None, None)


def test_the_same_or_an_older_instance_goes_where_the_alert_lives() -> None:
    lives = Route("payments-api", T0)
    for starts_at in (T0, T0 - timedelta(minutes=1)):
        for configured in ("checkout", None, "payments-api"):
            decision = sticky_route(lives, starts_at, configured)
            assert decision == RouteDecision("payments-api", lives, None)


def test_a_newer_instance_follows_the_config_and_retires_the_old_one_when_it_moves() -> None:
    lives = Route("payments-api", T0)
    assert sticky_route(lives, LATER, "payments-api") == RouteDecision(
        "payments-api", Route("payments-api", LATER), None
    )
    assert sticky_route(lives, LATER, "checkout") == RouteDecision(
        "checkout", Route("checkout", LATER), lives
    )
    assert sticky_route(lives, LATER, None) == RouteDecision(None, None, lives)


def test_retirement_resolves_the_previous_instance_when_the_new_one_started() -> None:
    refire = AlertReceived(
        event_id="e1",
        occurred_at=LATER,
        received_at=LATER,
        integration="alertmanager",
        fingerprint="fp1",
        status=AlertState.FIRING,
        labels={"alertname": "HighErrorRate"},
        annotations={},
        starts_at=LATER,
    )
    retired = retirement(refire, Route("payments-api", T0))
    assert retired.status is AlertState.RESOLVED
    assert (retired.starts_at, retired.ends_at, retired.occurred_at) == (T0, LATER, LATER)
    assert (retired.integration, retired.fingerprint) == ("alertmanager", "fp1")
    assert retired.event_id != refire.event_id


# -- the routing index routes as the first match over every service in config order ----------

_NAMES = ("service", "team", "cluster")
_VALUES = ("", "a", "b")


@st.composite
def _configs(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A herald.yaml whose services mix equality, negative, regex and default matchers, with
    overlaps (several services may match one alert: config order decides)."""
    ids = [f"svc-{i}" for i in range(draw(st.integers(1, 6)))]
    lines = ["services:"]
    for sid in ids:
        lines += [f"  {sid}:", f"    name: {sid}"]
        matchers = draw(
            st.one_of(
                st.none(),
                st.lists(
                    st.tuples(
                        st.sampled_from(_NAMES),
                        st.sampled_from(("=", "!=", "=~", "!~")),
                        st.sampled_from((*_VALUES, "a|b", "svc-.*")),
                    ),
                    min_size=0,
                    max_size=3,
                ),
            )
        )
        if matchers is not None:
            texts = ", ".join(f"'{n}{op}\"{v}\"'" for n, op, v in matchers)
            lines.append(f"    matchers: [{texts}]")
    return "\n".join(lines) + "\n", ids


_LABELS = st.dictionaries(
    st.sampled_from(_NAMES), st.sampled_from((*_VALUES, "svc-0", "svc-1", "svc-2")), max_size=3
)


@settings(max_examples=300, deadline=None)
@given(_configs(), st.lists(_LABELS, min_size=1, max_size=8))
def test_route_is_the_first_match_in_config_order(
    doc: tuple[str, list[str]], alerts: list[dict[str, str]]
) -> None:
    config = parse_config(doc[0])
    for labels in alerts:
        expected = next(
            (s for s in config.services if matches_all(config.service_matchers(s), labels)),
            None,
        )
        assert route(labels, config) == expected
