"""The ingest use case: one inbound Alertmanager webhook, from its token and body to a reply.

Authenticate, parse, validate, normalize, publish; the reply is a plain value (status code,
JSON document, headers) that the HTTP handler only translates. Alertmanager retries 5xx and
drops a notification on any 4xx, so anything transient is a 503, and a 2xx means JetStream
stored every alert of the request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from herald.ingest.alertmanager import WebhookMessage
from herald.ingest.auth import Authenticator
from herald.ingest.metrics import IngestMetrics
from herald.ingest.normalize import normalize
from herald.ingest.publisher import AlertPublisher, PublishUnavailable
from herald.shared.runtime import Clock

log = logging.getLogger("herald.ingest")

RETRY_AFTER_SECONDS = "5"


@dataclass(frozen=True)
class Reply:
    code: int
    doc: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    """The request cannot be read (the message says why): a 400."""


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; BadRequest when it is not one."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object (an Alertmanager webhook payload)")
    return doc


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as `{"loc": "alerts.0.startsAt", "msg": ...}` (input values left out)."""
    return [
        {"loc": ".".join(str(p) for p in err["loc"]) or "(body)", "msg": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


class Inbound:
    """Accepts Alertmanager webhooks for the configured integrations."""

    def __init__(
        self,
        authenticator: Authenticator,
        publisher: AlertPublisher,
        metrics: IngestMetrics,
        clock: Clock,
    ) -> None:
        self.authenticator = authenticator
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock

    def authenticate(self, token: str, authorization: str | None) -> str | None:
        """The integration the request comes from; None (logged) when it is not authorized."""
        auth = self.authenticator.authenticate(token, authorization)
        if auth.integration is None:
            log.warning("rejected webhook: %s", auth.reason, extra={"integration": auth.claimed})
        return auth.integration

    def reject(self, integration: str | None, code: int, error: str) -> Reply:
        log.warning("rejected webhook: %s", error, extra={"integration": integration})
        return self.reply(code, {"error": error})

    def reply(
        self, code: int, doc: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> Reply:
        self.metrics.requests.labels(code=str(code)).inc()
        return Reply(code, doc, headers or {})

    async def accept(self, integration: str, body: bytes) -> Reply:
        """Store the alerts of one authenticated request's body; the reply says how it went."""
        try:
            doc = parse_json_object(body)
        except BadRequest as exc:
            return self.reject(integration, 400, str(exc))
        try:
            message = WebhookMessage.model_validate(doc)
        except ValidationError as exc:
            details = validation_details(exc)
            log.warning(
                "rejected webhook: invalid payload",
                extra={"integration": integration, "details": details},
            )
            return self.reply(
                422, {"error": "not a valid Alertmanager webhook payload", "details": details}
            )
        if message.truncated_alerts:
            log.warning(
                "Alertmanager truncated this notification (receiver max_alerts)",
                extra={"integration": integration, "truncated_alerts": message.truncated_alerts},
            )
        events = normalize(message, integration, self.clock())
        if not events:
            return self.reply(200, {"status": "ok", "alerts": 0, "duplicates": 0})
        started = time.perf_counter()
        try:
            outcome = await self.publisher.publish_all(events)
        except PublishUnavailable as exc:
            log.error(
                "webhook not stored, answering 503: %s", exc, extra={"integration": integration}
            )
            return self.reply(
                503,
                {"error": f"alerts not stored, retry later: {exc}"},
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
        self.metrics.publish_seconds.observe(time.perf_counter() - started)
        self.metrics.alerts_published.labels(integration=integration).inc(outcome.stored)
        self.metrics.alerts_duplicate.labels(integration=integration).inc(outcome.duplicates)
        log.info(
            "webhook stored",
            extra={
                "integration": integration,
                "alerts": len(events),
                "duplicates": outcome.duplicates,
            },
        )
        return self.reply(
            200, {"status": "ok", "alerts": len(events), "duplicates": outcome.duplicates}
        )
