"""The status page service: wiring only.

Lifespan order (no change is missed): connect NATS, ensure the streams, subscribe to every
incident event with an ephemeral ordered consumer (each replica reads everything), THEN load
every configured service's snapshot from Redis, THEN serve. Messages delivered before the
snapshots are loaded are held and folded in on top of them (versions make the overlap
harmless): folded onto nothing, they would reach the snapshot's version from partial history
and the snapshot would be dropped as "not newer". When the INCIDENTS stream is re-created under
us (NATS lost its JetStream state, an operator re-created it) its sequences start over: the same
steps are run again from its first message (`IncidentFeed`). Handlers translate a message or a
request and call the pure modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jinja2
import nats
import redis.asyncio as aioredis
import uvicorn
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamInfo
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from herald.shared.config import HeraldConfig
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    IncidentOpened,
    IncidentResolved,
    IncidentUpdated,
    ServiceStatus,
)
from herald.shared.keys import status_key
from herald.shared.probes import ReadinessCheck, probe_routes
from herald.shared.settings import Settings
from herald.shared.streams import CHECK_SECONDS, RETRY_SECONDS, ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, INCIDENTS_SUBJECTS
from herald.statuspage.page import STATIC, environment, render_feed, render_page
from herald.statuspage.projection import Projection
from herald.statuspage.security import SecurityHeaders
from herald.statuspage.status import PageView
from herald.statuspage.stream import (
    KEEPALIVE_SECONDS,
    SNAPSHOT,
    Fanout,
    SseEvent,
    parse_last_event_id,
)

log = logging.getLogger("herald.statuspage")

Clock = Callable[[], datetime]

REPLAY_BUFFER = 1000
"""SSE events kept for browsers resuming with Last-Event-ID."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Metrics:
    """The service's metrics, on its own registry (several apps may live in one process)."""

    def __init__(self, registry: CollectorRegistry, fanout: Fanout) -> None:
        self.registry = registry
        self.clients = Gauge(
            "herald_statuspage_sse_clients", "Browsers connected to /events.", registry=registry
        )
        self.clients.set_function(lambda: len(fanout.clients))
        self.events = Counter(
            "herald_statuspage_incident_events",
            "Incident events read from the INCIDENTS stream, by result.",
            ["result"],
            registry=registry,
        )
        self.pushed = Counter(
            "herald_statuspage_sse_events_pushed",
            "Server-Sent Events written to browsers.",
            registry=registry,
        )
        self.dropped = Counter(
            "herald_statuspage_sse_clients_dropped",
            "Browsers dropped because they could not keep up (they reconnect and resume).",
            registry=registry,
        )
        self.last_sequence = Gauge(
            "herald_statuspage_last_event_sequence",
            "INCIDENTS stream sequence of the last event applied.",
            registry=registry,
        )


@dataclass
class Board:
    """The page's live state: the projection, the SSE fan-out and what is needed to render."""

    config: HeraldConfig
    since: datetime
    keepalive: float = KEEPALIVE_SECONDS
    projection: Projection = field(init=False)
    fanout: Fanout = field(init=False)
    metrics: Metrics = field(init=False)
    templates: jinja2.Environment = field(init=False)
    nc: NATS | None = None
    snapshot_loaded: bool = False
    highest_seq: int = 0
    """The highest INCIDENTS sequence received; anything at or below it is a redelivery."""
    held: list[tuple[bytes, int]] = field(default_factory=list)
    """Messages received before the snapshots were loaded, folded in by `load()`."""

    def __post_init__(self) -> None:
        self.projection = Projection(self.config.page.history_size)
        self.fanout = Fanout(buffer_size=REPLAY_BUFFER, on_drop=lambda: self.metrics.dropped.inc())
        self.metrics = Metrics(CollectorRegistry(auto_describe=True), self.fanout)
        self.templates = environment()

    def start_at(self, floor: int) -> None:
        """Messages up to `floor` are known through the snapshots; later ones will be received."""
        self.highest_seq = max(self.highest_seq, floor)
        self.fanout.buffer.start_at(floor)

    def view(self) -> PageView:
        return PageView(self.config, self.projection, self.since)

    def snapshot_event(self, seq: int) -> SseEvent:
        return SseEvent(seq, SNAPSHOT, _dumps(self.view().snapshot_json()))

    def receive(self, data: bytes, seq: int) -> SseEvent | None:
        """One INCIDENTS message: fold it in, then push the service's new state to browsers.

        A stale event (already known through a snapshot) is still pushed, carrying the current
        state, so a browser resuming from another replica never misses the change it stood for.
        A redelivery (the ordered consumer restarting after a NATS outage) is skipped. Before the
        snapshots are loaded the message is held (None): `load()` folds it in on top of them.
        """
        if seq <= self.highest_seq:
            self.metrics.events.labels("redelivered").inc()
            return None
        self.highest_seq = seq
        if not self.snapshot_loaded:
            self.held.append((data, seq))
            return None
        return self._fold(data, seq)

    def _fold(self, data: bytes, seq: int) -> SseEvent | None:
        try:
            event = INCIDENT_EVENT_ADAPTER.validate_json(data)
        except ValidationError as exc:
            self.metrics.events.labels("invalid").inc()
            log.warning("ignoring an invalid incident event", extra={"seq": seq, "error": str(exc)})
            return None
        applied = self.projection.apply(event)
        self.metrics.last_sequence.set(seq)
        if event.service not in self.config.services:
            self.metrics.events.labels("unknown_service").inc()
            return None
        if isinstance(event, IncidentOpened | IncidentUpdated | IncidentResolved) and (
            not event.incident.public
        ):
            self.metrics.events.labels("internal").inc()
            return None  # an internal incident: the public page neither shows it nor changes
        self.metrics.events.labels("applied" if applied else "stale").inc()
        payload = self.view().change_json(event.kind, event.service)
        sse = SseEvent(seq, event.kind, _dumps(payload))
        self.fanout.publish(sse)
        return sse

    def load(self, snapshots: Mapping[str, bytes | str | None]) -> None:
        """Stored ServiceStatus documents (by service); newer ones replace what we hold. Then
        the messages held until now are folded in (and pushed) on top, in stream order."""
        for service, raw in snapshots.items():
            if raw is None:
                continue
            try:
                status = ServiceStatus.model_validate_json(raw)
            except ValidationError as exc:
                log.warning(
                    "ignoring an invalid status snapshot",
                    extra={"service_id": service, "error": str(exc)},
                )
                continue
            self.projection.load(status)
        self.snapshot_loaded = True
        if self.fanout.clients:  # a restart (`restart()`): open browsers get the page again
            self.fanout.resync(self.snapshot_event(self.fanout.buffer.last_id))
        held, self.held = self.held, []
        for data, seq in held:
            self._fold(data, seq)

    def restart(self) -> None:
        """The INCIDENTS stream was re-created: its sequences start over. Forget ours and the
        replay buffer (a browser resuming with an id of the old stream gets a snapshot) and
        hold what the new subscription delivers until `load()` is called again."""
        self.highest_seq = 0
        self.snapshot_loaded = False
        self.held = []
        self.fanout.buffer.clear()
        self.metrics.last_sequence.set(0)


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


NO_CACHE = {"Cache-Control": "no-cache"}
API_HEADERS = {**NO_CACHE, "Access-Control-Allow-Origin": "*"}


def routes(board: Board) -> list[BaseRoute]:
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

    async def events(request: Request) -> Response:
        last = parse_last_event_id(request.headers.get("last-event-id"))
        client = board.fanout.connect(last, board.snapshot_event)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for frame in client.frames(board.keepalive, board.metrics.pushed.inc):
                    yield frame
            finally:
                board.fanout.disconnect(client)

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
        )

    def checks() -> Mapping[str, ReadinessCheck]:
        async def nats_connected() -> bool:
            return board.nc is not None and board.nc.is_connected

        async def snapshot_loaded() -> bool:
            return board.snapshot_loaded

        return {"nats": nats_connected, "snapshot": snapshot_loaded}

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


async def read_snapshots(
    client: aioredis.Redis, services: list[str]
) -> dict[str, bytes | str | None]:
    """Each service's stored ServiceStatus (one GET per key: keys live in different slots)."""
    found: dict[str, bytes | str | None] = {}
    for service in services:
        found[service] = await client.get(status_key(service))
    return found


class IncidentFeed:
    """The board's subscription to INCIDENTS, started over when the stream is re-created.

    `follow()` is the start-up order: subscribe after `start`, then load the Redis snapshots.
    `check()` (after every reconnect and every CHECK_SECONDS, `watch()`) compares the stream with
    the one followed: when it was re-created (another creation time, or its last sequence below
    the highest one received) the old subscription is dropped, the board forgets the old
    sequences, and the stream is followed again from its first message."""

    def __init__(
        self, board: Board, js: JetStreamContext, redis: aioredis.Redis, replicas: int = 1
    ) -> None:
        self.board = board
        self.js = js
        self.redis = redis
        self.replicas = replicas
        self.created: datetime | None = None
        """When the stream followed was created (as JetStream tells it)."""
        self._following = False
        self._generation = 0
        self._sub: JetStreamContext.PushSubscription | None = None

    async def follow(self, info: StreamInfo, start: int) -> None:
        self._generation += 1
        generation = self._generation

        async def on_message(msg: Msg) -> None:
            if generation == self._generation:  # not a late message of a dropped subscription
                self.board.receive(msg.data, msg.metadata.sequence.stream)

        self.board.start_at(start)
        self._sub = await self.js.subscribe(
            INCIDENTS_SUBJECTS,
            stream=INCIDENTS_STREAM,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=start + 1),
        )
        self.board.load(await read_snapshots(self.redis, list(self.board.config.services)))
        self.created = info.created
        self._following = True

    async def check(self) -> bool:
        """Follow the stream again from its start when it was re-created; True when it was."""
        try:
            info = await self.js.stream_info(INCIDENTS_STREAM)
        except NotFoundError:
            await ensure_streams(self.js, self.replicas)
            info = await self.js.stream_info(INCIDENTS_STREAM)
        if (
            self._following
            and info.created == self.created
            and info.state.last_seq >= self.board.highest_seq
        ):
            return False
        log.warning(
            "the INCIDENTS stream was re-created: reading it again from its start",
            extra={"stream_seq": info.state.last_seq, "highest_seq": self.board.highest_seq},
        )
        self._following = False  # until follow() completes: a failed attempt is retried
        await self.stop()
        self.board.restart()
        await self.follow(info, start=0)
        return True

    async def watch(self, wake: asyncio.Event, interval: float = CHECK_SECONDS) -> None:
        delay = interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
            wake.clear()
            try:
                await self.check()
            except Exception as exc:  # NATS or Redis not answering yet: soon again
                log.warning("cannot check the INCIDENTS stream", extra={"error": repr(exc)})
                delay = min(RETRY_SECONDS, interval)
            else:
                delay = interval

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        self._generation += 1
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def create_app(
    config: HeraldConfig,
    settings: Settings,
    *,
    clock: Clock = utc_now,
    keepalive: float = KEEPALIVE_SECONDS,
    replay: int = REPLAY_BUFFER,
    stream_check: float = CHECK_SECONDS,
) -> Starlette:
    """The ASGI app. NATS and Redis are opened in the lifespan; `app.state.board` is the state.

    `replay`: how many past INCIDENTS messages to read again at start-up (and keep for resuming
    browsers); at most the replay buffer's size. `stream_check`: seconds between two checks that
    the INCIDENTS stream is still the one followed (besides one after every reconnect)."""
    replay = max(0, min(replay, REPLAY_BUFFER))
    board = Board(config=config, since=clock(), keepalive=keepalive)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        wake = asyncio.Event()

        async def on_reconnected() -> None:
            wake.set()  # NATS may have come back without its streams: check now

        nc = await nats.connect(
            settings.nats_url,
            name="herald-statuspage",
            max_reconnect_attempts=-1,
            reconnected_cb=on_reconnected,
        )
        board.nc = nc
        redis_client = aioredis.from_url(settings.redis_url)
        feed = IncidentFeed(board, nc.jetstream(), redis_client, settings.stream_replicas)
        watch: asyncio.Task[None] | None = None
        try:
            await ensure_streams(feed.js, settings.stream_replicas)
            # Read from a little before "now": everything after `start` reaches us, in order (the
            # ordered consumer recreates itself after an outage, and a redelivery is skipped);
            # what came before is in the Redis snapshots loaded next. The board holds what it
            # receives until then and folds it in on top of them; the overlap is harmless
            # (versions) and fills the replay buffer, so a browser that was on a replica that
            # went away resumes here without a full snapshot.
            info = await feed.js.stream_info(INCIDENTS_STREAM)
            last = info.state.last_seq
            await feed.follow(info, start=max(last - replay, 0))
            watch = asyncio.create_task(
                feed.watch(wake, stream_check), name="incidents-stream-watch"
            )
            log.info(
                "status page ready", extra={"services": len(config.services), "stream_seq": last}
            )
            yield
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            await feed.stop()
            board.fanout.close()
            await redis_client.aclose()
            await nc.close()

    app = Starlette(
        routes=routes(board),
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
