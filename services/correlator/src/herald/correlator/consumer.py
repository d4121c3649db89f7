"""The correlator's use case: a batch of alert messages becomes routing, one store step per
service, and a publish per service.

It holds no logic of its own: parsing is the contract's, routing and the state machine are
pure modules, atomicity and the outbox are the store's. A batch is parsed, routed (the sticky
routes read and written in one round trip each), grouped by service; each service's events are
folded in ONE atomic step (services in parallel, one step at a time per service in this
process), whose store only records what is to be published (the outbox, in the same atomic
step as the state); the correlator then publishes it through the publisher it is given and
tells the store what went out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import ValidationError

from herald.correlator import commands, heartbeat, responses
from herald.correlator.incident import (
    absent_event,
    group_id,
    group_of,
    relisted_event,
    stale_events,
)
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.routing import Route, RouteDecision, retirement, route, sticky_route
from herald.correlator.store import Applied, GroupMember, Store
from herald.shared.backoff import Backoff
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    ALERT_STREAM_ADAPTER,
    COMMAND_ADAPTER,
    RESPONSE_EVENT_ADAPTER,
    AlertReceived,
    AlertState,
    CancelMaintenance,
    Command,
    CompleteMaintenance,
    GroupReported,
    IncidentEvent,
    ResolveAlert,
    ScheduleMaintenance,
    VerifyMaintenance,
)
from herald.shared.runtime import Clock

log = logging.getLogger("herald.correlator")


class InvalidAlert(ValueError):
    """The message is not an AlertReceived: redelivering it cannot help."""


class InvalidCommand(InvalidAlert):
    """The message is not a Command: redelivering it cannot help."""


class InvalidResponse(InvalidAlert):
    """The message is not a ResponseEvent: redelivering it cannot help."""


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    UNROUTED = "unrouted"
    REPORTED = "reported"
    """A group report (not an alert)."""
    HEARTBEAT = "heartbeat"
    """A heartbeat alert (heartbeat.py): it only refreshed the heartbeat."""


REDELIVERY = Backoff(base=0.25, cap=15.0)
"""How soon a message whose processing failed is redelivered (by its number of deliveries)."""


def _exception(error: BaseException) -> Exception:
    """A gathered error as a per-message result (a cancellation goes on up)."""
    if not isinstance(error, Exception):
        raise error
    return error


class Publisher(Protocol):
    async def publish(self, events: Sequence[IncidentEvent]) -> None: ...


Result = Outcome | Exception
"""Per message: its outcome (ack it), InvalidAlert (drop it) or another error (redeliver it)."""


class Correlator:
    def __init__(
        self,
        store: Store,
        config: HeraldConfig,
        publisher: Publisher,
        metrics: CorrelatorMetrics,
        clock: Clock,
    ) -> None:
        self.store = store
        self.config = config
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self.started = clock()
        self.due: dict[str, datetime] = {}
        """The services this process stepped that have a due time (ServiceHead.due_at): the
        public clock (`tick_due`) steps them then. Other replicas' due times are caught by the
        minute's sweep (`expire_stale`)."""

    def _note_due(self, service: str, due: datetime | None) -> None:
        if due is None:
            self.due.pop(service, None)
        else:
            self.due[service] = due

    async def handle(self, body: bytes) -> Outcome:
        """Process one ALERTS message. Returns normally when it may be acked; raises
        InvalidAlert for a message to drop, anything else for one to redeliver."""
        (result,) = await self.handle_batch([body])
        if isinstance(result, Exception):
            raise result
        return result

    async def handle_batch(self, bodies: Sequence[bytes]) -> list[Result]:
        """Process ALERTS messages together; one result per message, in order."""
        results: list[Result | None] = [None] * len(bodies)
        parsed: list[tuple[int, AlertReceived]] = []
        reports: list[tuple[int, GroupReported]] = []
        beats: list[tuple[int, AlertReceived]] = []
        self.metrics.batch_messages.observe(len(bodies))
        with self.metrics.phase("parse"):
            for i, body in enumerate(bodies):
                try:
                    event = ALERT_STREAM_ADAPTER.validate_json(body)
                except ValidationError as exc:
                    self.metrics.alerts.labels("invalid").inc()
                    results[i] = InvalidAlert(
                        f"not an alert event: {exc.error_count()} validation errors"
                    )
                    continue
                if isinstance(event, GroupReported):
                    reports.append((i, event))
                elif heartbeat.is_heartbeat(event.labels, self.config):
                    beats.append((i, event))
                else:
                    parsed.append((i, event))
        if beats:
            try:
                await self.store.beat(max(e.received_at for _, e in beats))
                beaten: Result = Outcome.HEARTBEAT
            except Exception as exc:
                beaten = exc
            for i, _ in beats:
                results[i] = beaten
        try:
            with self.metrics.phase("routes"):
                groups = await self.decide_all(parsed)
        except Exception as exc:  # Redis down: every message is redelivered
            for i, _ in parsed:
                results[i] = exc
            return [r if r is not None else exc for r in results]

        unrouted = groups.pop(None, [])
        for i, event in unrouted:
            try:
                await self.store.record_unrouted(event)
            except Exception as exc:
                results[i] = exc
                continue
            self.metrics.alerts.labels(Outcome.UNROUTED.value).inc()
            log.warning(
                "alert matches no service",
                extra={
                    "fingerprint": event.fingerprint,
                    "alertname": event.labels.get("alertname"),
                    "integration": event.integration,
                },
            )
            results[i] = Outcome.UNROUTED

        routed = {s: members for s, members in groups.items() if s is not None}
        services = list(routed)
        by_service = await self.apply_many({s: [e for _, e in routed[s]] for s in services})
        outcomes = [by_service[s] for s in services]
        for service, outcome in zip(services, outcomes, strict=True):
            for n, (i, _) in enumerate(routed[service]):
                if i < 0:
                    continue  # a retirement: it succeeds or fails with its message
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, Exception):
                        raise outcome
                    results[i] = outcome
                elif not isinstance(results[i], Exception):
                    results[i] = results[i] or (
                        Outcome.APPLIED if outcome[n] else Outcome.UNCHANGED
                    )
        # a message whose retirement (in another service) failed is redelivered too
        for service, outcome in zip(services, outcomes, strict=True):
            if isinstance(outcome, Exception):
                for i, _ in routed[service]:
                    if i < 0:
                        results[-i - 1] = outcome
        # Reports after the batch's alerts (which they may list), one at a time, in order; the
        # members of their groups read in one round trip first (a group's second report in the
        # batch reads them again: the first one may have changed them).
        with self.metrics.phase("reports"):
            listing = list(dict.fromkeys(group_id(r.integration, r.group_key) for _, r in reports))
            try:
                found = await self.store.groups_members(listing) if listing else []
                prefetched = dict(zip(listing, found, strict=True))
            except Exception as exc:
                prefetched = {}
                for i, _ in reports:
                    results[i] = exc
                reports = []
            for i, report in reports:
                try:
                    results[i] = await self.reported(
                        report, prefetched.pop(group_id(report.integration, report.group_key), None)
                    )
                except Exception as exc:
                    results[i] = exc
        final: list[Result] = []
        for r in results:
            assert r is not None
            if isinstance(r, Outcome) and r is not Outcome.UNROUTED:
                self.metrics.alerts.labels(r.value).inc()
            final.append(r)
        return final

    async def decide_all(
        self, events: Sequence[tuple[int, AlertReceived]]
    ) -> dict[str | None, list[tuple[int, AlertReceived]]]:
        """Route the events (sticky per alert instance) and store their routes before their
        state steps, so a crash in between cannot leave a step without its route. An alert
        that moved to another service is first resolved in the one it left (its retirement,
        grouped under index -1 - i of the message i it came with). Returns the events by
        service (None: unrouted), in message order."""
        stored = await self.store.routes([e.fingerprint for _, e in events])
        remembered: dict[str, Route | None] = {}
        for (_, e), r in zip(events, stored, strict=True):
            remembered.setdefault(e.fingerprint, r)
        decisions: list[tuple[int, AlertReceived, str | None, RouteDecision]] = []
        for i, event in events:
            configured = route(event.labels, self.config)
            decision = sticky_route(remembered[event.fingerprint], event.starts_at, configured)
            if decision.remember is not None:
                remembered[event.fingerprint] = decision.remember
            decisions.append((i, event, configured, decision))
        wanted = [(e.fingerprint, d.remember) for _, e, _, d in decisions if d.remember is not None]
        in_force = iter(await self.store.remember_routes(wanted)) if wanted else iter(())
        groups: dict[str | None, list[tuple[int, AlertReceived]]] = {}
        for i, event, configured, decision in decisions:
            if decision.retire is not None:
                groups.setdefault(decision.retire.service, []).append(
                    (-1 - i, retirement(event, decision.retire))
                )
            if decision.remember is not None:
                stored_route = next(in_force)
                while stored_route != decision.remember:
                    # Another replica stored a route for this or a newer instance meanwhile:
                    # follow it.
                    decision = sticky_route(stored_route, event.starts_at, configured)
                    if decision.remember is None:
                        break
                    (stored_route,) = await self.store.remember_routes(
                        [(event.fingerprint, decision.remember)]
                    )
            groups.setdefault(decision.service, []).append((i, event))
        return groups

    async def apply_batch(
        self, service: str, events: Sequence[AlertReceived], *, absent: bool = False
    ) -> list[bool]:
        """One atomic step for the service's events, then publish what it stored. Returns, per
        event, whether it changed anything. Remembers which group listed each alert (group
        reports compare with it). `absent`: the events are resolves of alerts no longer reported
        (`absent_event`, `stale_events`)."""
        result = (await self.apply_many({service: events}, absent=absent))[service]
        if isinstance(result, Exception):
            raise result
        return result

    async def apply_many(
        self, batches: Mapping[str, Sequence[AlertReceived]], *, absent: bool = False
    ) -> dict[str, list[bool] | Exception]:
        """`apply_batch` for several services at once: their steps in one pipelined read and
        one pipelined write (`Store.step_many`), then every service's events published
        concurrently (each service's in order), and the outboxes popped in one round trip.
        Each service holds its lock throughout (taken in name order: no two callers wait for
        each other), so one process publishes a service's events in the order it stored them.
        Per service: per event whether it changed anything, or the exception that failed it
        (its events are then redelivered)."""
        services = sorted(batches)
        results: dict[str, list[bool] | Exception] = {}
        async with contextlib.AsyncExitStack() as held:
            with self.metrics.phase("locks"):
                for service in services:
                    await held.enter_async_context(self._locks.setdefault(service, asyncio.Lock()))
            with self.metrics.phase("step"):
                steps = await self.store.step_many(
                    [(s, batches[s]) for s in services], self.clock(), absent=absent
                )
            stepped: dict[str, Applied] = {}
            for service, applied in zip(services, steps, strict=True):
                if isinstance(applied, Exception):
                    results[service] = applied
                else:
                    self._note_due(service, applied.due_at)
                    stepped[service] = applied
            listed = [
                GroupMember(group, e.fingerprint, service, e.status is AlertState.RESOLVED)
                for service in stepped
                for e in batches[service]
                if (group := group_of(e))
            ]
            if listed:
                try:
                    with self.metrics.phase("groups"):
                        await self.store.index_groups(listed)
                except Exception as exc:
                    for service in stepped:
                        results[service] = exc
                    stepped = {}
            # Publish even when nothing changed: a redelivery after a crash between the store
            # step and the publish must still get the stored events out.
            with self.metrics.phase("publish"):
                outgoing = await asyncio.gather(
                    *(self._outgoing(s, applied) for s, applied in stepped.items()),
                    return_exceptions=True,
                )
                sent = await asyncio.gather(
                    *(
                        self.publisher.publish(events)
                        for events in outgoing
                        if not isinstance(events, BaseException) and events
                    ),
                    return_exceptions=True,
                )
            done: list[tuple[str, list[IncidentEvent]]] = []
            acks = iter(sent)
            for (service, applied), events in zip(stepped.items(), outgoing, strict=True):
                if isinstance(events, BaseException):
                    results[service] = _exception(events)
                    continue
                if events:
                    ack = next(acks)
                    if isinstance(ack, BaseException):
                        results[service] = _exception(ack)
                        continue
                    done.append((service, events))
                results[service] = applied.applied
            if done:
                try:
                    with self.metrics.phase("popped"):
                        await self.store.published_many(done)
                except Exception as exc:  # they stay pending: the next flush republishes them
                    log.warning("could not pop published events", extra={"error": repr(exc)})
        for service, applied in stepped.items():
            if applied.events:
                log.info(
                    "alerts applied",
                    extra={
                        "service_id": service,
                        "alerts": len(batches[service]),
                        "events": [e.kind for e in applied.events],
                    },
                )
        return results

    async def _outgoing(self, service: str, applied: Applied) -> list[IncidentEvent]:
        """What to publish after a step: its events, or the whole outbox when older events
        wait there too."""
        if applied.backlog:
            return await self.store.pending(service)
        return applied.events

    async def reported(
        self, report: GroupReported, members: Mapping[str, tuple[str, bool]] | None = None
    ) -> Outcome:
        """A whole notification. The firing alerts its group listed before and no longer lists
        have ended (silenced, inhibited or expired); ended ones it lists firing again fire again.
        An incomplete report says nothing of what it does not list. `members`: the group's
        members as just read (`Store.group_members`), when the caller read them already."""
        group = group_id(report.integration, report.group_key)
        listed, firing = set(report.fingerprints), set(report.firing)
        flips: list[GroupMember] = []
        if members is None:
            members = await self.store.group_members(group)
        for fingerprint, (service, ended) in members.items():
            if not ended and fingerprint not in listed and report.complete:
                (stored,) = await self.store.records(service, [fingerprint])
                gone = absent_event(stored, group, report.occurred_at)
                if gone is not None:
                    await self.apply_batch(service, [gone], absent=True)
                if gone is not None or stored is None or stored.status is not AlertState.FIRING:
                    flips.append(GroupMember(group, fingerprint, service, True))
            elif ended and fingerprint in firing:
                (stored,) = await self.store.records(service, [fingerprint])
                again = relisted_event(stored, report)
                if again is not None and (await self.apply_batch(service, [again]))[0]:
                    flips.append(GroupMember(group, fingerprint, service, False))
        if flips:
            await self.store.index_groups(flips)
        self.metrics.alerts.labels(Outcome.REPORTED.value).inc()
        return Outcome.REPORTED

    async def expire_stale(self) -> int:
        """End the firing alerts no notification mentioned for `alerts.stale_after`, in every
        configured service (atomic steps: replicas doing it at once change nothing twice);
        returns how many alerts ended."""
        ended = 0
        for service in self.config.services:
            if self.public_clock(service):
                # a due time another replica set (or one lost with a crashed process)
                await self.tick(service)
            stale = stale_events(
                await self.store.firing(service), self.clock(), self.config.alerts.stale_after
            )
            if stale:
                ended += sum(await self.apply_batch(service, stale, absent=True))
        return ended

    async def tick(self, service: str) -> list[IncidentEvent]:
        """Let time pass for `service` (`publish_after` reached, a recovery hold over): one atomic
        step over its firing alerts, then publish what it stored."""
        lock = self._locks.setdefault(service, asyncio.Lock())
        async with lock:
            applied = await self.store.step(service, [], self.clock(), tick=True)
            self._note_due(service, applied.due_at)
            if applied.backlog or applied.events:
                await self.flush(service)
        return applied.events

    async def tick_due(self) -> int:
        """Step every service whose due time has come (run every second by app.py); returns how
        many were stepped."""
        now = self.clock()
        due = [s for s, at in self.due.items() if at <= now]
        for service in due:
            await self.tick(service)
        return len(due)

    def public_clock(self, service: str) -> bool:
        """Whether the service's public page runs on a clock of its own (`publish_after` or
        `recovery_hold` set, or flap detection on): only then can time change it without an
        alert event."""
        return bool(
            self.config.publish_after(service)
            or self.config.recovery_hold(service)
            or self.config.alerts.flapping is not None
        )

    async def apply(self, service: str, event: AlertReceived) -> list[IncidentEvent]:
        """One event alone (see `apply_batch`)."""
        lock = self._locks.setdefault(service, asyncio.Lock())
        async with lock:
            applied = await self.store.step(service, [event], self.clock())
            if applied.backlog or applied.events:
                await self.flush(service)
        return applied.events

    async def flush(self, service: str) -> int:
        """Publish the service's pending events in order, then drop them from the outbox.
        Returns how many were published (some may be JetStream duplicates)."""
        pending = await self.store.pending(service)
        if pending:
            await self.publisher.publish(pending)
            await self.store.published(service, pending)
        return len(pending)

    async def recover(self) -> None:
        """Publish what a previous run stored but did not get acknowledged, for the configured
        services and for any other one with pending events (removed from the config since)."""
        services = dict.fromkeys(self.config.services)
        try:
            services |= dict.fromkeys(await self.store.outbox_services())
        except Exception as exc:
            log.warning("could not list outboxes", extra={"error": repr(exc)})
        for service in services:
            try:
                if n := await self.flush(service):
                    log.info(
                        "republished pending events", extra={"service_id": service, "count": n}
                    )
            except Exception as exc:  # the next alert for that service flushes again
                log.warning(
                    "could not flush outbox", extra={"service_id": service, "error": repr(exc)}
                )

    # -- commands (the admin API) -----------------------------------------------------------

    async def handle_command(self, body: bytes) -> list[commands.AuditEntry]:
        """Apply one COMMANDS message to every service it concerns, each in one atomic step
        (idempotent: a redelivery finds its id remembered), and publish what they stored.
        Raises InvalidCommand for a message to drop, anything else for one to redeliver."""
        try:
            command = COMMAND_ADAPTER.validate_json(body)
        except ValidationError as exc:
            raise InvalidCommand(f"not a command: {exc.error_count()} validation errors") from None
        entries = []
        services = await self.command_services(command)
        if not services:
            log.warning(
                "a command concerns no configured service",
                extra={"command_id": command.event_id, "kind": command.kind},
            )
        for service in services:
            entry = await self.control_step(service, command)
            if entry is not None:
                entries.append(entry)
                log.info(
                    "command %s",
                    entry.outcome,
                    extra={
                        "service_id": service,
                        "command_id": entry.command_id,
                        "kind": entry.kind,
                        "actor": entry.actor,
                        "detail": entry.detail,
                    },
                )
        return entries

    # -- responses (the notifier: acknowledgements, resolve requests) -----------------------

    async def handle_response(self, body: bytes) -> commands.AuditEntry | None:
        """Apply one RESPONSES message to its service in one atomic step, as a command
        (responses.py; idempotent the same way), and publish what it stored. A response the
        step refuses (its incident is not the open one) or about a service not configured
        changes nothing: it is logged and counted. Raises InvalidResponse for a message to
        drop, anything else for one to redeliver."""
        try:
            event = RESPONSE_EVENT_ADAPTER.validate_json(body)
        except ValidationError as exc:
            raise InvalidResponse(
                f"not a response: {exc.error_count()} validation errors"
            ) from None
        if event.service not in self.config.services:
            self.metrics.responses.labels(event.kind, "ignored").inc()
            log.warning(
                "a response concerns no configured service",
                extra={"service_id": event.service, "incident_id": event.incident_id},
            )
            return None
        entry = await self.control_step(event.service, responses.order(event, self.config))
        outcome = "applied" if entry is not None and entry.outcome == "applied" else "ignored"
        self.metrics.responses.labels(event.kind, outcome).inc()
        log.log(
            logging.INFO if outcome == "applied" else logging.WARNING,
            "response %s",
            outcome,
            extra={
                "service_id": event.service,
                "incident_id": event.incident_id,
                "kind": event.kind,
                "actor": entry.actor if entry is not None else "",
                "detail": entry.detail if entry is not None else "",
            },
        )
        return entry

    async def command_services(self, command: Command) -> list[str]:
        """The configured services a command applies to."""
        configured = self.config.services
        if isinstance(command, ScheduleMaintenance):
            return [s for s in command.services if s in configured]
        if isinstance(command, CancelMaintenance | CompleteMaintenance | VerifyMaintenance):
            return list(configured) if command.service is None else [command.service]
        if isinstance(command, ResolveAlert) and command.service is None:
            (found,) = await self.store.routes([command.fingerprint])
            return [found.service] if found is not None and found.service in configured else []
        return [command.service] if command.service in configured else []

    async def control_step(
        self, service: str, command: responses.Order | None
    ) -> commands.AuditEntry | None:
        lock = self._locks.setdefault(service, asyncio.Lock())
        async with lock:
            applied = await self.store.command_step(service, command, self.clock())
            if applied.backlog:
                await self.flush(service)
            elif applied.events:
                await self.publisher.publish(applied.events)
                await self.store.published(service, applied.events)
        return applied.entry

    async def watch_heartbeat(self) -> None:
        """The dead man's switch (heartbeat.py): open or resolve its incident when due."""
        service = self.config.heartbeat.service
        if service is None:
            return
        (status,) = await self.store.statuses([service])
        command = heartbeat.decide(
            await self.store.last_beat(),
            self.started,
            status.incident if status is not None else None,
            self.config,
            self.clock(),
        )
        if command is not None:
            await self.control_step(service, command)

    async def sweep(self) -> int:
        """Every configured service: what is due by now (a window starts or ends, an override
        expires) in one atomic step each, so replicas sweeping together change it once, and a
        restart catches up. Returns how many services changed."""
        services = list(self.config.services)
        now = self.clock()
        changed = 0
        for service, control in zip(services, await self.store.controls(services), strict=True):
            if commands.due(control, now):
                await self.control_step(service, None)
                changed += 1
        await self.watch_heartbeat()
        return changed
