"""Escalate incidents until someone acknowledges: the use case behind the timers, the incident
events of services with an escalation policy, and the acknowledge routes.

- An incident opened for a service with a policy (`escalation.policy_for`) starts its
  escalation: its record is stored with step 0 due at once and the timer loop is woken.
- Every due step is run by one replica (`EscalationStore.claim`): `escalation.advance` says whom
  to page, each is paged on its own lane (`Dispatcher`) with signed acknowledge links, then the
  advanced state is stored unless someone acknowledged or it resolved meanwhile.
- Acknowledged (a link, the API): the escalation stops (until the policy's ack timeout), the
  correlator is told (`IncidentAcknowledged` on RESPONSES) and so is everyone paged.
- Resolved: the escalation stops for good and everyone paged is told, once (its postmortem,
  a second `IncidentResolved`, tells nobody on-call again).
- Updated and worse (public now, higher impact or status): its holders are paged again.

Those three notices are as durable as the pages: each is stored with the change it tells of,
in the same Redis step (`EscalationStore.write(..., notice=)`), then claimed, leased and run by
one replica like a due step, and forgotten once sent; a notice held by a replica that died goes
out once its lease ends (`LEASE_SECONDS`), its sends deduplicated by the ledger.

Where Redis has replicas that may be promoted (a Sentinel, a Cluster), the writes an INCIDENTS
message is acknowledged after, and an acknowledgement's, wait for a replica
(`EscalationStore(replication=)`, docs/reliability.md bug 8): one no replica confirmed in time
raises `NotReplicated`, so the message is redelivered (the app naks it) or the acknowledgement
answered 503. It may have been applied on the master: the redelivery reads the record again, so
it never retries a stale revision (which would be refused as a conflict), and what it finds
done already it confirms (`EscalationStore.confirm`) before the message is acknowledged.

A service without a policy but with a legacy `oncall:` target is escalated through a one-step
policy notifying that target's channels (`escalation.with_oncall_policies`): its pages take the
same Redis-leased path (the JetStream message is acked once the escalation is stored; a page
held by a replica that died goes out once its 5 s lease ends). Services with neither page
nobody (`Pager` logs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from herald.notifier import escalation
from herald.notifier.ack_link import Links
from herald.notifier.delivery import Outcome
from herald.notifier.dispatch import Dispatcher, Sent
from herald.notifier.escalation_store import (
    Destination,
    EscalationStore,
    Lease,
    NoticeLease,
    PendingNotice,
    Record,
)
from herald.notifier.heartbeat import renewing
from herald.notifier.metrics import NotifierMetrics
from herald.notifier.notice import Notice, NoticeType, incident_notice
from herald.notifier.worsening import how_worse
from herald.shared.backoff import Backoff
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    Incident,
    IncidentAcknowledged,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentResolveRequested,
    IncidentStatus,
    IncidentUpdated,
    Responder,
    ResponseEvent,
)
from herald.shared.keys import UNROUTED
from herald.shared.replication import NotReplicated
from herald.shared.runtime import Clock

log = logging.getLogger("herald.notifier.escalator")

WRITE_TRIES = 8
"""Compare-and-set attempts of one change before it is reported as failing (503)."""

Publish = Callable[[ResponseEvent], Awaitable[None]]

FIRST_STEP_WAITS = 3
"""Deliveries of a resolve that wait for its incident's first step to run (then it resolves
anyway: a first step that cannot run must not keep the incident open)."""

FIRST_STEP_WATCH_SECONDS = 1.0
"""How long one delivery of a resolve watches its incident's first step (usually running right
now: the page is at the pager, its outcome being recorded) before it is put back (nak, 2 s and
more). A page answered in milliseconds is followed by its resolve in milliseconds."""

_WATCH = Backoff(0.005, 0.1)


def _first_step_pending(state: escalation.EscalationState) -> bool:
    """The escalation's first step has not run yet (nobody was paged or passed over)."""
    return (
        state.step == 0
        and state.repeat == 0
        and state.notified_step is None
        and state.acked_at is None
        and state.due_at is not None
    )


class Handling(StrEnum):
    ACK = "ack"
    RETRY = "retry"
    """Try the message again shortly (a resolve that came before its incident's opening)."""


class AckResult(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    """The incident is resolved already: nothing to acknowledge."""
    UNKNOWN = "unknown"
    """No escalation for that incident (unknown id, or its service has no policy)."""
    RESOLVE_REQUESTED = "resolve_requested"


class Busy(Exception):
    """The record kept changing under us (or Redis failed): try again (503)."""


def _ms(at: datetime | None) -> int:
    return 0 if at is None else int(at.timestamp() * 1000)


@dataclass(frozen=True)
class StepRun:
    """What one due step did (for tests and logs)."""

    incident_id: str
    sent: tuple[Sent, ...]
    committed: bool


@dataclass(frozen=True)
class NoticeRun:
    """A notice told (an acknowledgement, a resolve, a worsening), for tests and logs."""

    incident_id: str
    kind: NoticeType
    sent: tuple[Sent, ...]


def _unsettled(sent: tuple[Sent, ...]) -> bool:
    """Some send neither happened nor was recorded as failed: another replica's claim held it
    (`BUSY`), or the ledger could not be read (a `RETRYABLE` without a mark)."""
    return any(
        s.outcome is Outcome.BUSY
        or (s.outcome is Outcome.RETRYABLE and s.detail.startswith("ledger:"))
        for s in sent
    )


class Escalator:
    def __init__(
        self,
        config: HeraldConfig,
        store: EscalationStore,
        dispatcher: Dispatcher,
        metrics: NotifierMetrics,
        clock: Clock,
        *,
        links: Links | None,
        publish: Publish,
        wake: Callable[[], None] = lambda: None,
        on_step: Callable[[StepRun], None] | None = None,
        on_notice: Callable[[NoticeRun], None] | None = None,
    ) -> None:
        self.config = escalation.with_oncall_policies(config)
        self.store = store
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.clock = clock
        self.links = links
        self.publish = publish
        self.wake = wake
        self.on_step = on_step
        self.on_notice = on_notice
        self._runs: set[asyncio.Task[None]] = set()

    # -- which services escalate -----------------------------------------------------------

    def policy(self, service: str, labels: Mapping[str, str]) -> str | None:
        """The escalation policy of `service`'s incidents whose alerts all carry `labels` (a
        team label may select it: `escalation.by_label`); None: nobody is paged. A service with
        only a legacy `oncall:` target gets that target's one-step policy."""
        policy = escalation.policy_for(self.config, service, labels)
        if policy is None:
            policy = escalation.oncall_policy_for(self.config, service)
        return policy

    def services(self) -> list[str]:
        """Every hash tag that may hold escalations."""
        return [*self.config.services, UNROUTED]

    # -- incident events -------------------------------------------------------------------

    async def on_event(self, event: IncidentEvent, num_delivered: int) -> Handling | None:
        """Handle `event` when its service escalates; None: not ours (legacy path)."""
        incident = getattr(event, "incident", None)
        labels = incident.labels if isinstance(incident, Incident) else {}
        policy = self.policy(event.service, labels)
        if policy is None and isinstance(incident, Incident):
            # escalated under labels its alerts no longer all share (one without the team
            # label joined): its escalation goes on under the policy it started with
            rec = await self.store.get(event.service, incident.id)
            policy = None if rec is None else rec.state.policy
        if policy is None:
            return None
        if isinstance(event, IncidentOpened):
            if event.incident.paging:  # else a maintenance window holds its pages
                await self._opened(event, policy)
        elif isinstance(event, IncidentUpdated):
            held = await self.store.get(event.service, event.incident.id) is None
            if held and event.incident.paging:
                await self._opened(event, policy)  # its pages were held: they go now
            else:
                await self._updated(event)
        elif isinstance(event, IncidentResolved):
            return await self._resolved(event, policy, num_delivered)
        return Handling.ACK

    async def _opened(self, event: IncidentOpened | IncidentUpdated, policy: str) -> None:
        inc = event.incident
        if await self.store.get(event.service, inc.id) is not None:
            # a redelivery, or its resolve came first; maybe of a write no replica confirmed:
            # a replica must hold the record before the message is acknowledged
            await self.store.confirm(event.service)
            return
        # an incident whose pages a maintenance window held opens late: no ingest time to time
        received = event.received_at if isinstance(event, IncidentOpened) else None
        state = replace(escalation.start(policy, self.clock()), received_at=received)
        try:
            written = await self.store.write(event.service, inc.id, 0, state, inc)
        except NotReplicated:
            # most likely stored on the master, its first step due now: paged from there while
            # the message is redelivered (and, once a replica holds the record, acknowledged)
            self.wake()
            raise
        if written:
            log.info(
                "escalating %s through policy %s",
                inc.id,
                policy,
                extra={"incident_service": event.service, "incident_id": inc.id},
            )
            self.wake()

    async def _updated(self, event: IncidentUpdated) -> None:
        inc = event.incident
        now = self.clock()
        for _ in range(WRITE_TRIES):
            rec = await self.store.get(event.service, inc.id)
            if rec is None:
                return
            reason = how_worse(rec.incident, inc)
            notice = None
            if reason is not None and rec.state.resolved_at is None:
                held = escalation.holders(self.config, rec.state, now)
                dests = tuple(Destination(n.channel, n.address, n.user) for n in held)
                notice = PendingNotice(
                    event.service, inc.id, "incident.worsened", event.event_id, inc, dests, True
                )
            if await self.store.write(
                event.service, inc.id, rec.rev, rec.state, inc, notice=notice, now=now
            ):
                break
        else:
            raise Busy(f"escalation of {inc.id} kept changing")
        if notice is not None:
            log.info(
                "%s got worse (%s): paging its %d holders again",
                inc.id,
                reason,
                len(notice.dests or ()),
                extra={"incident_service": event.service, "incident_id": inc.id},
            )
            self.wake()

    async def _resolved(self, event: IncidentResolved, policy: str, num_delivered: int) -> Handling:
        inc = event.incident
        now = self.clock()
        notice = PendingNotice(event.service, inc.id, "incident.resolved", event.event_id, inc)
        for _ in range(WRITE_TRIES):
            rec = await self.store.get(event.service, inc.id)
            if rec is None:
                if num_delivered <= 1:
                    # Its opening may be in another worker's hands right now: let it start the
                    # escalation (and page) first, then resolve it.
                    return Handling.RETRY
                # Never opened here: keep a resolved record so a late opening pages nobody.
                state = escalation.resolve(escalation.start(policy, now), now)
                if await self.store.write(event.service, inc.id, 0, state, inc):
                    return Handling.ACK
                continue
            if rec.state.resolved_at is not None:
                if IncidentStatus.POSTMORTEM in (inc.status, rec.incident.status):
                    # its postmortem (a new event of an incident resolved already), or its
                    # resolve coming after the postmortem that resolved it here: everyone paged
                    # was told it is over; a summary is no news to wake anyone for (a
                    # replica must hold that resolve before the message is acknowledged)
                    await self.store.confirm(event.service)
                    return Handling.ACK
                # resolved by a resolve link (or a redelivery): tell it now (once: queued
                # already, it stays as it is; told already, the ledger skips every send)
                await self.store.queue(notice, now)
                break
            if _first_step_pending(rec.state) and num_delivered <= FIRST_STEP_WAITS:
                # Its page is due but not run yet (a backlog, another replica): let it go out
                # first, so the on-call learns the incident happened, then that it is over.
                if await self._changes(event.service, inc.id, rec.rev):
                    continue
                return Handling.RETRY
            state = escalation.resolve(rec.state, now)
            if await self.store.write(
                event.service, inc.id, rec.rev, state, inc, notice=notice, now=now
            ):
                break
        else:
            raise Busy(f"escalation of {inc.id} kept changing")
        # Stored with its notice: the message may be acked now; the resolve goes out on every
        # destination's own lane, each after that destination's page (Dispatcher), never
        # holding the stream.
        self.wake()
        return Handling.ACK

    async def _changes(self, service: str, incident_id: str, rev: int) -> bool:
        """Whether the record leaves `rev` within `FIRST_STEP_WATCH_SECONDS` (watched in Redis:
        the step may run on any replica)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + FIRST_STEP_WATCH_SECONDS
        attempt = 0
        while loop.time() < until:
            attempt += 1
            await asyncio.sleep(_WATCH.delay(attempt))
            rec = await self.store.get(service, incident_id)
            if rec is None or rec.rev != rev:
                return True
        return False

    # -- acknowledgements ------------------------------------------------------------------

    def find_service(self, incident_id: str) -> str | None:
        """The service of an incident id (`<service>-<n>`): the longest service id it starts
        with, followed by `-`."""
        best = None
        for sid in self.services():
            if incident_id.startswith(sid + "-") and (best is None or len(sid) > len(best)):
                best = sid
        return best

    async def acknowledge(self, service: str, incident_id: str, responder: Responder) -> AckResult:
        now = self.clock()
        event = IncidentAcknowledged(
            event_id=f"ack:{incident_id}:{_ms(now)}",
            occurred_at=now,
            service=service,
            incident_id=incident_id,
            responder=responder,
        )
        for _ in range(WRITE_TRIES):
            rec = await self.store.get(service, incident_id)
            if rec is None:
                return AckResult.UNKNOWN
            if rec.state.resolved_at is not None:
                return AckResult.RESOLVED
            state = escalation.acknowledge(self.config, rec.state, now)
            notice = PendingNotice(
                service, incident_id, "incident.acknowledged", event.event_id, rec.incident
            )
            try:
                written = await self.store.write(
                    service, incident_id, rec.rev, state, rec.incident, notice=notice, now=now
                )
            except NotReplicated as exc:
                # not known to be kept: "try again" (503), the correlator not told yet; the
                # retry reads the record again and acknowledges it again
                raise Busy(f"no replica confirmed the acknowledgement of {incident_id}") from exc
            if written:
                break
        else:
            raise Busy(f"escalation of {incident_id} kept changing")
        self.wake()  # its notice is due, and an ack timeout is a new due time
        self.metrics.acknowledgements.labels(responder.via, "acknowledged").inc()
        log.info(
            "%s acknowledged (%s%s)",
            incident_id,
            responder.via,
            f", {responder.user}" if responder.user else "",
            extra={"incident_service": service, "incident_id": incident_id},
        )
        await self._tell_correlator(event)
        return AckResult.ACKNOWLEDGED

    async def request_resolve(
        self, service: str, incident_id: str, responder: Responder
    ) -> AckResult:
        """A resolve link: stop the escalation now and ask the correlator to resolve it."""
        now = self.clock()
        for _ in range(WRITE_TRIES):
            rec = await self.store.get(service, incident_id)
            if rec is None:
                return AckResult.UNKNOWN
            if rec.state.resolved_at is not None:
                return AckResult.RESOLVED
            state = escalation.resolve(rec.state, now)
            # not waited for: the resolve's durable copy is the correlator's, asked below; its
            # IncidentResolved comes back on INCIDENTS and resolves the record again (waited)
            if await self.store.write(
                service, incident_id, rec.rev, state, rec.incident, confirm=False
            ):
                break
        else:
            raise Busy(f"escalation of {incident_id} kept changing")
        self.metrics.acknowledgements.labels(responder.via, "resolve_requested").inc()
        await self._tell_correlator(
            IncidentResolveRequested(
                event_id=f"resolve:{incident_id}:{_ms(now)}",
                occurred_at=now,
                service=service,
                incident_id=incident_id,
                responder=responder,
            )
        )
        return AckResult.RESOLVE_REQUESTED

    async def _tell_correlator(self, event: ResponseEvent) -> None:
        try:
            await self.publish(event)
        except Exception as exc:
            # The acknowledgement stands (the escalation stopped); only the timeline misses it.
            log.error(
                "could not publish %s for %s: %s",
                event.kind,
                event.incident_id,
                repr(exc),
                extra={"incident_service": event.service, "incident_id": event.incident_id},
            )

    # -- due steps -------------------------------------------------------------------------

    async def fire(self) -> int:
        """Claim every step and notice due now (over every service) and run each on its own
        task."""
        now = self.clock()
        claimed = 0
        for service in self.services():
            for lease in await self.store.claim(service, now):
                claimed += 1
                if isinstance(lease, NoticeLease):
                    self._background(self._tell(lease))
                else:
                    self._background(self._run(lease))
        return claimed

    async def next_due(self) -> datetime | None:
        return await self.store.next_due(self.services())

    async def _run(self, lease: Lease) -> None:
        rec = lease.record
        now = self.clock()
        decision = escalation.advance(self.config, rec.state, now)
        run_id = f"esc:{rec.incident_id}:{_ms(rec.state.started_at)}:{_ms(rec.state.due_at)}"
        for skipped in decision.skipped:
            self.metrics.escalation_steps.labels("skipped").inc()
            log.info(
                "%s: step %d reaches nobody, passed over: %s",
                rec.incident_id,
                skipped.step,
                "; ".join(skipped.reasons),
                extra={"incident_service": rec.service, "incident_id": rec.incident_id},
            )
        if decision.unreached:
            self.metrics.escalation_steps.labels("unreached").inc()
            log.error(
                "%s reached no one: %s",
                rec.incident_id,
                "; ".join(decision.unreached),
                extra={"incident_service": rec.service, "incident_id": rec.incident_id},
            )
        if decision.problem:
            log.error("%s: %s", rec.incident_id, decision.problem)
        sent: tuple[Sent, ...] = ()
        if decision.notify:
            self.metrics.escalation_steps.labels(
                "fallback" if decision.fallback else "notified"
            ).inc()
            dests = tuple(Destination(n.channel, n.address, n.user) for n in decision.notify)
            async with self._leased(lease):
                sent = await self._send(
                    rec.incident, "incident.opened", run_id, dests, now, links=True
                )
            if _unsettled(sent):
                # a send held by a claim of another replica (one that may have died) or not
                # recorded: the step runs again shortly, its sends deduplicated
                self.metrics.escalation_steps.labels("retried").inc()
                await self._again(lease)
                if self.on_step is not None:
                    self.on_step(StepRun(rec.incident_id, sent, False))
                return
            if rec.state.step == 0 and rec.state.repeat == 0 and rec.state.acked_at is None:
                first = [s for s in sent if s.outcome is Outcome.SENT]
                if first:
                    since = rec.state.received_at or rec.state.started_at
                    latency = (self.clock() - since).total_seconds()
                    self.metrics.page_latency.observe(max(latency, 0.0))
        if decision.exhausted:
            self.metrics.escalation_steps.labels("exhausted").inc()
            if not rec.state.policy.startswith(escalation.ONCALL_POLICY_PREFIX):
                log.warning("%s: escalation exhausted, nobody acknowledged", rec.incident_id)
        committed = await self._commit(rec, decision.state)
        if self.on_step is not None:
            self.on_step(StepRun(rec.incident_id, sent, committed))
        self.wake()

    def _leased(self, lease: Lease | NoticeLease) -> AbstractAsyncContextManager[None]:
        """Renew `lease` while the body (its sends) runs."""
        return renewing(lambda: self.store.renew(lease, self.clock()), self.store.lease_ms / 3000)

    async def _again(self, lease: Lease | NoticeLease) -> None:
        """Run `lease`'s step or notice again in a quarter of a lease (the claim of a replica
        that died ends about when its lease did; a live one finishes its send meanwhile)."""
        with contextlib.suppress(Exception):  # else it runs again once our lease ends
            await self.store.later(lease, self.clock(), self.store.lease_ms / 4000)
        self.wake()

    async def _tell(self, lease: NoticeLease) -> None:
        """Send a claimed notice, then forget it; left for a later claim when a send is held
        by another replica's claim or could not be recorded."""
        n = lease.notice
        async with self._leased(lease):
            dests = n.dests
            if dests is None:
                dests = tuple(await self.store.paged(n.service, n.incident_id))
            sent = await self._send(
                n.incident, n.kind, n.event_id, dests, self.clock(), links=n.links
            )
        if _unsettled(sent):
            await self._again(lease)
            return
        await self.store.done(lease)
        if self.on_notice is not None:
            self.on_notice(NoticeRun(n.incident_id, n.kind, sent))

    async def _commit(self, rec: Record, state: escalation.EscalationState) -> bool:
        # not waited for (no message is acknowledged after it): a commit lost with its master
        # leaves the step due on the promoted replica, run again, its sends deduplicated
        if await self.store.write(
            rec.service, rec.incident_id, rec.rev, state, rec.incident, confirm=False
        ):
            return True
        # Changed meanwhile: by an incident update (the escalation as it was: store ours), or by
        # an ack, a resolve or another replica's run (theirs wins).
        cur = await self.store.get(rec.service, rec.incident_id)
        if cur is not None and cur.state == rec.state:
            return await self.store.write(
                rec.service, rec.incident_id, cur.rev, state, cur.incident, confirm=False
            )
        self.metrics.escalation_steps.labels("conflict").inc()
        return False

    # -- sending ---------------------------------------------------------------------------

    def _notice(
        self, inc: Incident, kind: NoticeType, run_id: str, user: str | None, now: datetime
    ) -> Notice:
        notice = incident_notice(self.config, kind, run_id, inc)
        if self.links is None:
            return notice
        ack, resolve = self.links.for_page(inc.service, inc.id, user, now)
        return notice.model_copy(update={"ack_url": ack, "resolve_url": resolve})

    async def _send(
        self,
        inc: Incident,
        kind: NoticeType,
        run_id: str,
        dests: tuple[Destination, ...],
        now: datetime,
        *,
        links: bool,
    ) -> tuple[Sent, ...]:
        for d in dests:
            if links:  # paged: told of the ack and the resolve
                await self.store.add_paged(inc.service, inc.id, d)
        jobs = []
        for d in dests:
            if links:
                notice = self._notice(inc, kind, run_id, d.user, now)
            else:
                notice = incident_notice(self.config, kind, run_id, inc)
            jobs.append(self.dispatcher.send(notice, run_id, d))
        return tuple(await asyncio.gather(*jobs))

    # -- tasks -----------------------------------------------------------------------------

    def _background(self, job: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await job
            except Exception:
                log.exception("escalation task failed")

        task = asyncio.create_task(guarded())
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def drain(self, grace: float) -> None:
        """Let the runs in hand finish (at most `grace` seconds); an unfinished step is run
        again by another replica once its lease runs out."""
        if self._runs:
            _, pending = await asyncio.wait(set(self._runs), timeout=grace)
            for task in pending:
                task.cancel()
