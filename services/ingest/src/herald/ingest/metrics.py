"""Ingest's Prometheus metrics, on a registry of their own (one per app)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class IngestMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    requests: Counter = field(init=False)
    alerts_published: Counter = field(init=False)
    alerts_duplicate: Counter = field(init=False)
    publish_seconds: Histogram = field(init=False)
    rate_limited: Counter = field(init=False)
    alerts_clipped: Counter = field(init=False)
    pagerduty_events: Counter = field(init=False)
    _children: dict[tuple[int, str], Any] = field(init=False, default_factory=dict)
    """Labelled counters already looked up (`labels()` takes a lock and checks its arguments:
    a few microseconds per call, several calls per webhook)."""

    def __post_init__(self) -> None:
        self.requests = Counter(
            "herald_ingest_requests",
            "Webhook requests answered, by HTTP status code.",
            ["code"],
            registry=self.registry,
        )
        self.alerts_published = Counter(
            "herald_ingest_alerts_published",
            "Alerts stored by JetStream (duplicates excluded), by integration.",
            ["integration"],
            registry=self.registry,
        )
        self.alerts_duplicate = Counter(
            "herald_ingest_alerts_duplicate",
            "Alerts JetStream recognised as duplicates (same Nats-Msg-Id), by integration.",
            ["integration"],
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "herald_ingest_publish_duration_seconds",
            "Time from publishing a request's alerts to JetStream acknowledging all of them.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "herald_ingest_rate_limited",
            "Requests refused (503 with Retry-After) because their token was over its rate_limit.",
            ["integration"],
            registry=self.registry,
        )
        self.alerts_clipped = Counter(
            "herald_ingest_alerts_clipped",
            "Alerts stored with fields clipped to their bounds (annotation herald_clipped).",
            ["integration"],
            registry=self.registry,
        )
        self.pagerduty_events = Counter(
            "herald_ingest_pagerduty_events",
            "Valid PagerDuty Events API v2 events received, by event_action.",
            ["action"],
            registry=self.registry,
        )

    def _child(self, counter: Counter, label: str) -> Any:
        key = (id(counter), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(label)
        return child

    def answered(self, code: int) -> None:
        """One request answered with `code`."""
        self._child(self.requests, str(code)).inc()

    def stored(self, integration: str, stored: int, duplicates: int) -> None:
        """A request's alerts stored by JetStream, and those it already had."""
        self._child(self.alerts_published, integration).inc(stored)
        self._child(self.alerts_duplicate, integration).inc(duplicates)
