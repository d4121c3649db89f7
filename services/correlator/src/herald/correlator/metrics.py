"""Prometheus metrics of one correlator app (on its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class CorrelatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.alerts = Counter(
            "herald_correlator_alerts",
            "ALERTS messages consumed, by outcome (applied, unchanged, unrouted, invalid; reported: "
            "a group report).",
            ["outcome"],
            registry=registry,
        )
        self.published = Counter(
            "herald_correlator_incident_events_published",
            "Incident events published to JetStream (republished duplicates included).",
            ["kind"],
            registry=registry,
        )
        self.dropped = Counter(
            "herald_correlator_incident_events_dropped",
            "Incident events the broker rejected for good (e.g. larger than its max_payload) and "
            "that were dropped from the outbox; the service's next event carries its full state.",
            ["kind"],
            registry=registry,
        )
        self.failures = Counter(
            "herald_correlator_failures",
            "Alert events whose processing failed and that will be redelivered.",
            registry=registry,
        )
