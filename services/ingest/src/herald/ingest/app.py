"""The ingest process: the inbound endpoints (`herald.ingest.endpoints`) plus the probes.

Wiring, in the shape every Herald service has: build the adapters (the NATS connection of
herald.shared.runtime and the publisher on it), build the use case with its collaborators as
arguments (`Endpoints`: authentication, rate limits, sources, publishing), and a lifespan that
opens the adapters and yields the typed state. Answers 2xx only after JetStream stored every
alert of the request (Alertmanager retries 5xx and drops a notification on any 4xx, so anything
transient is a 503).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from herald.ingest.admin import (
    CORRELATOR_URL_VAR,
    DEFAULT_CORRELATOR_URL,
    AdminApi,
    AdminTokens,
    CommandSink,
    JetStreamCommands,
)
from herald.ingest.auth import Authenticator
from herald.ingest.batch import Publisher
from herald.ingest.endpoints import Endpoints
from herald.ingest.metrics import IngestMetrics
from herald.ingest.options import IngestOptions
from herald.ingest.publisher import AlertPublisher
from herald.ingest.stream_usage import StreamUsage
from herald.shared.config import HeraldConfig
from herald.shared.probes import ReadinessCheck, probe_app
from herald.shared.runtime import Clock, NatsConnection, utc_now
from herald.shared.security import SecurityHeaders
from herald.shared.settings import Settings

log = logging.getLogger("herald.ingest")


class State(TypedDict):
    endpoints: Endpoints


async def _routing_error(request: Request, exc: Exception) -> Response:
    """A path or method ingest does not serve, answered in JSON like every other refusal, so a
    mistyped Alertmanager URL says what is wrong in its log."""
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    text = {404: "no such endpoint", 405: "method not allowed"}.get(code, "refused")
    headers = exc.headers if isinstance(exc, HTTPException) else None
    return JSONResponse(
        {"error": f"{text}: {request.method} {request.url.path}"}, status_code=code, headers=headers
    )


def create_app(
    config: HeraldConfig,
    settings: Settings,
    options: IngestOptions | None = None,
    *,
    nats: NatsConnection | None = None,
    publisher: Publisher | None = None,
    environ: dict[str, str] | None = None,
    clock: Clock = utc_now,
    commands: CommandSink | None = None,
) -> Starlette:
    """Build the app. Resolves every integration's secrets now (ConfigError if one cannot be).
    The NATS connection is opened in the lifespan, in the background: ingest answers 503 while
    NATS is down. `publisher` replaces JetStream with an in-memory one (tests): then no NATS
    connection is opened at all."""
    opts = options or IngestOptions()
    nats = nats or NatsConnection(
        settings.nats_url,
        "herald-ingest",
        connect_timeout=opts.connect_timeout,
        reconnect_wait=opts.reconnect_wait,
        request_timeout=opts.publish_timeout,
    )
    jetstream = AlertPublisher(
        nats, publish_timeout=opts.publish_timeout, stream_replicas=settings.stream_replicas
    )
    metrics = IngestMetrics()
    endpoints = Endpoints(
        authenticator=Authenticator.from_config(config.integrations, environ),
        publisher=publisher or jetstream,
        options=opts,
        metrics=metrics,
        clock=clock,
        severity_label=config.severity.label,
    )
    env = dict(os.environ if environ is None else environ)
    admin = AdminApi(
        config,
        AdminTokens.from_config(config, env),
        commands
        or JetStreamCommands(nats, timeout=opts.publish_timeout, replicas=settings.stream_replicas),
        clock,
        env.get(CORRELATOR_URL_VAR)
        or (
            f"http://127.0.0.1:{env['HERALD_CORRELATOR_PORT']}"
            if env.get("HERALD_CORRELATOR_PORT")
            else DEFAULT_CORRELATOR_URL
        ),
    )
    stream_usage = StreamUsage(
        metrics.registry, jetstream.stream_info, interval=opts.stream_usage_interval
    )

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": endpoints.publisher.ready}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[State]:
        log.info(
            "ingest starting", extra={"integrations": list(endpoints.authenticator.integrations)}
        )
        if publisher is None:
            nats.connect_in_background()
            stream_usage.start()
        try:
            yield {"endpoints": endpoints}
        finally:
            await stream_usage.stop()
            await nats.close()
            log.info("ingest stopped")

    app = Starlette(
        routes=[
            *endpoints.routes(),  # /hooks/inbound/{token}, /v2/enqueue
            *admin.routes(),  # /api/v1/... (docs/admin-openapi.yaml)
        ],
        middleware=[Middleware(SecurityHeaders)],  # JSON only: no browser should render it
        exception_handlers={HTTPException: _routing_error},
        lifespan=lifespan,
    )
    app.state.stream_usage = stream_usage
    app.state.probes = probe_app(checks, metrics.registry)  # the internal port
    return app
