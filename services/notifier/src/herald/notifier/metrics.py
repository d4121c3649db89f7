"""The notifier's Prometheus metrics, on a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "herald_notifier_events",
            "Incident events handled, by kind and verdict (ack, retry, give_up, ignored, invalid).",
            ["kind", "verdict"],
            registry=registry,
        )
        self.notifications = Counter(
            "herald_notifier_notifications",
            "Notification attempts per channel, by outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.gave_up = Counter(
            "herald_notifier_gave_up",
            "Incident events given up after their last delivery with channels still pending.",
            ["channel"],
            registry=registry,
        )
        self.failed = Counter(
            "herald_notifier_failed_for_good",
            "Deliveries that failed for good (permanent failure or last attempt), per channel; "
            "listed by GET /api/deliveries/failed.",
            ["channel"],
            registry=registry,
        )
        self.throttled = Counter(
            "herald_notifier_throttled",
            "Notifications delayed by their contact method's throttle (notifier.throttle), per "
            "channel.",
            ["channel"],
            registry=registry,
        )
        self.escalation_steps = Counter(
            "herald_notifier_escalation_steps",
            "Escalation steps run, by result (notified, skipped, exhausted, fallback, "
            "unreached, conflict).",
            ["result"],
            registry=registry,
        )
        self.acknowledgements = Counter(
            "herald_notifier_acknowledgements",
            "Acknowledgements taken, by how (link, api) and result.",
            ["via", "result"],
            registry=registry,
        )
        self.page_latency = Histogram(
            "herald_notifier_page_latency_seconds",
            "From ingest receiving the alert that opened an incident (IncidentOpened."
            "received_at; the escalation's start for events without it) to the first "
            "notification of its first step delivered.",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
