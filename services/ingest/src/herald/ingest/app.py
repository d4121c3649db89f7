"""The ingest HTTP app: the inbound endpoints (`herald.ingest.endpoints`) plus the probes.

Wiring only: authentication, normalization, publishing and the endpoints live in their own
modules. Answers 2xx only after JetStream stored every alert of the request (Alertmanager
retries 5xx and drops a notification on any 4xx, so anything transient is a 503).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from starlette.applications import Starlette

from herald.ingest.auth import Authenticator
from herald.ingest.endpoints import Endpoints
from herald.ingest.metrics import IngestMetrics
from herald.ingest.options import IngestOptions
from herald.ingest.publisher import AlertPublisher
from herald.ingest.stream_usage import StreamUsage
from herald.shared.config import HeraldConfig
from herald.shared.probes import ReadinessCheck, probe_routes
from herald.shared.settings import Settings

log = logging.getLogger("herald.ingest")

Clock = Callable[[], datetime]


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

    endpoints = Endpoints(
        authenticator=authenticator,
        publisher=pub,
        options=opts,
        metrics=metrics,
        clock=now,
        severity_label=config.severity.label,
    )
    stream_usage = StreamUsage(
        metrics.registry, pub.stream_info, interval=opts.stream_usage_interval
    )

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": pub.ready}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("ingest starting", extra={"integrations": list(authenticator.integrations)})
        await pub.start()
        stream_usage.start()
        try:
            yield
        finally:
            await stream_usage.stop()
            await pub.close()
            log.info("ingest stopped")

    routes = [
        *endpoints.routes(),  # /hooks/inbound/{token}, /v2/enqueue
        *probe_routes(checks, registry=metrics.registry),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.publisher = pub
    app.state.metrics = metrics
    app.state.stream_usage = stream_usage
    return app
