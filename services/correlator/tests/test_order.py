"""Order does not matter: any interleaving, duplication and reordering of an Alertmanager-like
history ends in the same alert states as applying it in the order ingest received it.

The history is generated per alert: instances with increasing startsAt, each a firing and,
usually, a resolve; an HA peer's (or a retry's) duplicate of the firing within
`replay_window`; resolves that carry an earlier startsAt than their firing (Alertmanager's
Merge keeps the earliest; `amtool ... --end` without `--start`). Every event keeps the time
ingest received it (its `received_at`); only the order the correlator folds them in changes
(JetStream redelivery, two replicas, batches). Pure: `incident.apply` on plain data."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from herald.correlator.incident import ServiceState, apply, initial_state
from herald.shared.config import parse_config
from herald.shared.events import AlertReceived, AlertState
from services.correlator.tests.alerts import T0, make_alert

SVC = "payments-api"
CONFIG = parse_config(
    """
alerts: {replay_window: 60s}
integrations:
  alertmanager: {token: t1}
services:
  payments-api: {name: Payments API}
"""
)
NOW = T0 + timedelta(days=1)


def _event(
    fp: str,
    status: AlertState,
    starts_at_s: int,
    received_s: int,
    ends_at_s: int | None = None,
    severity: str = "critical",
) -> AlertReceived:
    starts = T0 + timedelta(seconds=starts_at_s)
    ends = None if ends_at_s is None else T0 + timedelta(seconds=ends_at_s)
    base = make_alert(
        fp,
        status.value,
        starts,
        ends,
        labels={"alertname": "HighErrorRate", "service": SVC, "severity": severity},
    )
    received = T0 + timedelta(seconds=received_s)
    return base.model_copy(
        update={"received_at": received, "event_id": f"{base.event_id}:{received_s}"}
    )


@st.composite
def alert_history(draw: st.DrawFn, fp: str) -> list[AlertReceived]:
    """One alert's notifications in the order ingest received them (strictly later each)."""
    severity = draw(st.sampled_from(["critical", "warning"]))
    events: list[AlertReceived] = []
    clock = draw(st.integers(0, 30))  # when ingest receives the next notification (s)
    starts = clock
    for _ in range(draw(st.integers(1, 3))):
        starts = max(starts, clock) + draw(st.integers(0, 20))  # increasing startsAt
        clock = max(clock, starts) + 1
        events.append(_event(fp, AlertState.FIRING, starts, clock, severity=severity))
        if draw(st.booleans()):  # an HA peer's or a retry's duplicate, within the window
            clock += draw(st.integers(1, 20))
            events.append(_event(fp, AlertState.FIRING, starts, clock, severity=severity))
        if draw(st.integers(0, 3)) == 0:
            break  # still firing
        clock += draw(st.integers(1, 200))
        # the resolve; Merge may carry an earlier startsAt than the firing's
        resolve_starts = starts - draw(st.sampled_from([0, 0, 5, 30]))
        events.append(
            _event(fp, AlertState.RESOLVED, resolve_starts, clock, clock - 1, severity=severity)
        )
        clock += draw(st.integers(61, 200))  # the next instance comes after the window
    return events


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[AlertReceived], list[AlertReceived]]:
    """(the history in received order, a reordering of it with duplicates)."""
    alerts = draw(st.integers(1, 3))
    history = [e for i in range(alerts) for e in draw(alert_history(f"fp{i}"))]
    history.sort(key=lambda e: e.received_at)
    duplicated = history + draw(st.lists(st.sampled_from(history), max_size=4))
    shuffled = draw(st.permutations(duplicated))
    return history, list(shuffled)


def _fold(events: list[AlertReceived]) -> ServiceState:
    state = initial_state(SVC, NOW)
    for event in events:
        state, _ = apply(state, event, SVC, CONFIG, NOW)
    return state


def _outcome(state: ServiceState) -> tuple[dict[str, AlertState], bool, object]:
    return (
        {r.fingerprint: r.status for r in state.alerts.values()},
        state.incident is not None,
        state.component_status,
    )


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_order_ends_in_the_state_of_the_received_order(
    case: tuple[list[AlertReceived], list[AlertReceived]],
) -> None:
    in_order, reordered = case
    assert _outcome(_fold(reordered)) == _outcome(_fold(in_order))


ANCHOR = "anchor"


@st.composite
def histories_in_an_incident(
    draw: st.DrawFn,
) -> tuple[list[AlertReceived], list[AlertReceived]]:
    """An incident already open (an anchor alert fired first and still fires), then the other
    alerts' histories in received order and reordered with duplicates: what two batches in
    flight or a redelivery do to a burst (docs/reliability.md, bug 6)."""
    anchor = _event(
        ANCHOR, AlertState.FIRING, 0, 0, severity=draw(st.sampled_from(["critical", "warning"]))
    )
    history, shuffled = draw(histories())
    return [anchor, *history], [anchor, *shuffled]


def _members(state: ServiceState) -> object:
    incident = state.incident
    if incident is None:
        return None
    return (
        sorted(r.fingerprint for r in state.alerts.values() if state.member(r)),
        incident.alert_count,
        state.firing,
        incident.started_at,
        incident.impact,
        state.worst_status,
        incident.labels,
        incident.public,
    )


def _resolved(state: ServiceState) -> object:
    if state.incident is not None or not state.recent:
        return None
    page = state.recent[0]
    return (
        sorted(a.fingerprint for a in page.alerts),
        page.alert_count,
        page.started_at,
        page.resolved_at,
        page.impact,
        page.component_status,
    )


@settings(max_examples=300, deadline=None)
@given(histories_in_an_incident())
def test_any_order_ends_in_the_same_incident_members_as_the_received_order(
    case: tuple[list[AlertReceived], list[AlertReceived]],
) -> None:
    """Every alert that fired while the incident was open is one of its alerts, counted once,
    whatever order the correlator folds its firing and resolve in: a resolve folded before its
    firing (the firing, a late copy by `supersedes`, changes no state) still leaves the alert a
    member, or a resolve page says 11 of 12 (bug 6)."""
    in_order, reordered = case
    expected = _fold(in_order)
    got = _fold(reordered)
    assert _outcome(got) == _outcome(expected)
    assert _members(got) == _members(expected)
    # the anchor resolves last: the resolve page (when nothing fires any more) says the same
    last = int((max(e.received_at for e in in_order) - T0).total_seconds()) + 2
    end = _event(ANCHOR, AlertState.RESOLVED, 0, last, last - 1)
    expected, got = _fold([*in_order, end]), _fold([*reordered, end])
    assert _outcome(got) == _outcome(expected)
    assert _resolved(got) == _resolved(expected)


def test_a_firing_redelivered_after_its_resolve_stays_out_of_a_later_incident() -> None:
    """The other side of bug 6: the alert's firing was folded (it joined the first incident,
    which its resolve closed); its redelivery, folded while a later incident is open that its
    instance overlapped (by event time), is a copy and joins nothing."""
    firing = _event("fp0", AlertState.FIRING, 0, 1)
    events = [
        firing,
        _event("fp0", AlertState.RESOLVED, 0, 5, 4),
        _event("fp1", AlertState.FIRING, 2, 10),
    ]
    before = _fold(events)
    after = _fold([*events, firing])
    members = _members(before)
    assert isinstance(members, tuple)
    assert members[:2] == (["fp1"], 1)
    assert _members(after) == members
