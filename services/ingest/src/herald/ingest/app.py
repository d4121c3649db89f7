"""The ingest HTTP app: `POST /hooks/inbound/{token}` plus the probes.

Wiring and translation only: authentication, normalization and publishing live in their
own modules. Answers 2xx only after JetStream stored every alert of the request (Alertmanager
retries 5xx and drops a notification on any 4xx, so anything transient is a 503).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.ingest.alertmanager import WebhookMessage
from herald.ingest.auth import Authenticator
from herald.ingest.metrics import IngestMetrics
from herald.ingest.normalize import normalize
from herald.ingest.options import IngestOptions
from herald.ingest.publisher import AlertPublisher, PublishUnavailable
from herald.shared.config import HeraldConfig
from herald.shared.probes import ReadinessCheck, probe_routes
from herald.shared.settings import Settings

log = logging.getLogger("herald.ingest")

Clock = Callable[[], datetime]

RETRY_AFTER_SECONDS = "5"


class BodyTooLarge(Exception):
    pass


class BadRequest(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes (by Content-Length and while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("invalid Content-Length header") from None
        if size > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest("the client went away before sending the whole body") from None
    return b"".join(chunks)


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


def create_app(
    config: HeraldConfig,
    settings: Settings,
    options: IngestOptions | None = None,
    *,
    publisher: AlertPublisher | None = None,
    environ: dict[str, str] | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """Build the app. Resolves every integration's secrets now (ConfigError if one cannot be).
    The NATS connection is opened in the lifespan, in the background."""
    opts = options or IngestOptions()
    authenticator = Authenticator.from_config(config.integrations, environ)
    pub = publisher or AlertPublisher(
        settings.nats_url,
        publish_timeout=opts.publish_timeout,
        connect_timeout=opts.connect_timeout,
        reconnect_wait=opts.reconnect_wait,
        stream_replicas=settings.stream_replicas,
    )
    now = clock or (lambda: datetime.now(UTC))
    metrics = IngestMetrics()

    def answer(
        code: int, doc: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> Response:
        metrics.requests.labels(code=str(code)).inc()
        return JSONResponse(doc, status_code=code, headers=headers)

    async def inbound(request: Request) -> Response:
        auth = authenticator.authenticate(
            request.path_params["token"], request.headers.get("authorization")
        )
        if auth.integration is None:
            log.warning("rejected webhook: %s", auth.reason, extra={"integration": auth.claimed})
            return answer(401, {"error": "unauthorized"})
        integration = auth.integration
        try:
            body = await read_body(request, opts.max_body)
            doc = parse_json_object(body)
        except BodyTooLarge:
            log.warning("rejected webhook: body too large", extra={"integration": integration})
            return answer(413, {"error": f"the body is larger than {opts.max_body} bytes"})
        except BadRequest as exc:
            log.warning("rejected webhook: %s", exc, extra={"integration": integration})
            return answer(400, {"error": str(exc)})
        try:
            message = WebhookMessage.model_validate(doc)
        except ValidationError as exc:
            details = validation_details(exc)
            log.warning(
                "rejected webhook: invalid payload",
                extra={"integration": integration, "details": details},
            )
            return answer(
                422, {"error": "not a valid Alertmanager webhook payload", "details": details}
            )
        if message.truncated_alerts:
            log.warning(
                "Alertmanager truncated this notification (receiver max_alerts)",
                extra={"integration": integration, "truncated_alerts": message.truncated_alerts},
            )
        events = normalize(message, integration, now())
        if not events:
            return answer(200, {"status": "ok", "alerts": 0, "duplicates": 0})
        started = time.perf_counter()
        try:
            outcome = await pub.publish_all(events)
        except PublishUnavailable as exc:
            log.error(
                "webhook not stored, answering 503: %s", exc, extra={"integration": integration}
            )
            return answer(
                503,
                {"error": f"alerts not stored, retry later: {exc}"},
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        metrics.publish_seconds.observe(time.perf_counter() - started)
        metrics.alerts_published.labels(integration=integration).inc(outcome.stored)
        metrics.alerts_duplicate.labels(integration=integration).inc(outcome.duplicates)
        log.info(
            "webhook stored",
            extra={
                "integration": integration,
                "alerts": len(events),
                "duplicates": outcome.duplicates,
            },
        )
        return answer(
            200, {"status": "ok", "alerts": len(events), "duplicates": outcome.duplicates}
        )

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": pub.ready}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("ingest starting", extra={"integrations": list(authenticator.integrations)})
        await pub.start()
        try:
            yield
        finally:
            await pub.close()
            log.info("ingest stopped")

    routes = [
        Route("/hooks/inbound/{token}", inbound, methods=["POST"]),
        *probe_routes(checks, registry=metrics.registry),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.publisher = pub
    app.state.metrics = metrics
    return app
