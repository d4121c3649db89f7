from __future__ import annotations

import pytest

from herald.shared.matchers import Matcher, matches_all


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('service="payments-api"', {"service": "payments-api"}, True),
        ('service="payments-api"', {"service": "other"}, False),
        ("service=payments-api", {"service": "payments-api"}, True),
        ('severity!="info"', {"severity": "critical"}, True),
        ('severity!="info"', {"severity": "info"}, False),
        ('alertname=~"KubeNode.*"', {"alertname": "KubeNodeMemoryPressure"}, True),
        ('alertname=~"KubeNode"', {"alertname": "KubeNodeMemoryPressure"}, False),  # anchored
        ('team!~"infra|platform"', {"team": "backend"}, True),
        ('team!~"infra|platform"', {"team": "infra"}, False),
        ('missing=""', {}, True),
    ],
)
def test_matcher(text: str, labels: dict[str, str], expected: bool) -> None:
    assert Matcher.parse(text).matches(labels) is expected


def test_matches_all_needs_every_matcher() -> None:
    ms = (Matcher.parse('a="1"'), Matcher.parse('b=~"x.*"'))
    assert matches_all(ms, {"a": "1", "b": "xy"})
    assert not matches_all(ms, {"a": "1", "b": "y"})


@pytest.mark.parametrize("text", ["no operator", '1abc="x"', 'a=~"("'])
def test_bad_matchers_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"matcher|regular expression"):
        Matcher.parse(text)
