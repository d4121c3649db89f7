"""ingest's inbound HTTP endpoints: translation only.

- `POST /hooks/inbound/{token}`: Alertmanager's webhook, and Grafana's (recognised by content);
- `POST /v2/enqueue`: PagerDuty Events API v2, the `routing_key` being an integration's token.

Each answers 2xx only after JetStream stored every alert of the request. Alertmanager retries
5xx and drops a notification on any 4xx (429 included), so anything transient (NATS down, a
rate limit) is a 503 with Retry-After; bad input is a 4xx and stores nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.ingest.alertmanager import WebhookMessage
from herald.ingest.auth import Authentication, Authenticator
from herald.ingest.batch import Publisher, publish_in_batches
from herald.ingest.body import (
    BadRequest,
    BodyTooLarge,
    alertmanager_message,
    parse_json_object,
    read_body,
)
from herald.ingest.grafana import GrafanaMessage, grafana_events, is_grafana
from herald.ingest.limits import CLIPPED_ANNOTATION, DEFAULT_LIMITS, FieldLimits
from herald.ingest.metrics import IngestMetrics
from herald.ingest.normalize import alert_events, group_report
from herald.ingest.options import IngestOptions
from herald.ingest.pagerduty import Action, InvalidEvent, pagerduty_alert, parse_event
from herald.ingest.publisher import PublishOutcome, PublishUnavailable
from herald.ingest.ratelimit import Decision, Rate, RateLimiter
from herald.shared.events import AlertReceived, GroupReported

log = logging.getLogger("herald.ingest")

Clock = Callable[[], datetime]

RETRY_AFTER_SECONDS = "5"


def _noting(events: Iterable[AlertReceived], into: list[AlertReceived]) -> Iterator[AlertReceived]:
    """`events`, each also appended to `into` as it goes by."""
    for event in events:
        into.append(event)
        yield event


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as `{"loc": "alerts.0.startsAt", "msg": ...}` (input values left out)."""
    return [
        {"loc": ".".join(str(p) for p in err["loc"]) or "(body)", "msg": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


@dataclass
class Endpoints:
    """The inbound endpoints and their collaborators."""

    authenticator: Authenticator
    publisher: Publisher
    options: IngestOptions
    metrics: IngestMetrics
    clock: Clock
    severity_label: str = "severity"
    """Herald's severity label (config `severity.label`): where PagerDuty's severity goes."""
    limits: FieldLimits = DEFAULT_LIMITS
    monotonic: Callable[[], float] = time.monotonic
    """The rate limiter's clock."""
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)

    def routes(self) -> list[Route]:
        return [
            Route("/hooks/inbound/{token}", self.webhook, methods=["POST"]),
            Route("/v2/enqueue", self.pagerduty, methods=["POST"]),
        ]

    def _answer(
        self, code: int, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Response:
        self.metrics.answered(code)
        return JSONResponse(dict(doc), status_code=code, headers=headers)

    def _rate_limited(self, auth: Authentication) -> Decision | None:
        """The refusal when this request's token is over its rate, else None."""
        if auth.rate_limit is None or auth.integration is None:
            return None
        rate = Rate(auth.rate_limit.per_second, auth.rate_limit.capacity)
        decision = self.rate_limiter.check(
            (auth.integration, auth.token_slot), rate, self.monotonic()
        )
        if decision.allowed:
            return None
        self.metrics.rate_limited.labels(integration=auth.integration).inc()
        log.warning("rate limited, answering 503", extra={"integration": auth.integration})
        return decision

    def _counted(
        self, events: Iterable[AlertReceived], integration: str
    ) -> Iterator[AlertReceived]:
        """The events, counting (and logging once) those that had fields clipped."""
        logged = False
        for event in events:
            note = event.annotations.get(CLIPPED_ANNOTATION)
            if note is not None:
                self.metrics.alerts_clipped.labels(integration=integration).inc()
                if not logged:
                    log.warning(
                        "alert stored with fields clipped",
                        extra={"integration": integration, "clipped": note[:200]},
                    )
                    logged = True
            yield event

    async def _publish(
        self,
        events: Iterable[AlertReceived],
        integration: str,
        report: Callable[[], GroupReported] | None = None,
    ) -> tuple[int, PublishOutcome]:
        """Publish in batches, `report` with the last (PublishUnavailable when not all
        stored), with metrics."""
        started = time.perf_counter()
        count, outcome = await publish_in_batches(
            self.publisher,
            self._counted(events, integration),
            max_events=self.options.publish_batch,
            max_bytes=self.options.publish_batch_bytes,
            report=report,
        )
        if count:
            self.metrics.publish_seconds.observe(time.perf_counter() - started)
        self.metrics.stored(integration, outcome.stored, outcome.duplicates)
        return count, outcome

    def _exact_message(self, body: bytes, integration: str) -> WebhookMessage | Response:
        """The body parsed, sanitized and validated step by step (Alertmanager's or
        Grafana's), or the 4xx answer saying what is wrong with it."""
        try:
            doc = parse_json_object(body)
        except BadRequest as exc:
            log.warning("rejected webhook: %s", exc, extra={"integration": integration})
            return self._answer(400, {"error": str(exc)})
        grafana = is_grafana(doc)
        try:
            return (
                GrafanaMessage.model_validate(doc)
                if grafana
                else WebhookMessage.model_validate(doc)
            )
        except ValidationError as exc:
            details = validation_details(exc)
            log.warning(
                "rejected webhook: invalid payload",
                extra={"integration": integration, "details": details},
            )
            source = "Grafana" if grafana else "Alertmanager"
            return self._answer(
                422, {"error": f"not a valid {source} webhook payload", "details": details}
            )

    async def webhook(self, request: Request) -> Response:
        """Alertmanager's (and Grafana's) webhook."""
        auth = self.authenticator.authenticate(
            request.path_params["token"], request.headers.get("authorization")
        )
        if auth.integration is None:
            log.warning("rejected webhook: %s", auth.reason, extra={"integration": auth.claimed})
            return self._answer(401, {"error": "unauthorized"})
        integration = auth.integration
        refused = self._rate_limited(auth)
        if refused is not None:
            return self._answer(
                503,
                {"error": "too many requests for this token, retry later"},
                headers={"Retry-After": refused.retry_after_header},
            )
        try:
            body = await read_body(request, self.options.max_body)
        except BodyTooLarge:
            log.warning("rejected webhook: body too large", extra={"integration": integration})
            return self._answer(
                413, {"error": f"the body is larger than {self.options.max_body} bytes"}
            )
        except BadRequest as exc:
            log.warning("rejected webhook: %s", exc, extra={"integration": integration})
            return self._answer(400, {"error": str(exc)})
        fast = alertmanager_message(body)
        message = fast if fast is not None else self._exact_message(body, integration)
        if isinstance(message, Response):
            return message
        grafana = isinstance(message, GrafanaMessage)
        if message.truncated_alerts:
            log.warning(
                "the sender truncated this notification (receiver max_alerts)",
                extra={"integration": integration, "truncated_alerts": message.truncated_alerts},
            )
        now = self.clock()
        events = (
            grafana_events(message, integration, now, self.limits)
            if isinstance(message, GrafanaMessage)
            else alert_events(message, integration, now, self.limits)
        )
        listed: list[AlertReceived] = []

        def report() -> GroupReported:
            # After the alerts (published behind them on the same connection, so stored behind
            # them in ALERTS): the correlator may take what the group no longer lists as ended
            # (silenced or inhibited alerts are never sent resolved).
            return group_report(
                integration, listed[0].group_key, listed, message.truncated_alerts, now
            )

        try:
            count, outcome = await self._publish(_noting(events, listed), integration, report)
        except PublishUnavailable as exc:
            log.error(
                "webhook not stored, answering 503: %s", exc, extra={"integration": integration}
            )
            return self._answer(
                503,
                {"error": f"alerts not stored, retry later: {exc}"},
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        if count:
            log.info(
                "webhook stored",
                extra={
                    "integration": integration,
                    "alerts": count,
                    "duplicates": outcome.duplicates,
                    "source": "grafana" if grafana else "alertmanager",
                },
            )
        return self._answer(
            200, {"status": "ok", "alerts": count, "duplicates": outcome.duplicates}
        )

    def _invalid(self, code: int, message: str, errors: list[str]) -> Response:
        return self._answer(code, {"status": "invalid event", "message": message, "errors": errors})

    async def pagerduty(self, request: Request) -> Response:
        """PagerDuty Events API v2 (`/v2/enqueue`), answered as PagerDuty answers."""
        try:
            body = await read_body(request, self.options.max_body)
            doc = parse_json_object(body, "a PagerDuty Events API v2 event")
        except BodyTooLarge:
            return self._invalid(
                413,
                "Event object is too large",
                [f"the body is larger than {self.options.max_body} bytes"],
            )
        except BadRequest as exc:
            return self._invalid(400, "Event object is invalid", [str(exc)])
        try:
            event = parse_event(doc)
        except InvalidEvent as exc:
            log.warning("rejected PagerDuty event", extra={"errors": exc.errors})
            return self._invalid(400, "Event object is invalid", exc.errors)
        auth = self.authenticator.authenticate(
            event.routing_key, request.headers.get("authorization")
        )
        if auth.integration is None:
            log.warning(
                "rejected PagerDuty event: %s", auth.reason, extra={"integration": auth.claimed}
            )
            if auth.claimed is not None:
                return self._answer(
                    401, {"status": "unauthorized", "message": "bad or missing credentials"}
                )
            return self._invalid(400, "Event object is invalid", ["Invalid routing key"])
        integration = auth.integration
        refused = self._rate_limited(auth)
        if refused is not None:
            return self._answer(
                503,
                {
                    "status": "throttle event",
                    "message": "Requests for this routing key are arriving too quickly. "
                    "Please retry later.",
                },
                headers={"Retry-After": refused.retry_after_header},
            )
        self.metrics.pagerduty_events.labels(action=event.action.value).inc()
        alert = pagerduty_alert(
            event,
            integration,
            self.clock(),
            severity_label=self.severity_label,
            limits=self.limits,
        )
        if alert is not None:
            try:
                await self._publish([alert], integration)
            except PublishUnavailable as exc:
                log.error(
                    "PagerDuty event not stored, answering 503: %s",
                    exc,
                    extra={"integration": integration},
                )
                return self._answer(
                    503,
                    {"status": "error", "message": f"Event not stored, retry later: {exc}"},
                    headers={"Retry-After": RETRY_AFTER_SECONDS},
                )
        elif event.action is Action.ACKNOWLEDGE:
            log.info(
                "PagerDuty acknowledge accepted (not stored: acknowledge where Herald pages)",
                extra={"integration": integration},
            )
        return self._answer(
            202, {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key}
        )
