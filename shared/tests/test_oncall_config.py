"""The on-call keys of herald.yaml: users, schedules, escalation policies and their checks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from herald.shared.config import ConfigError, parse_config, shift_length

BASE = """\
channels:
  console: {type: console}
users:
  alice:
    name: Alice
    time_zone: Europe/Berlin
    contact_methods: [{channel: console, address: alice@example.com}]
  bob: {}
"""


def test_a_complete_setup_loads() -> None:
    config = parse_config(
        BASE
        + """\
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - participants: [alice, bob]
        rotation: {shift: weekly, handoff: "09:00", handoff_day: mon, start: 2026-01-05}
    overrides:
      - {user: bob, from: "2026-03-02T09:00", until: "2026-03-03T09:00"}
escalation_policies:
  backend:
    steps:
      - targets: [{schedule: primary}]
        wait_minutes: 10
      - targets: [{user: alice}, {channel: console}]
    repeat: 2
    ack_timeout_minutes: 30
    fallback: [{channel: console}]
escalation: {by_label: team, policies: {payments: backend}}
services:
  api: {name: API, escalation_policy: backend}
"""
    )
    rot = config.schedules["primary"].layers[0].rotation
    assert rot.handoff_day == "monday"
    assert config.escalation_policies["backend"].steps[1].wait_minutes == 15
    assert config.schedules["primary"].overrides[0].user == "bob"


@pytest.mark.parametrize(
    ("text", "kind", "length"),
    [
        ("daily", "calendar", timedelta(days=1)),
        ("weekly", "calendar", timedelta(days=7)),
        ("2w", "calendar", timedelta(days=14)),
        ("3d", "calendar", timedelta(days=3)),
        ("12h", "elapsed", timedelta(hours=12)),
        ("1d12h", "elapsed", timedelta(hours=36)),
        ("90m", "elapsed", timedelta(minutes=90)),
    ],
)
def test_shift_lengths_and_their_rule(text: str, kind: str, length: timedelta) -> None:
    assert shift_length(text) == (kind, length)


@pytest.mark.parametrize("text", ["", "fortnightly", "12", "5m", "h", "53w"])
def test_bad_shift_lengths(text: str) -> None:
    with pytest.raises(ValueError, match="shift"):
        shift_length(text)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("users:\n  carol: {time_zone: Mars/Olympus}\n", "unknown time zone 'Mars/Olympus'"),
        (
            "schedules:\n  s:\n    layers:\n      - participants: [alice]\n"
            "        rotation: {shift: daily, handoff: 21:00, start: 2026-01-05}\n",
            "write a local time in quotes",
        ),
        (
            "schedules:\n  s:\n    layers:\n      - participants: [alice]\n"
            "        rotation: {shift: 12h, handoff_day: mon, start: 2026-01-05}\n",
            "'handoff_day' needs a shift a whole number of weeks long",
        ),
        (
            "schedules:\n  s:\n    overrides:\n"
            "      - {user: alice, from: 2026-03-02T10:00:00Z, until: 2026-03-02T09:00:00Z}\n",
            "'until' must be after 'from'",
        ),
        (
            "escalation_policies:\n  p:\n    steps:\n      - targets: [{user: alice, channel: console}]\n",
            "exactly one of 'user', 'schedule' or 'channel'",
        ),
        ("escalation_policies:\n  p:\n    steps: []\n", "at least one step"),
        ("escalation: {policies: {payments: p}}\n", "'policies' needs 'by_label'"),
    ],
)
def test_invalid_values_are_rejected(extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + extra, "c.yaml")
    assert expected in str(err.value)


def test_wrong_names_point_at_their_line() -> None:
    text = (
        BASE
        + """\
schedules:
  s:
    layers:
      - participants: [alice, carol]
        rotation: {shift: daily, start: 2026-01-05}
    overrides:
      - {user: dave, from: 2026-03-02T10:00:00Z, until: 2026-03-02T11:00:00Z}
escalation_policies:
  p:
    steps:
      - targets: [{schedule: nope}, {user: erin}, {channel: pager}]
    fallback: [{channel: sms}]
escalation: {by_label: team, default: q, policies: {payments: zz}}
services:
  api: {name: API, escalation_policy: missing}
"""
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    msg = str(err.value)
    for line in [
        "c.yaml:12: schedules.s.layers.0.participants.1: unknown user 'carol'",
        "c.yaml:15: schedules.s.overrides.0.user: unknown user 'dave'",
        "c.yaml:19: escalation_policies.p.steps.0.targets.0.schedule: unknown schedule 'nope'",
        "c.yaml:19: escalation_policies.p.steps.0.targets.1.user: unknown user 'erin'",
        "c.yaml:19: escalation_policies.p.steps.0.targets.2.channel: unknown channel 'pager'",
        "c.yaml:20: escalation_policies.p.fallback.0.channel: unknown channel 'sms'",
        "c.yaml:21: escalation.default: unknown escalation policy 'q'",
        "c.yaml:21: escalation.policies.payments: unknown escalation policy 'zz'",
        "c.yaml:23: services.api.escalation_policy: unknown escalation policy 'missing'",
    ]:
        assert line in msg


def test_contact_method_channel_is_checked() -> None:
    text = "users:\n  alice:\n    contact_methods:\n      - {channel: sms, address: '+49'}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    assert "c.yaml:4: users.alice.contact_methods.0.channel: unknown channel 'sms'" in str(
        err.value
    )
