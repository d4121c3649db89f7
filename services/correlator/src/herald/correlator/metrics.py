"""Prometheus metrics of one correlator app (on its own registry)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

PHASE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


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
        self.phase_seconds = Histogram(
            "herald_correlator_batch_phase_seconds",
            "Seconds a batch of ALERTS messages spent in each phase of its handling: parse, "
            "routes (read and store the sticky routes), locks (wait for the services' locks), "
            "step (the services' atomic steps), groups (the group index), publish (incident "
            "events to JetStream, acks awaited), popped (outboxes popped), reports (group "
            "reports), acks (the ALERTS messages acked).",
            ["phase"],
            buckets=PHASE_BUCKETS,
            registry=registry,
        )
        self.batch_messages = Histogram(
            "herald_correlator_batch_messages",
            "ALERTS messages per batch handed to the correlator (what one fetch returned).",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.responses = Counter(
            "herald_correlator_responses",
            "RESPONSES messages (acknowledgements, resolve requests) consumed, by kind and "
            "outcome: applied, or ignored (its incident is not the open one of a configured "
            "service: resolved since, unknown).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "herald_correlator_failures",
            "Alert events whose processing failed and that will be redelivered.",
            registry=registry,
        )

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase `name` of a batch (herald_correlator_batch_phase_seconds)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phase_seconds.labels(name).observe(time.perf_counter() - started)
