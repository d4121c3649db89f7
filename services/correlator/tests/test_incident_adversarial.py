"""Adversarial sequences against the pure incident state machine (invariants 2-3): alert
identity across integrations, event time whatever the arrival order, bounded events.

Each test states a sequence, the expected outcome, and what the code once did ("Was:").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from herald.correlator.incident import (
    MAX_INCIDENT_ALERTS,
    AlertRecord,
    ServiceHead,
    ServiceState,
    apply,
    fold,
    most_relevant,
)
from herald.shared.config import parse_config
from herald.shared.events import AlertReceived, ComponentStatus
from services.correlator.tests.alerts import T0, make_alert

NOW = T0 + timedelta(hours=1)
SVC = "payments-api"

# The shipped deploy/kubernetes/base/herald.yaml has a public and an internal integration;
# a second public integration stands for a second Alertmanager cluster (e.g. another region).
CONFIG = parse_config(
    """
integrations:
  alertmanager: {token: t1}
  alertmanager-internal: {token: t2, public: false}
  alertmanager-eu: {token: t3}
services:
  payments-api: {name: Payments API}
"""
)


def ev(
    fp: str,
    status: str,
    starts_at: datetime,
    *,
    ends_at: datetime | None = None,
    integration: str = "alertmanager",
) -> AlertReceived:
    return make_alert(
        fp,
        status,
        starts_at,
        ends_at,
        annotations={"summary": "Payments failing"},
        integration=integration,
    )


def run(*events: AlertReceived) -> ServiceState:
    st = ServiceState(service=SVC)
    for e in events:
        st, _ = apply(st, e, SVC, CONFIG, NOW)
    return st


def test_public_copy_of_an_alert_first_seen_internally_reaches_the_page() -> None:
    """Alertmanager sends the same alert (same labels -> same fingerprint, same startsAt) through
    the internal integration and then through the public one (a `continue: true` route, or the
    routing changed while it fired). The alert has now come through a public integration, so by
    the Incident.public contract ("False while every alert ... came through a public: false
    integration") the incident is public and the component is in major outage.

    Was: the public copy has the same (fingerprint, startsAt, status) as the stored internal
    one, so `supersedes` drops it: the page stays operational for the whole outage (and every
    repeat_interval resend is dropped the same way)."""
    state = run(
        ev("fp1", "firing", T0, integration="alertmanager-internal"),
        ev("fp1", "firing", T0, integration="alertmanager"),
    )
    assert state.incident is not None
    assert state.incident.public is True
    assert state.component_status is ComponentStatus.MAJOR_OUTAGE


def test_incident_started_at_does_not_depend_on_arrival_order() -> None:
    """Invariant 3 (event time, not arrival time). fp1 started at T0, fp2 at T0+5m. When fp2's
    firing arrives first, the incident's started_at is T0+5m; in the other order it is T0. The
    same set of events must give the same incident start: the earliest startsAt, T0."""
    a = ev("fp1", "firing", T0)
    b = ev("fp2", "firing", T0 + timedelta(minutes=5))
    in_order = run(a, b)
    reordered = run(b, a)
    assert in_order.incident is not None
    assert reordered.incident is not None
    assert in_order.incident.started_at == T0
    assert reordered.incident.started_at == in_order.incident.started_at


def test_incident_resolved_at_does_not_depend_on_arrival_order() -> None:
    """Invariant 3. fp1 fires T0..T0+5m, fp2 fires T0+1m..T0+30m. The outage ended at T0+30m,
    when the last alert resolved. If fp2's resolved is delivered before fp1's (two Alertmanager
    groups, or a retry), the incident's resolved_at is taken from the *last arriving* event,
    T0+5m: earlier than fp2's end, so the page (and uptime history) shows 25 fewer minutes of
    outage than happened."""
    state = run(
        ev("fp1", "firing", T0),
        ev("fp2", "firing", T0 + timedelta(minutes=1)),
        ev(
            "fp2",
            "resolved",
            T0 + timedelta(minutes=1),
            ends_at=T0 + timedelta(minutes=30),
        ),
        ev("fp1", "resolved", T0, ends_at=T0 + timedelta(minutes=5)),
    )
    assert state.incident is None
    resolved = state.recent[0]
    assert resolved.resolved_at == T0 + timedelta(minutes=30)


def test_incident_events_stay_publishable_in_a_large_outage() -> None:
    """Reachability of the outbox wedge shown in test_consumer_store.py: an incident keeps
    every alert that ever joined it (resolved ones included) and every IncidentUpdated carries
    all of them. A cluster-wide outage routed to one service (e.g. the shipped `deployments`
    service: one KubePodCrashLooping per pod) with ~4000 pods and ordinary ~150-character
    summaries makes an incident event larger than NATS's default max_payload (1 MiB), after
    which that service's outbox can never be flushed again."""
    max_payload = 1024 * 1024
    # Folded as the Redis store steps a backlog: batches of the service's events over the
    # records read for them (linear in the alerts; one `apply` per alert rebuilds the whole
    # in-memory state each time, minutes for 4,000 on a loaded machine).
    head: ServiceHead = ServiceState(service=SVC)
    records: dict[str, AlertRecord] = {}
    last = None
    events = []
    for i in range(4000):
        fp = f"{i:016x}"
        summary = (
            f"Pod prod/checkout-worker-7d9c8b6f5-{i:05d} (container worker) is in waiting "
            "state (reason: CrashLoopBackOff) for more than 15 minutes."
        )
        events.append(
            ev(fp, "firing", T0 + timedelta(seconds=i)).model_copy(
                update={"annotations": {"summary": summary}}
            )
        )
    for start in range(0, len(events), 250):
        batch = events[start : start + 250]
        members = (r for r in records.values() if head.member(r))
        ranked = most_relevant(members, MAX_INCIDENT_ALERTS + len(batch))
        step = fold(head, {}, ranked, batch, SVC, CONFIG, NOW)
        head = step.head
        records.update(step.records)
        last = step.events[0]
    assert head.incident is not None
    assert head.incident.alert_count == 4000
    assert last is not None
    size = len(last.model_dump_json().encode())
    assert size < max_payload, f"incident event of {size} bytes cannot be published to NATS"
