"""Handle one incident event: resolve who to tell, deliver, decide what becomes of the message.

This is the notifier's use case; the NATS handler only decodes the message, calls `handle`
and applies the decision (ack / nak with delay / terminate).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from herald.notifier.channels import Channel
from herald.notifier.delivery import ChannelResult, Outcome, deliver, give_up
from herald.notifier.ledger import Ledger
from herald.notifier.metrics import NotifierMetrics
from herald.notifier.notice import build_notice
from herald.notifier.redelivery import Decision, RetryPolicy, Verdict, decide
from herald.notifier.target import resolve_target
from herald.shared.config import HeraldConfig
from herald.shared.events import IncidentEvent

log = logging.getLogger("herald.notifier.pager")


@dataclass(frozen=True)
class Handled:
    """What became of one delivery of one incident event."""

    event_id: str
    kind: str
    num_delivered: int
    decision: Decision
    results: tuple[ChannelResult, ...] = ()
    reason: str = ""
    """Why nothing was sent, when nothing was (ignored kind, no on-call)."""


class Pager:
    def __init__(
        self,
        config: HeraldConfig,
        channels: Mapping[str, Channel],
        ledger: Ledger,
        metrics: NotifierMetrics,
        policy: Callable[[], RetryPolicy],
    ) -> None:
        """`policy` gives the retry policy in force when a message is handled (bounded by the
        durable's own max_deliver, which JetStream may keep from an older deployment)."""
        self.config = config
        self.channels = channels
        self.ledger = ledger
        self.metrics = metrics
        self.policy = policy

    async def handle(self, event: IncidentEvent, num_delivered: int) -> Handled:
        notice = build_notice(event, self.config)
        if notice is None:
            return self._skip(event, num_delivered, "kind not notified")
        target = resolve_target(self.config, event.service)
        if target is None:
            log.info(
                "no on-call target for service %s: nobody told",
                event.service,
                extra={"event_id": event.event_id, "incident_service": event.service},
            )
            return self._skip(event, num_delivered, "no on-call target")

        results = await deliver(
            notice, target.channels, self.channels, self.ledger, first=num_delivered == 1
        )
        for r in results:
            self.metrics.notifications.labels(r.channel, r.outcome.value).inc()
            self._log_result(event, target.id, r, num_delivered)
        pending = tuple(r.channel for r in results if r.outcome.pending)
        decision = decide(pending, num_delivered, self.policy())
        self.metrics.events.labels(event.kind, decision.verdict.value).inc()
        if decision.verdict is Verdict.GIVE_UP:
            for cid in pending:
                self.metrics.gave_up.labels(cid).inc()
            await give_up(notice, pending, self.ledger)
            log.error(
                "gave up notifying %s after %d deliveries: channels %s never succeeded",
                target.id,
                num_delivered,
                ", ".join(pending),
                extra={
                    "event_id": event.event_id,
                    "incident_service": event.service,
                    "oncall": target.id,
                    "pending_channels": list(pending),
                    "num_delivered": num_delivered,
                },
            )
        return Handled(event.event_id, event.kind, num_delivered, decision, results)

    def _skip(self, event: IncidentEvent, num_delivered: int, reason: str) -> Handled:
        self.metrics.events.labels(event.kind, "ignored").inc()
        return Handled(
            event.event_id, event.kind, num_delivered, Decision(Verdict.ACK), reason=reason
        )

    def _log_result(
        self, event: IncidentEvent, target: str, r: ChannelResult, num_delivered: int
    ) -> None:
        extra = {
            "event_id": event.event_id,
            "incident_service": event.service,
            "oncall": target,
            "channel": r.channel,
            "outcome": r.outcome.value,
            "num_delivered": num_delivered,
        }
        if r.outcome is Outcome.PERMANENT:
            log.error("channel %s failed permanently: %s", r.channel, r.detail, extra=extra)
        elif r.outcome is Outcome.RETRYABLE:
            log.warning("channel %s failed, will retry: %s", r.channel, r.detail, extra=extra)
        elif r.outcome is Outcome.SENT:
            log.info("%s notified through %s", target, r.channel, extra=extra)
        elif r.outcome is Outcome.SUPERSEDED:
            log.info("page not sent on %s: %s", r.channel, r.detail, extra=extra)
        else:
            log.debug("channel %s: %s", r.channel, r.outcome.value, extra=extra)
