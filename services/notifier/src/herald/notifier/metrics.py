"""The notifier's Prometheus metrics, on a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


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
