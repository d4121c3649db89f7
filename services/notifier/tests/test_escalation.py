"""Escalation on plain data with an explicit clock: steps, empty steps, fallback, repeats,
acknowledge, resolve and the ack timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from herald.notifier.escalation import (
    Decision,
    EscalationState,
    Notification,
    Skipped,
    acknowledge,
    advance,
    holders,
    policy_for,
    resolve,
    resolve_targets,
    start,
)
from herald.shared.config import EscalationTarget, HeraldConfig, load_config, parse_config

T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # a Tuesday: alice's week in `primary`

BASE = """\
channels:
  console: {type: console}
  email: {type: console}
  pager: {type: console}
users:
  alice:
    contact_methods:
      - {channel: email, address: alice@example.com}
      - {channel: pager, address: alice}
  bob:
    contact_methods: [{channel: email, address: bob@example.com}]
  carol: {}
schedules:
  primary:
    layers:
      - participants: [alice, bob]
        rotation: {shift: weekly, handoff: "09:00", handoff_day: monday, start: 2026-01-05}
  empty: {}
"""


def config(policies: str, extra: str = "", schedules: str = "") -> HeraldConfig:
    return parse_config(BASE + schedules + "escalation_policies:\n" + policies + extra)


TWO_STEPS = config(
    """\
  backend:
    steps:
      - targets: [{schedule: primary}]
        wait_minutes: 10
      - targets: [{user: bob}, {channel: console}]
        wait_minutes: 15
    repeat: 1
"""
)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def who(d: Decision) -> set[tuple[str, str | None]]:
    return {(n.channel, n.address) for n in d.notify}


def test_steps_run_in_order_each_after_its_wait() -> None:
    s = start("backend", T0)
    d = advance(TWO_STEPS, s, T0)
    assert who(d) == {("email", "alice@example.com"), ("pager", "alice")}
    assert {n.via for n in d.notify} == {"schedule:primary"}
    assert d.state.due_at == T0 + minutes(10)

    early = advance(TWO_STEPS, d.state, T0 + minutes(9))
    assert early == Decision(state=d.state)  # not due: nothing

    d = advance(TWO_STEPS, d.state, T0 + minutes(10))
    assert who(d) == {("email", "bob@example.com"), ("console", None)}
    assert [n.step for n in d.notify] == [1, 1]
    assert d.state.due_at == T0 + minutes(25)


def test_a_due_step_runs_once_even_when_advance_is_called_twice() -> None:
    s = start("backend", T0)
    first = advance(TWO_STEPS, s, T0 + minutes(1))
    again = advance(TWO_STEPS, first.state, T0 + minutes(1))
    assert first.notify
    assert again.notify == ()
    assert again.state == first.state


def test_a_late_notifier_runs_the_one_due_step_and_waits_from_now() -> None:
    d = advance(TWO_STEPS, start("backend", T0), T0)
    late = T0 + minutes(60)  # 35 minutes past step 1's due time
    d = advance(TWO_STEPS, d.state, late)
    assert [n.step for n in d.notify] == [1, 1]
    assert d.state.due_at == late + minutes(15)


def test_the_policy_repeats_then_is_exhausted() -> None:
    d = advance(TWO_STEPS, start("backend", T0), T0)
    d = advance(TWO_STEPS, d.state, T0 + minutes(10))
    d = advance(TWO_STEPS, d.state, T0 + minutes(25))  # pass 2, step 0 again
    assert d.state.repeat == 1
    assert {n.step for n in d.notify} == {0}
    d = advance(TWO_STEPS, d.state, T0 + minutes(35))
    assert {n.step for n in d.notify} == {1}
    d = advance(TWO_STEPS, d.state, T0 + minutes(50))
    assert d.exhausted
    assert d.notify == ()
    assert d.state.due_at is None
    assert advance(TWO_STEPS, d.state, T0 + minutes(500)).notify == ()


def test_a_step_that_reaches_nobody_moves_on_at_once_and_says_so() -> None:
    c = config(
        """\
  p:
    steps:
      - targets: [{schedule: empty}, {user: carol}]
        wait_minutes: 5
      - targets: [{user: bob}]
""",
        schedules="""\
  with-carol:
    layers: [{participants: [carol], rotation: {shift: daily, start: 2026-01-01}}]
""",
    )
    d = advance(c, start("p", T0), T0)
    assert d.skipped == (
        Skipped(
            step=0,
            reasons=(
                "schedule 'empty' has nobody on call",
                "user 'carol' has no contact methods",
            ),
        ),
    )
    assert who(d) == {("email", "bob@example.com")}
    assert d.state.due_at == T0 + minutes(15)  # step 1's wait, not step 0's
    _, reasons = resolve_targets(c, (EscalationTarget(schedule="with-carol"),), T0, step=0)
    assert reasons == ("user 'carol' (on call for schedule 'with-carol') has no contact methods",)
    assert not d.fallback


def test_a_policy_that_reaches_nobody_pages_the_fallback() -> None:
    c = config(
        """\
  p:
    steps:
      - targets: [{schedule: empty}]
      - targets: [{user: carol}]
        wait_minutes: 20
    repeat: 1
    fallback: [{channel: console}, {user: bob}]
"""
    )
    d = advance(c, start("p", T0), T0)
    assert d.fallback
    assert [s.step for s in d.skipped] == [0, 1]
    assert set(d.notify) == {
        Notification("console", None, None, "fallback channel:console", None),
        Notification("email", "bob@example.com", "bob", "fallback user:bob", None),
    }
    assert d.unreached == ()
    # One repeat left: the steps are tried again after the last step's wait.
    assert d.state.due_at == T0 + minutes(20)
    assert not d.exhausted
    d = advance(c, d.state, T0 + minutes(20))
    assert d.fallback
    assert d.exhausted
    assert d.state.due_at is None


def test_a_policy_without_a_fallback_that_reaches_nobody_says_so() -> None:
    c = config("  p:\n    steps:\n      - targets: [{schedule: empty}]\n")
    d = advance(c, start("p", T0), T0)
    assert d.fallback
    assert d.exhausted
    assert d.notify == ()
    assert d.unreached == ("escalation policy 'p' has no fallback",)


def test_the_fallback_is_not_paged_when_a_pass_reached_someone() -> None:
    c = config(
        """\
  p:
    steps:
      - targets: [{user: bob}]
        wait_minutes: 5
      - targets: [{schedule: empty}]
    fallback: [{channel: console}]
"""
    )
    d = advance(c, start("p", T0), T0)
    d = advance(c, d.state, T0 + minutes(5))
    assert d.skipped == (Skipped(1, ("schedule 'empty' has nobody on call",)),)
    assert not d.fallback
    assert d.exhausted
    assert d.notify == ()


def test_acknowledge_stops_the_escalation() -> None:
    d = advance(TWO_STEPS, start("backend", T0), T0)
    acked = acknowledge(TWO_STEPS, d.state, T0 + minutes(3))
    assert acked.due_at is None
    assert advance(TWO_STEPS, acked, T0 + minutes(10)).notify == ()


def test_resolve_stops_the_escalation_even_with_an_ack_timeout() -> None:
    c = config("  p:\n    steps:\n      - targets: [{user: bob}]\n    ack_timeout_minutes: 30\n")
    d = advance(c, start("p", T0), T0)
    done = resolve(d.state, T0 + minutes(2))
    assert done.due_at is None
    assert advance(c, done, T0 + minutes(60)).notify == ()
    assert acknowledge(c, done, T0 + minutes(3)) == done  # too late to acknowledge


def test_an_ack_timeout_starts_the_escalation_again() -> None:
    c = config(
        """\
  p:
    steps:
      - targets: [{user: alice}]
        wait_minutes: 5
      - targets: [{user: bob}]
    ack_timeout_minutes: 30
"""
    )
    d = advance(c, start("p", T0), T0)
    d = advance(c, d.state, T0 + minutes(5))  # step 1: bob
    acked = acknowledge(c, d.state, T0 + minutes(7))
    assert acked.due_at == T0 + minutes(37)
    assert advance(c, acked, T0 + minutes(36)).notify == ()
    d = advance(c, acked, T0 + minutes(37))
    assert d.restarted
    assert {n.user for n in d.notify} == {"alice"}  # from the first step again
    assert d.state.acked_at is None
    assert d.state.started_at == T0 + minutes(37)
    assert d.state.due_at == T0 + minutes(42)
    # Acknowledging again starts the timeout again.
    again = acknowledge(c, acknowledge(c, d.state, T0 + minutes(40)), T0 + minutes(50))
    assert again.due_at == T0 + minutes(80)


def test_schedules_resolve_at_now() -> None:
    d = advance(TWO_STEPS, start("backend", T0), datetime(2026, 1, 13, 12, tzinfo=UTC))
    assert {n.user for n in d.notify} == {"bob"}  # bob's week


def test_destinations_are_not_repeated_within_a_step() -> None:
    notify, reasons = resolve_targets(
        TWO_STEPS,
        (
            EscalationTarget(schedule="primary"),
            EscalationTarget(user="alice"),
            EscalationTarget(channel="console"),
            EscalationTarget(channel="console"),
        ),
        T0,
        step=0,
    )
    assert [(n.channel, n.address) for n in notify] == [
        ("email", "alice@example.com"),
        ("pager", "alice"),
        ("console", None),
    ]
    assert reasons == ()


def test_holders_are_the_last_step_that_reached_someone() -> None:
    s = start("backend", T0)
    assert holders(TWO_STEPS, s, T0) == ()
    d = advance(TWO_STEPS, s, T0)
    assert {n.user for n in holders(TWO_STEPS, d.state, T0)} == {"alice"}
    d = advance(TWO_STEPS, d.state, T0 + minutes(10))
    assert {(n.user, n.channel) for n in holders(TWO_STEPS, d.state, T0)} == {
        ("bob", "email"),
        (None, "console"),
    }


def test_a_policy_removed_from_the_config_stops_with_a_problem() -> None:
    d = advance(TWO_STEPS, start("gone", T0), T0)
    assert d.problem == "escalation policy 'gone' is not configured"
    assert d.state.due_at is None


def test_state_round_trips_through_json() -> None:
    d = advance(TWO_STEPS, start("backend", T0), T0)
    s = acknowledge(TWO_STEPS, d.state, T0 + minutes(1))
    assert EscalationState.from_json(s.to_json()) == s
    assert EscalationState.from_json(start("p", T0).to_json()) == start("p", T0)


def test_policy_selection() -> None:
    c = config(
        "  a:\n    steps: [{targets: [{user: bob}]}]\n"
        "  b:\n    steps: [{targets: [{user: bob}]}]\n"
        "  d:\n    steps: [{targets: [{user: bob}]}]\n",
        """\
escalation: {by_label: team, policies: {payments: b}, default: d}
services:
  api: {name: API, escalation_policy: a}
  web: {name: Web}
""",
    )
    assert policy_for(c, "api", {"team": "payments"}) == "a"  # the service's own wins
    assert policy_for(c, "web", {"team": "payments"}) == "b"
    assert policy_for(c, "web", {"team": "search"}) == "d"
    assert policy_for(c, "web", {}) == "d"
    assert policy_for(TWO_STEPS, "web", {"team": "payments"}) is None


def test_the_example_configuration_escalates_through_its_weekly_rotation() -> None:
    example = load_config(Path(__file__).resolve().parents[3] / "examples" / "herald.yaml")
    assert len(example.users) == 2
    assert policy_for(example, "payments-api", {}) == "backend"
    policy = example.escalation_policies["backend"]
    assert len(policy.steps) == 2
    sched = example.schedules["backend-primary"]
    assert sched.layers[0].rotation.shift == "weekly"
    d = advance(example, start("backend", T0), T0)  # a Tuesday of alice's first week
    assert {n.user for n in d.notify} == {"alice"}
    d = advance(example, d.state, T0 + minutes(10))
    assert {n.user for n in d.notify} == {"alice", "bob", None}
