"""The status page service: wiring only.

Lifespan order (no change is missed): connect NATS, ensure the streams, start the INCIDENTS
subscription (subscription.py: subscribe with an ephemeral ordered consumer, each replica reads
everything, THEN read the Redis snapshots), fold its first item (the `Reset` with the
snapshots) into the board, THEN serve while one task folds the rest
(`async for item in subscription: board.apply(item)`). When the INCIDENTS stream is re-created
under us, the subscription yields a new `Reset` and the stream again from its first message.
Handlers translate a message or a request and call the pure modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypedDict

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from herald.shared.config import HeraldConfig
from herald.shared.probes import ReadinessCheck, probe_routes
from herald.shared.runtime import Clock, NatsConnection, Recheck, open_redis, utc_now
from herald.shared.settings import Settings
from herald.shared.streams import CHECK_SECONDS, ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM
from herald.statuspage.board import REPLAY_BUFFER, Board, Item
from herald.statuspage.options import MAX_SSE_CLIENTS
from herald.statuspage.page import STATIC, render_feed, render_page
from herald.statuspage.security import SecurityHeaders
from herald.statuspage.sse import KEEPALIVE_SECONDS, EventStream
from herald.statuspage.status import PageView
from herald.statuspage.subscription import IncidentSubscription, first_seen

log = logging.getLogger("herald.statuspage")


class State(TypedDict):
    board: Board


NO_CACHE = {"Cache-Control": "no-cache"}
API_HEADERS = {**NO_CACHE, "Access-Control-Allow-Origin": "*"}


def routes(
    board: Board,
    checks: Callable[[], Mapping[str, ReadinessCheck]],
    max_sse_clients: int = MAX_SSE_CLIENTS,
) -> list[BaseRoute]:
    async def index(_: Request) -> Response:
        return HTMLResponse(render_page(board.templates, board.view()), headers=NO_CACHE)

    async def feed(_: Request) -> Response:
        return Response(
            render_feed(board.templates, board.view()),
            media_type="application/atom+xml; charset=utf-8",
            headers=NO_CACHE,
        )

    def api(build: Callable[[PageView], dict[str, Any]]) -> Callable[[Request], Any]:
        async def endpoint(_: Request) -> Response:
            return JSONResponse(build(board.view()), headers=API_HEADERS)

        return endpoint

    # /events is a plain ASGI app writing to the fan-out's clients directly (sse.py says why).
    board.fanout.keepalive = board.keepalive
    board.fanout.on_push = board.metrics.pushed.inc
    events = EventStream(board.fanout, board.snapshot_event, max_sse_clients)

    return [
        Route("/", index, methods=["GET"]),
        Route("/feed.atom", feed, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        Route("/api/v2/summary.json", api(PageView.summary_json), methods=["GET"]),
        Route("/api/v2/status.json", api(PageView.status_json), methods=["GET"]),
        Route("/api/v2/components.json", api(PageView.components_json), methods=["GET"]),
        Route("/api/v2/incidents.json", api(PageView.incidents_json), methods=["GET"]),
        Route("/api/v2/incidents/unresolved.json", api(PageView.unresolved_json), methods=["GET"]),
        *probe_routes(checks, board.metrics.registry),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(
    config: HeraldConfig,
    settings: Settings,
    *,
    clock: Clock = utc_now,
    keepalive: float = KEEPALIVE_SECONDS,
    replay: int = REPLAY_BUFFER,
    stream_check: float = CHECK_SECONDS,
    max_sse_clients: int = MAX_SSE_CLIENTS,
) -> Starlette:
    """The ASGI app. NATS and Redis are opened in the lifespan; `app.state.board` is the page's
    live state (the test and the uvicorn Server read it).

    `replay`: how many past INCIDENTS messages to read again at start-up (and keep for resuming
    browsers); at most the replay buffer's size. `stream_check`: seconds between two checks that
    the INCIDENTS stream is still the one followed (besides one after every reconnect).
    `max_sse_clients`: concurrent `/events` streams; beyond them a 503 with Retry-After."""
    replay = max(0, min(replay, REPLAY_BUFFER))
    board = Board(config=config, since=clock(), keepalive=keepalive)

    nats = NatsConnection(settings.nats_url, "herald-statuspage")
    redis = open_redis(settings.redis_url)
    services = list(config.services)
    subscription = IncidentSubscription(nats.js, redis, services, settings.stream_replicas)
    # NATS may have come back without its streams, or an operator re-created them: check now.
    watch = Recheck("incidents-stream", subscription.check, interval=stream_check)
    nats.on_reconnected(watch.wake)

    async def fold(items: AsyncIterator[Item]) -> None:
        async for item in items:
            try:
                board.apply(item)
            except Exception:  # one bad item must not stop the page from following the stream
                log.exception("folding an INCIDENTS item failed")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[State]:
        folding: asyncio.Task[None] | None = None
        try:
            await nats.connect()
            await ensure_streams(nats.js, settings.stream_replicas)
            # Read from a little before "now": everything after `start` reaches us, in order (the
            # ordered consumer recreates itself after an outage, and a redelivery is skipped);
            # what came before is in the Redis snapshots read next. The subscription yields what
            # it receives meanwhile after the snapshots' Reset; the overlap is harmless
            # (versions) and fills the replay buffer, so a browser that was on a replica that
            # went away resumes here without a full snapshot.
            board.created = await first_seen(redis, services, clock())
            info = await nats.js.stream_info(INCIDENTS_STREAM)
            last = info.state.last_seq
            await subscription.start(info, start=max(last - replay, 0))
            items = aiter(subscription)
            board.apply(await anext(items))  # the Reset: the snapshots, before serving
            folding = asyncio.create_task(fold(items), name="statuspage-fold")
            watch.start()
            log.info(
                "status page ready", extra={"services": len(config.services), "stream_seq": last}
            )
            # What exists now lives as long as the process: out of the collector's sight, so a
            # full collection (scanning every object) costs less when it hits a broadcast.
            gc.freeze()
            yield {"board": board}
        finally:
            await watch.stop()
            await subscription.stop()
            if folding is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await folding
            board.fanout.close()
            await redis.aclose()
            await nats.close()

    async def nats_connected() -> bool:
        return nats.is_connected

    async def snapshot_loaded() -> bool:
        return board.snapshot_loaded

    def checks() -> Mapping[str, ReadinessCheck]:
        return {"nats": nats_connected, "snapshot": snapshot_loaded}

    app = Starlette(
        routes=routes(board, checks, max_sse_clients),
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.board = board
    return app


class Server(uvicorn.Server):
    """uvicorn, but open event streams end as soon as shutdown starts (instead of holding it)."""

    def __init__(self, config: uvicorn.Config, board: Board) -> None:
        super().__init__(config)
        self.board = board

    async def shutdown(self, sockets: Any = None) -> None:
        self.board.fanout.close()
        await super().shutdown(sockets)
