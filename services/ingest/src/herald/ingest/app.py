"""The ingest process: `POST /hooks/inbound/{token}` plus the probes.

Wiring, in the shape every Herald service has: build the adapters (the NATS connection of
herald.shared.runtime), build the use case with its collaborators as arguments (`Inbound`), and
a lifespan that opens the adapters and yields the typed state the handlers read. The handler
only translates HTTP to the use case and its reply back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.ingest.auth import Authenticator
from herald.ingest.inbound import BadRequest, Inbound, Reply
from herald.ingest.metrics import IngestMetrics
from herald.ingest.options import IngestOptions
from herald.ingest.publisher import AlertPublisher
from herald.shared.config import HeraldConfig
from herald.shared.probes import ReadinessCheck, probe_routes
from herald.shared.runtime import Clock, NatsConnection, utc_now
from herald.shared.settings import Settings

log = logging.getLogger("herald.ingest")


class State(TypedDict):
    inbound: Inbound


class BodyTooLarge(Exception):
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


def respond(reply: Reply) -> Response:
    return JSONResponse(reply.doc, status_code=reply.code, headers=dict(reply.headers))


def create_app(
    config: HeraldConfig,
    settings: Settings,
    options: IngestOptions | None = None,
    *,
    nats: NatsConnection | None = None,
    environ: dict[str, str] | None = None,
    clock: Clock = utc_now,
) -> Starlette:
    """Build the app. Resolves every integration's secrets now (ConfigError if one cannot be).
    The NATS connection is opened in the lifespan, in the background: ingest answers 503 while
    NATS is down."""
    opts = options or IngestOptions()
    nats = nats or NatsConnection(
        settings.nats_url,
        "herald-ingest",
        connect_timeout=opts.connect_timeout,
        reconnect_wait=opts.reconnect_wait,
        request_timeout=opts.publish_timeout,
    )
    publisher = AlertPublisher(
        nats, publish_timeout=opts.publish_timeout, stream_replicas=settings.stream_replicas
    )
    metrics = IngestMetrics()
    inbound = Inbound(
        Authenticator.from_config(config.integrations, environ), publisher, metrics, clock
    )

    async def hook(request: Request) -> Response:
        use: Inbound = request.state.inbound
        integration = use.authenticate(
            request.path_params["token"], request.headers.get("authorization")
        )
        if integration is None:
            return respond(use.reply(401, {"error": "unauthorized"}))
        try:
            body = await read_body(request, opts.max_body)
        except BodyTooLarge:
            return respond(
                use.reject(integration, 413, f"the body is larger than {opts.max_body} bytes")
            )
        except BadRequest as exc:
            return respond(use.reject(integration, 400, str(exc)))
        return respond(await use.accept(integration, body))

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": publisher.ready}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[State]:
        log.info(
            "ingest starting", extra={"integrations": list(inbound.authenticator.integrations)}
        )
        nats.connect_in_background()
        try:
            yield {"inbound": inbound}
        finally:
            await nats.close()
            log.info("ingest stopped")

    return Starlette(
        routes=[
            Route("/hooks/inbound/{token}", hook, methods=["POST"]),
            *probe_routes(checks, registry=metrics.registry),
        ],
        lifespan=lifespan,
    )
