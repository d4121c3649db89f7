"""The correlator's store in memory: a real implementation of `Store` (no Redis), so the use
case runs in unit tests. One event loop, no awaits inside a step: every step is atomic."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from herald.correlator.commands import Control, control_step, overlay, shown_projection
from herald.correlator.incident import (
    MAX_INCIDENT_ALERTS,
    AlertRecord,
    ServiceState,
    alert_key,
    fold,
    initial_state,
    most_relevant,
    prunable,
)
from herald.correlator.routing import Route
from herald.correlator.store import UNROUTED_LIMIT, Applied, CommandApplied, GroupMember
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    AlertReceived,
    AlertState,
    Command,
    IncidentEvent,
    ResolveAlert,
    ServiceStatus,
)


class MemoryStore:
    """Every service's whole state, outbox, routes and unrouted alerts, in dictionaries."""

    def __init__(self, config: HeraldConfig) -> None:
        self.config = config
        self.states: dict[str, ServiceState] = {}
        self.outboxes: dict[str, list[IncidentEvent]] = {}
        self.remembered: dict[str, Route] = {}
        self.unrouted_events: dict[str, AlertReceived] = {}
        self.groups: dict[str, dict[str, tuple[str, bool]]] = {}
        self.control_of: dict[str, Control] = {}
        self.status_of: dict[str, ServiceStatus] = {}
        self.beat_at: datetime | None = None

    async def routes(self, fingerprints: Sequence[str]) -> list[Route | None]:
        return [self.remembered.get(fp) for fp in fingerprints]

    async def remember_routes(self, routes: Sequence[tuple[str, Route]]) -> list[Route]:
        out = []
        for fingerprint, route in routes:
            stored = self.remembered.get(fingerprint)
            if stored is None or stored.starts_at < route.starts_at:
                self.remembered[fingerprint] = stored = route
            out.append(stored)
        return out

    async def records(self, service: str, fingerprints: Sequence[str]) -> list[AlertRecord | None]:
        alerts = self.states[service].alerts if service in self.states else {}
        return [alerts.get(alert_key(fp)) for fp in fingerprints]

    async def firing(self, service: str) -> list[AlertRecord]:
        alerts = self.states[service].alerts if service in self.states else {}
        return [r for r in alerts.values() if r.status is AlertState.FIRING]

    async def index_groups(self, members: Sequence[GroupMember]) -> None:
        for m in members:
            self.groups.setdefault(m.group, {})[m.fingerprint] = (m.service, m.ended)

    async def group_members(self, group: str) -> dict[str, tuple[str, bool]]:
        return dict(self.groups.get(group, {}))

    async def groups_members(self, groups: Sequence[str]) -> list[dict[str, tuple[str, bool]]]:
        return [dict(self.groups.get(g, {})) for g in groups]

    async def step(
        self,
        service: str,
        events: Sequence[AlertReceived],
        now: datetime,
        *,
        absent: bool = False,
        tick: bool = False,
    ) -> Applied:
        state = self.states.get(service) or initial_state(service, now)
        outbox = self.outboxes.setdefault(service, [])
        keys = {alert_key(e.fingerprint) for e in events}
        members = [r for r in state.alerts.values() if state.member(r)]
        step = fold(
            state,
            {k: state.alerts[k] for k in keys if k in state.alerts},
            members if tick else most_relevant(members, MAX_INCIDENT_ALERTS + len(events)),
            events,
            service,
            self.config,
            now,
            absent,
            tick=[r for r in members if r.status is AlertState.FIRING] if tick else None,
        )
        if not step.changed:
            return Applied([], step.applied, bool(outbox), state.due_at)
        backlog = bool(outbox)
        control = self.control_of.get(service, Control())
        head, shown = overlay(
            state.head, control, step.head, control, step.events, self.config, now
        )
        alerts = {**state.alerts, **step.records}
        alerts = {k: r for k, r in alerts.items() if k in keys or not prunable(r, head, now)}
        self.states[service] = ServiceState(**dict(head), alerts=alerts)
        self.status_of[service] = shown_projection(head, control, self.config, now)
        outbox.extend(shown)
        return Applied(shown, step.applied, backlog, head.due_at)

    async def command_step(
        self, service: str, command: Command | None, now: datetime
    ) -> CommandApplied:
        state = self.states.get(service) or initial_state(service, now)
        outbox = self.outboxes.setdefault(service, [])
        control = self.control_of.get(service, Control())
        keys = [alert_key(command.fingerprint)] if isinstance(command, ResolveAlert) else []
        members = (r for r in state.alerts.values() if state.member(r))
        result = control_step(
            state.head,
            {k: state.alerts[k] for k in keys if k in state.alerts},
            most_relevant(members, MAX_INCIDENT_ALERTS + 1),
            control,
            command,
            service,
            self.config,
            now,
        )
        if result is None:
            entry = control.entry(command.event_id) if command is not None else None
            return CommandApplied([], entry, bool(outbox))
        backlog = bool(outbox)
        self.states[service] = ServiceState(
            **dict(result.head), alerts={**state.alerts, **result.records}
        )
        self.control_of[service] = result.control
        self.status_of[service] = shown_projection(result.head, result.control, self.config, now)
        outbox.extend(result.events)
        return CommandApplied(list(result.events), result.entry, backlog)

    async def beat(self, at: datetime) -> None:
        self.beat_at = at if self.beat_at is None else max(self.beat_at, at)

    async def last_beat(self) -> datetime | None:
        return self.beat_at

    async def control(self, service: str) -> Control:
        return self.control_of.get(service, Control())

    async def step_many(
        self,
        batches: Sequence[tuple[str, Sequence[AlertReceived]]],
        now: datetime,
        *,
        absent: bool = False,
        tick: bool = False,
    ) -> list[Applied | Exception]:
        out: list[Applied | Exception] = []
        for service, events in batches:
            try:
                out.append(await self.step(service, events, now, absent=absent, tick=tick))
            except Exception as exc:
                out.append(exc)
        return out

    async def controls(self, services: Sequence[str]) -> list[Control]:
        return [self.control_of.get(s, Control()) for s in services]

    async def statuses(self, services: Sequence[str]) -> list[ServiceStatus | None]:
        return [self.status_of.get(s) for s in services]

    async def load(self, service: str, now: datetime) -> ServiceState:
        return self.states.get(service) or initial_state(service, now)

    async def pending(self, service: str) -> list[IncidentEvent]:
        return list(self.outboxes.get(service, []))

    async def published(self, service: str, events: list[IncidentEvent]) -> None:
        outbox = self.outboxes.get(service, [])
        n = 0
        while n < len(events) and outbox and outbox[0] == events[n]:
            outbox.pop(0)
            n += 1

    async def published_many(self, batches: Sequence[tuple[str, list[IncidentEvent]]]) -> None:
        for service, events in batches:
            await self.published(service, events)

    async def outbox_services(self) -> list[str]:
        return sorted(s for s, box in self.outboxes.items() if box)

    async def record_unrouted(self, event: AlertReceived) -> None:
        self.unrouted_events[event.fingerprint] = event
        if len(self.unrouted_events) > UNROUTED_LIMIT:
            keep = await self.unrouted(UNROUTED_LIMIT)
            self.unrouted_events = {e.fingerprint: e for e in keep}

    async def unrouted(self, limit: int = 100) -> list[AlertReceived]:
        events = sorted(self.unrouted_events.values(), key=lambda e: e.received_at, reverse=True)
        return events[:limit]
