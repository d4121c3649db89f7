"""The board: what one status-page process knows (the projection, the SSE fan-out and the
metrics), a fold over the subscription's items (subscription.py): a `Reset` (start over from
the Redis snapshots) or a `Received` INCIDENTS message. No NATS or Redis client here: the app
runs `async for item in subscription: board.apply(item)`."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jinja2
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import ValidationError

from herald.shared.config import HeraldConfig
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    IncidentOpened,
    IncidentResolved,
    IncidentUpdated,
    ServiceStatus,
)
from herald.shared.runtime import Clock, utc_now
from herald.statuspage import history, maintenance
from herald.statuspage.history import StatusChange
from herald.statuspage.options import POLL_SECONDS
from herald.statuspage.page import environment
from herald.statuspage.projection import Projection
from herald.statuspage.sse import (
    KEEPALIVE_SECONDS,
    SNAPSHOT,
    Fanout,
    SseEvent,
)
from herald.statuspage.status import PageView

log = logging.getLogger("herald.statuspage")


@dataclass(frozen=True)
class Reset:
    """Start over: forget the sequences and the replay buffer, take these snapshots."""

    epoch: int
    """The stream's incarnation (its creation time in ms): the first part of every SSE id."""
    floor: int
    """Messages up to this sequence are known through the snapshots; later ones follow."""
    snapshots: Mapping[str, bytes | str | None] = field(default_factory=dict)
    """Each configured service's stored ServiceStatus document (None when there is none)."""
    changes: Mapping[str, Sequence[StatusChange]] = field(default_factory=dict)
    """Each configured service's stored component status changes (archive.py), oldest first."""


@dataclass(frozen=True)
class Received:
    """One INCIDENTS message."""

    data: bytes
    seq: int
    """Its INCIDENTS stream sequence."""


Item = Reset | Received
"""What the subscription (subscription.py) yields and the board folds."""


REPLAY_BUFFER = 1000
"""SSE events kept for browsers resuming with Last-Event-ID."""


class Metrics:
    """The service's metrics, on its own registry (several apps may live in one process)."""

    def __init__(self, registry: CollectorRegistry, fanout: Fanout) -> None:
        self.registry = registry
        self.clients = Gauge(
            "herald_statuspage_sse_clients", "Browsers connected to /events.", registry=registry
        )
        self.clients.set_function(lambda: len(fanout.clients))
        self.events = Counter(
            "herald_statuspage_incident_events",
            "Incident events read from the INCIDENTS stream, by result.",
            ["result"],
            registry=registry,
        )
        self.pushed = Counter(
            "herald_statuspage_sse_events_pushed",
            "Server-Sent Events written to browsers.",
            registry=registry,
        )
        self.dropped = Counter(
            "herald_statuspage_sse_clients_dropped",
            "Browsers dropped because they could not keep up (they reconnect and resume).",
            registry=registry,
        )
        self.last_sequence = Gauge(
            "herald_statuspage_last_event_sequence",
            "INCIDENTS stream sequence of the last event applied.",
            registry=registry,
        )


@dataclass
class Board:
    """The page's live state: the projection, the SSE fan-out and what is needed to render."""

    config: HeraldConfig
    since: datetime
    keepalive: float = KEEPALIVE_SECONDS
    clock: Clock = utc_now
    """The page's clock: what "today" is for the uptime bars pushed to browsers."""
    poll_seconds: int = POLL_SECONDS
    """How often a page refused the live stream polls `/api/page.json` (written in every page)."""
    projection: Projection = field(init=False)
    fanout: Fanout = field(init=False)
    metrics: Metrics = field(init=False)
    templates: jinja2.Environment = field(init=False)
    snapshot_loaded: bool = False
    """A first Reset was folded in (readiness)."""
    highest_seq: int = 0
    """The highest INCIDENTS sequence received; anything at or below it is a redelivery."""
    created: Mapping[str, datetime] = field(default_factory=dict)
    """When each component first appeared on the page (persisted: firstseen.py); a component
    missing here was created at `since`."""
    changes: dict[str, list[StatusChange]] = field(default_factory=dict)
    """Each service's component status changes (the history's, then every event's), oldest
    first, kept for `page.history_days` and at most `page.history_changes`: the uptime bars."""

    _view: PageView | None = field(default=None, init=False, repr=False)
    """The last view built; reused while what it holds is the board's (`view`)."""
    _windows: tuple[int, tuple[maintenance.Window, ...]] | None = field(
        default=None, init=False, repr=False
    )
    """The maintenance windows at a `Projection.maintenance_version`."""

    def __post_init__(self) -> None:
        self.projection = Projection(self.config.page.history_size, self.config.services)
        self.fanout = Fanout(buffer_size=REPLAY_BUFFER, on_drop=lambda: self.metrics.dropped.inc())
        self.metrics = Metrics(CollectorRegistry(auto_describe=True), self.fanout)
        self.templates = environment(self.poll_seconds)

    def apply(self, item: Item) -> SseEvent | None:
        """Fold one item of the subscription in; the SSE event pushed, if any."""
        if isinstance(item, Reset):
            self.reset(item)
            return None
        return self.receive(item.data, item.seq)

    def reset(self, reset: Reset) -> None:
        """Start over (at start, or the INCIDENTS stream was re-created and its sequences start
        over): forget our sequences and the replay buffer (a browser resuming with an id of the
        old stream gets a snapshot), take the snapshots that are newer than what we hold, and
        send every open browser the page again."""
        self.highest_seq = reset.floor
        self.fanout.buffer.clear()
        self.fanout.set_epoch(reset.epoch)
        self.fanout.buffer.start_at(reset.floor)
        self.metrics.last_sequence.set(reset.floor)
        for service, changes in reset.changes.items():
            self.changes[service] = sorted({c.version: c for c in changes}.values())
        self.load(reset.snapshots)

    def view(self) -> PageView:
        """The page now. The view reads the live projection and changes; it is built again only
        when something it holds by value is no longer the board's (the maintenance windows
        changed, or `created`, `changes` or the projection was replaced), so what it derives
        from the configuration alone (positions, groups) is derived once, not once per event."""
        version = self.projection.maintenance_version
        if self._windows is None or self._windows[0] != version:
            self._windows = (version, maintenance.windows(self.projection))
        windows = self._windows[1]
        view = self._view
        if (
            view is None
            or view.config is not self.config
            or view.services is not self.projection
            or view.since != self.since
            or view.created is not self.created
            or view.maintenances is not windows
            or view.changes is not self.changes
        ):
            view = self._view = PageView(
                self.config, self.projection, self.since, self.created, windows, self.changes
            )
        return view

    def snapshot_event(self, seq: int) -> SseEvent:
        return SseEvent(seq, SNAPSHOT, _dumps(self.view().snapshot_json(self.clock())))

    def snapshot(self) -> str:
        """The page as a browser connecting now gets it (the `snapshot` event's data): built
        at most once per change, shared by the live stream and `/api/page.json`."""
        return self.fanout.snapshot(self.snapshot_event).data

    def receive(self, data: bytes, seq: int) -> SseEvent | None:
        """One INCIDENTS message: fold it in, then push the service's new state to browsers.

        A stale event (already known through a snapshot) is still pushed, carrying the current
        state, so a browser resuming from another replica never misses the change it stood for.
        A redelivery (the ordered consumer restarting after a NATS outage) is skipped.
        """
        if seq <= self.highest_seq:
            self.metrics.events.labels("redelivered").inc()
            return None
        self.highest_seq = seq
        try:
            event = INCIDENT_EVENT_ADAPTER.validate_json(data)
        except ValidationError as exc:
            self.metrics.events.labels("invalid").inc()
            log.warning("ignoring an invalid incident event", extra={"seq": seq, "error": str(exc)})
            return None
        applied = self.projection.apply(event)
        self.metrics.last_sequence.set(seq)
        if event.service not in self.config.services:
            self.metrics.events.labels("unknown_service").inc()
            return None
        self.remember(event.service, history.status_change(event))
        if isinstance(event, IncidentOpened | IncidentUpdated | IncidentResolved) and (
            not event.incident.public
        ):
            self.metrics.events.labels("internal").inc()
            return None  # an internal incident: the public page neither shows it nor changes
        self.metrics.events.labels("applied" if applied else "stale").inc()
        payload = self.view().change_json(
            event.kind, event.service, self.clock(), event.occurred_at
        )
        sse = SseEvent(seq, event.kind, _dumps(payload))
        self.fanout.publish(sse)
        return sse

    def remember(self, service: str, change: StatusChange | None) -> None:
        """Keep a status change for the bars (the same version twice is one), bounded."""
        if change is None or service not in self.config.services:
            return
        changes = self.changes.setdefault(service, [])
        if history.add_change(changes, change):
            page = self.config.page
            history.trim_changes(
                changes, history.cutoff(change.at, page.history_days), page.history_changes
            )

    def load(self, snapshots: Mapping[str, bytes | str | None]) -> None:
        """Stored ServiceStatus documents (by service); newer ones replace what we hold."""
        for service, raw in snapshots.items():
            if raw is None:
                continue
            try:
                status = ServiceStatus.model_validate_json(raw)
            except ValidationError as exc:
                log.warning(
                    "ignoring an invalid status snapshot",
                    extra={"service_id": service, "error": str(exc)},
                )
                continue
            self.projection.load(status)
            self.remember(service, history.snapshot_change(status))
        self.snapshot_loaded = True
        # Open browsers get the page again (after a re-created stream), and it is the one new
        # ones get.
        self.fanout.resync(self.snapshot_event(self.fanout.buffer.last_id))


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
