from datetime import UTC, datetime, timedelta
from typing import Any

from herald.correlator.incident import (
    MAX_BODY,
    MAX_INCIDENT_ALERTS,
    MAX_TITLE,
    AlertRecord,
    ServiceState,
    alert_key,
    apply,
    epoch_ms,
    expire,
    group_id,
    listed_again,
    no_longer_reported,
    projection,
)
from herald.correlator.timeline import MAX_ENTRIES
from herald.shared.config import parse_config
from herald.shared.events import (
    AlertReceived,
    AlertState,
    ComponentStatus,
    ComponentStatusChanged,
    GroupReported,
    Impact,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
)
from services.correlator.tests.alerts import T0, make_alert

NOW = T0 + timedelta(hours=1)
SVC = "payments-api"

CONFIG = parse_config(
    """
page: {history_size: 2}
alerts: {reopen_window: 0s}  # these tests open a new incident per re-fire (see test_public.py)
integrations:
  alertmanager: {token: t1}
  internal: {token: t2, public: false}
services:
  payments-api: {name: Payments API}
"""
)


def labels(alertname: str = "HighErrorRate", severity: str | None = "critical") -> dict[str, str]:
    out = {"alertname": alertname, "service": SVC}
    if severity is not None:
        out["severity"] = severity
    return out


def ev(
    fp: str = "fp1",
    status: str = "firing",
    starts_at: datetime = T0,
    *,
    ends_at: datetime | None = None,
    severity: str | None = "critical",
    alertname: str = "HighErrorRate",
    annotations: dict[str, str] | None = None,
    integration: str = "alertmanager",
) -> AlertReceived:
    return make_alert(
        fp,
        status,
        starts_at,
        ends_at,
        labels=labels(alertname, severity),
        annotations={"summary": "Payments failing", "description": "5xx above 5%"}
        if annotations is None
        else annotations,
        integration=integration,
    )


def run(
    *events: AlertReceived, state: ServiceState | None = None
) -> tuple[ServiceState, list[Any]]:
    """Apply events in order; return the final state and every emitted event."""
    st = state or ServiceState(service=SVC)
    out: list[Any] = []
    for e in events:
        st, emitted = apply(st, e, SVC, CONFIG, NOW)
        out.extend(emitted)
    return st, out


def kinds(events: list[Any]) -> list[str]:
    return [e.kind for e in events]


def test_first_firing_opens_incident_and_changes_component() -> None:
    state, events = run(ev())
    assert kinds(events) == ["incident.opened", "component.status_changed"]
    opened, changed = events
    assert isinstance(opened, IncidentOpened)
    assert opened.incident.title == "Payments failing"
    assert opened.incident.body == "5xx above 5%"
    assert opened.incident.status is IncidentStatus.INVESTIGATING
    assert opened.incident.impact is Impact.CRITICAL
    assert opened.incident.component_status is ComponentStatus.MAJOR_OUTAGE
    assert opened.incident.started_at == T0
    assert [a.fingerprint for a in opened.incident.alerts] == ["fp1"]
    assert isinstance(changed, ComponentStatusChanged)
    assert changed.status is ComponentStatus.MAJOR_OUTAGE
    assert changed.previous_status is ComponentStatus.OPERATIONAL
    # versions and deterministic ids
    first = epoch_ms(NOW)  # never below now in ms, even on a state lost and started over
    assert [e.version for e in events] == [first, first + 1]
    assert [e.event_id for e in events] == [f"{SVC}:{first}", f"{SVC}:{first + 1}"]
    assert state.version == first + 1
    assert state.incident == opened.incident
    assert state.component_status is ComponentStatus.MAJOR_OUTAGE


def test_title_falls_back_to_alertname_and_empty_body() -> None:
    _, events = run(ev(annotations={}, alertname="DiskFull"))
    assert events[0].incident.title == "DiskFull"
    assert events[0].incident.body == ""


def test_second_alert_joins_open_incident() -> None:
    state, events = run(ev("fp1", severity="warning"), ev("fp2", severity="warning"))
    assert kinds(events) == ["incident.opened", "component.status_changed", "incident.updated"]
    updated = events[2]
    assert isinstance(updated, IncidentUpdated)
    assert updated.incident.id == events[0].incident.id
    assert [a.fingerprint for a in updated.incident.alerts] == ["fp1", "fp2"]
    assert state.incident is not None
    assert len(state.incident.alerts) == 2


def test_component_status_is_worst_severity_of_firing_alerts() -> None:
    state, events = run(
        ev("fp1", severity="warning"),
        ev("fp2", severity="critical"),
        ev("fp3", severity="error"),
    )
    changes = [e for e in events if isinstance(e, ComponentStatusChanged)]
    assert [(c.previous_status, c.status) for c in changes] == [
        (ComponentStatus.OPERATIONAL, ComponentStatus.DEGRADED_PERFORMANCE),
        (ComponentStatus.DEGRADED_PERFORMANCE, ComponentStatus.MAJOR_OUTAGE),
    ]
    assert state.component_status is ComponentStatus.MAJOR_OUTAGE
    # the critical one resolves: the worst remaining is error -> partial_outage
    state, events = run(ev("fp2", "resolved"), state=state)
    assert kinds(events) == ["incident.updated", "component.status_changed"]
    assert events[1].status is ComponentStatus.PARTIAL_OUTAGE
    assert state.incident is not None
    assert state.incident.impact is Impact.CRITICAL  # impact keeps the worst seen


def test_incident_resolves_when_all_its_alerts_resolve() -> None:
    state, _ = run(ev("fp1"), ev("fp2"))
    state, events = run(ev("fp1", "resolved"), state=state)
    assert kinds(events) == ["incident.updated"]
    end = T0 + timedelta(minutes=30)
    state, events = run(ev("fp2", "resolved", ends_at=end), state=state)
    assert kinds(events) == ["incident.resolved", "component.status_changed"]
    resolved = events[0]
    assert isinstance(resolved, IncidentResolved)
    assert resolved.incident.status is IncidentStatus.RESOLVED
    assert resolved.incident.resolved_at == end
    assert all(a.status is AlertState.RESOLVED for a in resolved.incident.alerts)
    assert events[1].status is ComponentStatus.OPERATIONAL
    assert state.incident is None
    assert state.recent == (resolved.incident,)
    assert state.component_status is ComponentStatus.OPERATIONAL


def test_same_event_twice_is_a_no_op() -> None:
    for event in (ev(), ev("fp1", "resolved")):
        state, _ = run(ev(), event)
        again, events = apply(state, event, SVC, CONFIG, NOW)
        assert events == []
        assert again == state


def test_resolved_before_firing_leaves_nothing_open() -> None:
    state, events = run(ev("fp1", "resolved"))
    assert events == []
    assert state.incident is None
    assert state.alerts[alert_key("fp1")].status is AlertState.RESOLVED
    # the firing of that same startsAt arrives late: ignored
    state, events = run(ev("fp1", "firing"), state=state)
    assert events == []
    assert state.incident is None
    assert state.component_status is ComponentStatus.OPERATIONAL


def test_stale_firing_after_resolved_is_ignored() -> None:
    state, _ = run(ev(), ev("fp1", "resolved"))
    assert state.incident is None
    again, events = run(ev(), state=state)
    assert events == []
    assert again == state


def test_older_firing_is_ignored() -> None:
    state, _ = run(ev(starts_at=T0))
    again, events = run(ev(starts_at=T0 - timedelta(hours=1)), state=state)
    assert events == []
    assert again == state


def test_refire_with_newer_starts_at_reopens() -> None:
    state, _ = run(ev(), ev("fp1", "resolved"))
    first = state.recent[0]
    later = T0 + timedelta(hours=2)
    state, events = run(ev(starts_at=later), state=state)
    assert kinds(events) == ["incident.opened", "component.status_changed"]
    assert events[0].incident.id != first.id
    assert events[0].incident.started_at == later
    assert state.incident is not None


def test_refire_joins_open_incident() -> None:
    state, _ = run(ev("fp1"), ev("fp2"), ev("fp1", "resolved"))
    state, events = run(ev("fp1", starts_at=T0 + timedelta(hours=1)), state=state)
    assert kinds(events) == ["incident.updated"]
    assert state.incident is not None
    assert all(a.status is AlertState.FIRING for a in state.incident.alerts)


def test_non_public_alerts_open_incident_without_touching_component() -> None:
    state, events = run(ev(integration="internal"))
    assert kinds(events) == ["incident.opened"]
    assert events[0].incident.impact is Impact.NONE
    assert state.component_status is ComponentStatus.OPERATIONAL
    assert events[0].incident.public is False
    state, events = run(
        ev("fp2", severity="warning", annotations={"summary": "Checkout is slow"}), state=state
    )
    assert kinds(events) == ["incident.updated", "component.status_changed"]
    assert state.component_status is ComponentStatus.DEGRADED_PERFORMANCE
    assert state.incident is not None
    assert state.incident.public is True
    assert state.incident.title == "Checkout is slow"  # never the internal alert's words


def test_history_is_bounded_newest_first() -> None:
    state = ServiceState(service=SVC)
    for hour in range(3):
        start = T0 + timedelta(hours=hour)
        state, _ = run(ev(starts_at=start), ev("fp1", "resolved", starts_at=start), state=state)
    assert [i.started_at for i in state.recent] == [
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=1),
    ]


def test_old_resolved_records_are_pruned() -> None:
    state, _ = run(ev("old"), ev("old", "resolved"))
    later = NOW + timedelta(days=8)
    state, _ = apply(state, ev("new", starts_at=later), SVC, CONFIG, later)
    assert set(state.alerts) == {alert_key("new")}


def test_versions_increase_across_events() -> None:
    _, events = run(
        ev("fp1"), ev("fp2", severity="warning"), ev("fp1", "resolved"), ev("fp2", "resolved")
    )
    first = events[0].version
    assert [e.version for e in events] == list(range(first, first + len(events)))
    assert len({e.event_id for e in events}) == len(events)


def test_state_round_trips_through_json() -> None:
    state, _ = run(ev("fp1"), ev("fp2"), ev("fp1", "resolved"))
    assert ServiceState.model_validate_json(state.model_dump_json()) == state


def test_projection() -> None:
    state, _ = run(ev("fp1"), ev("fp1", "resolved"), ev("fp1", starts_at=T0 + timedelta(hours=1)))
    status = projection(state)
    assert status.service == SVC
    assert status.version == state.version
    assert status.component_status is ComponentStatus.MAJOR_OUTAGE
    assert status.incident == state.incident
    assert len(status.recent) == 1
    assert isinstance(
        AlertRecord.model_validate(state.alerts[alert_key("fp1")].model_dump()),
        AlertRecord,
    )


def test_a_service_seen_for_the_first_time_starts_its_versions_at_now() -> None:
    """So versions keep growing when Redis loses the state (no event id is reused)."""
    from herald.correlator.incident import initial_state

    earlier = initial_state("payments-api", datetime(2026, 5, 28, 14, 0, tzinfo=UTC))
    later = initial_state("payments-api", datetime(2026, 5, 28, 14, 1, tzinfo=UTC))
    assert later.version - earlier.version == 60_000


def test_a_resolved_incident_keeps_the_worst_component_status_it_had() -> None:
    """The status page's incident updates show old/new component status from it."""
    state, _ = run(ev("fp1", severity="warning"), ev("fp2", severity="critical"))
    state, _ = run(ev("fp2", "resolved"), state=state)
    assert state.incident is not None
    assert state.incident.component_status is ComponentStatus.DEGRADED_PERFORMANCE  # current
    state, events = run(ev("fp1", "resolved"), state=state)
    resolved = events[0]
    assert isinstance(resolved, IncidentResolved)
    assert resolved.incident.component_status is ComponentStatus.MAJOR_OUTAGE
    assert state.component_status is ComponentStatus.OPERATIONAL
    # the next incident starts from its own status
    state, events = run(ev("fp3", severity="warning"), ev("fp3", "resolved"), state=state)
    assert state.recent[0].component_status is ComponentStatus.DEGRADED_PERFORMANCE


def test_untrusted_texts_are_clipped() -> None:
    huge = "x" * 100_000
    _, events = run(ev(annotations={"summary": huge, "description": huge}, alertname=huge))
    incident = events[0].incident
    assert len(incident.title) == MAX_TITLE
    assert incident.title.endswith("…")
    assert len(incident.body) == MAX_BODY
    assert len(incident.alerts[0].summary) == MAX_TITLE
    assert len(incident.alerts[0].alertname) == MAX_TITLE
    _, events = run(ev(annotations={}, alertname=huge))
    assert len(events[0].incident.title) == MAX_TITLE


def test_an_incident_carries_its_most_relevant_alerts_and_counts_them_all() -> None:
    n = MAX_INCIDENT_ALERTS + 10
    fire = [ev(f"fp{i:03d}", starts_at=T0 + timedelta(minutes=i)) for i in range(n)]
    state, _ = run(*fire)
    assert state.incident is not None
    assert state.incident.alert_count == n
    # the most recent firing ones, in the order they joined
    assert [a.fingerprint for a in state.incident.alerts] == [f"fp{i:03d}" for i in range(10, n)]
    # resolving a shown alert brings back a firing one; resolved ones come after all firing
    state, events = run(ev("fp059", "resolved", starts_at=T0 + timedelta(minutes=59)), state=state)
    assert state.incident is not None
    shown = {a.fingerprint for a in state.incident.alerts}
    assert "fp009" in shown
    assert "fp059" not in shown
    assert events[0].incident.alert_count == n


def test_the_same_alert_through_two_integrations_is_one_alert() -> None:
    """Identity is Alertmanager's fingerprint: an internal and a public receiver of one
    Alertmanager (or two tokens during a rotation) send one alert. It is public while it
    reaches Herald through a public integration, and one resolve ends it."""
    state, _ = run(ev("fp1", integration="internal"))
    assert state.component_status is ComponentStatus.OPERATIONAL  # internal only: not public
    state, _ = run(ev("fp1"), state=state)
    assert state.incident is not None
    assert [a.fingerprint for a in state.incident.alerts] == ["fp1"]
    assert state.incident.alert_count == 1
    assert state.alerts["fp1"].integrations == ("internal", "alertmanager")
    assert state.incident.public is True
    assert state.component_status is ComponentStatus.MAJOR_OUTAGE
    state, _ = run(ev("fp1", "resolved"), state=state)
    assert state.incident is None
    assert state.component_status is ComponentStatus.OPERATIONAL


def test_a_resolve_with_an_earlier_starts_at_ends_the_firing() -> None:
    """`amtool alert add` then `amtool alert add ... --end` without `--start`: Alertmanager's Merge
    keeps the earliest startsAt, and an end at or before the firing's start arrives with
    startsAt = endsAt, earlier than the firing Herald stored."""
    fired = T0 + timedelta(milliseconds=400)
    state, _ = run(ev("fp1", starts_at=fired))
    early = T0  # `date +%TZ` drops the milliseconds
    end = ev("fp1", "resolved", starts_at=early, ends_at=early)
    arrived = end.model_copy(update={"received_at": fired + timedelta(seconds=10)})
    state, events = run(arrived, state=state)
    assert state.incident is None
    assert kinds(events) == ["incident.resolved", "component.status_changed"]


def test_a_late_copy_of_an_older_instances_resolve_changes_nothing() -> None:
    """The resolve of an instance that ended before the stored firing started, and that reached
    ingest before that firing did (a redelivery), is stale."""
    refire = T0 + timedelta(hours=1)
    state, _ = run(ev("fp1", starts_at=refire))
    old = make_alert(
        "fp1",
        "resolved",
        T0,
        ends_at=T0 + timedelta(minutes=5),
        labels={"alertname": "HighErrorRate", "service": SVC, "severity": "critical"},
    )
    after, events = run(old, state=state)
    assert events == []
    assert after.incident is not None


def test_a_refire_with_the_same_starts_at_fires_again_after_the_replay_window() -> None:
    """Alertmanager timed the alert out (Prometheus stopped sending) and sent a resolve; when
    Prometheus resumes, the firing comes back with the same startsAt."""
    state, _ = run(ev("fp1"), ev("fp1", "resolved", ends_at=T0 + timedelta(minutes=5)))
    assert state.incident is None
    resolved_at = state.alerts["fp1"].resolved_received_at
    assert resolved_at is not None
    window = CONFIG.alerts.replay_window

    def firing(after: timedelta) -> AlertReceived:
        return ev("fp1").model_copy(update={"received_at": resolved_at + after})

    # an HA peer's late copy of the old firing, within the window: ignored
    same, events = run(firing(window / 2), state=state)
    assert events == []
    assert same.incident is None
    # the genuine re-fire, past the window: fires again
    again, events = run(firing(window + timedelta(seconds=1)), state=state)
    assert again.incident is not None
    assert kinds(events)[0] == "incident.opened"


def test_versions_never_go_backwards_after_redis_lost_recent_writes() -> None:
    """A state restored from an old backup: its version is far behind events already
    published; the next version continues from now in milliseconds."""
    stale = ServiceState(service=SVC, version=5)
    _, events = run(ev("fp1"), state=stale)
    assert events[0].version == epoch_ms(NOW)


GROUP_KEY = '{}:{alertname="HighErrorRate"}'


def grouped(fp: str, status: str = "firing", *, at: timedelta = timedelta(0)) -> AlertReceived:
    """An alert of the notification of one group, received `at` after T0 + 1 s."""
    e = ev(fp, status)
    return e.model_copy(update={"group_key": GROUP_KEY, "received_at": e.received_at + at})


def report(*fps: str, firing: tuple[str, ...] = (), at: timedelta) -> GroupReported:
    return GroupReported(
        event_id=f"report-{at}",
        occurred_at=T0 + timedelta(seconds=1) + at,
        integration="alertmanager",
        group_key=GROUP_KEY,
        fingerprints=fps,
        firing=firing,
    )


GID = group_id("alertmanager", GROUP_KEY)


def test_an_alert_its_group_no_longer_lists_has_ended() -> None:
    """Silenced or inhibited: Alertmanager never sends its resolve, but the group's next complete
    notification does not list it."""
    state, _ = run(grouped("fp1"), grouped("fp2"))
    later = report("fp2", firing=("fp2",), at=timedelta(minutes=1))
    state, events = no_longer_reported(state, "fp1", GID, later.occurred_at, SVC, CONFIG, NOW)
    assert state.alerts["fp1"].status is AlertState.RESOLVED
    assert state.alerts["fp1"].absent_since == later.occurred_at
    assert state.incident is not None  # fp2 still fires
    (updated,) = events
    assert "no longer reported by Alertmanager" in updated.incident.timeline[-1].body
    # the same again (a redelivered report) changes nothing
    again, events = no_longer_reported(state, "fp1", GID, later.occurred_at, SVC, CONFIG, NOW)
    assert (again, events) == (state, [])


def test_a_report_older_than_the_last_listing_or_of_another_group_ends_nothing() -> None:
    state, _ = run(grouped("fp1", at=timedelta(minutes=2)))
    older = T0 + timedelta(minutes=1)
    assert no_longer_reported(state, "fp1", GID, older, SVC, CONFIG, NOW) == (state, [])
    other = group_id("alertmanager", "another group")
    later = T0 + timedelta(minutes=5)
    assert no_longer_reported(state, "fp1", other, later, SVC, CONFIG, NOW) == (state, [])


def test_an_ended_alert_listed_firing_again_fires_again_whatever_its_starts_at() -> None:
    """The silence expired: Alertmanager lists the alert again with its old startsAt (its alert
    event is a JetStream duplicate of the first one)."""
    state, _ = run(grouped("fp1"))
    gone = report(at=timedelta(minutes=1))
    state, _ = no_longer_reported(state, "fp1", GID, gone.occurred_at, SVC, CONFIG, NOW)
    assert state.incident is None
    back = report("fp1", firing=("fp1",), at=timedelta(minutes=2))
    state, events = listed_again(state, "fp1", back, SVC, CONFIG, NOW)
    assert state.alerts["fp1"].status is AlertState.FIRING
    assert state.alerts["fp1"].starts_at == T0
    assert state.alerts["fp1"].group == GID  # its next absence is judged against the group
    assert kinds(events)[0] == "incident.opened"


def test_a_resolved_alert_listed_again_within_the_replay_window_stays_resolved() -> None:
    state, _ = run(grouped("fp1"), grouped("fp1", "resolved"))  # received at T0 + 5 min 1 s
    resolved_at = state.alerts["fp1"].resolved_received_at
    assert resolved_at is not None
    late_copy = report("fp1", firing=("fp1",), at=timedelta(minutes=5, seconds=10))
    after, events = listed_again(state, "fp1", late_copy, SVC, CONFIG, NOW)
    assert events == []
    assert after.alerts["fp1"].status is AlertState.RESOLVED
    refired = report("fp1", firing=("fp1",), at=timedelta(minutes=7))
    state, _ = listed_again(state, "fp1", refired, SVC, CONFIG, NOW)
    assert state.alerts["fp1"].status is AlertState.FIRING


def test_the_incident_tells_its_story() -> None:
    _, events = run(
        ev("fp1"),
        ev("fp2"),
        ev("fp1", "resolved", ends_at=T0 + timedelta(minutes=3)),
        ev("fp2", "resolved", ends_at=T0 + timedelta(minutes=4)),
    )
    (closed,) = (e for e in events if e.kind == "incident.resolved")
    bodies = [entry.body for entry in closed.incident.timeline]
    assert bodies == [
        "HighErrorRate is firing.",
        "HighErrorRate is firing: 2 of 2 alerts firing.",
        "HighErrorRate is resolved: 1 of 2 alerts resolved.",
        "HighErrorRate is resolved. All 2 alerts are resolved.",
    ]
    assert [entry.status for entry in closed.incident.timeline][-1] is IncidentStatus.RESOLVED
    first, last = closed.incident.timeline[0], closed.incident.timeline[-1]
    assert (first.previous_status, first.component_status) == (
        ComponentStatus.OPERATIONAL,
        ComponentStatus.MAJOR_OUTAGE,
    )
    assert last.component_status is ComponentStatus.OPERATIONAL


def test_a_timeline_keeps_its_first_entry_and_the_latest_ones() -> None:
    fire = [ev(f"fp{i:03d}", starts_at=T0 + timedelta(seconds=i)) for i in range(60)]
    state, _ = run(*fire)
    assert state.incident is not None
    timeline = state.incident.timeline
    assert len(timeline) == MAX_ENTRIES
    assert timeline[0].body == "HighErrorRate is firing."
    assert timeline[-1].body == "HighErrorRate is firing: 60 of 60 alerts firing."


def test_a_firing_alert_no_notification_mentions_for_stale_after_expires() -> None:
    state, _ = run(ev("fp1"), ev("fp2"))
    last_seen = state.alerts["fp1"].seen_at
    assert last_seen is not None
    stale = CONFIG.alerts.stale_after
    assert expire(state, SVC, CONFIG, last_seen + stale) == (state, [])
    refreshed, _ = run(ev("fp2").model_copy(update={"received_at": last_seen + stale}), state=state)
    later = last_seen + stale + timedelta(seconds=1)
    after, events = expire(refreshed, SVC, CONFIG, later)
    assert after.alerts["fp1"].status is AlertState.RESOLVED
    assert after.alerts["fp1"].absent_since == later
    assert after.alerts["fp2"].status is AlertState.FIRING  # mentioned since: not stale
    assert "expired" in events[0].incident.timeline[-1].body


def test_a_records_summary_is_made_once_and_a_changed_record_gets_its_own() -> None:
    from herald.correlator.incident import _summary, summary

    record = AlertRecord(
        fingerprint="fp1", status=AlertState.FIRING, starts_at=T0, alertname="A", summary="s"
    )
    first = summary(record)
    assert first == _summary(record)
    assert summary(record) is first  # kept: the step after reuses it
    resolved = record.model_copy(update={"status": AlertState.RESOLVED, "ends_at": NOW})
    assert summary(resolved).status is AlertState.RESOLVED  # a copy is another record
    assert summary(resolved).ends_at == NOW
    assert summary(record) is first
