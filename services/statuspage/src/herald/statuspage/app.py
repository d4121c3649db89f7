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
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypedDict

import jinja2
import uvicorn
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from herald.shared.config import HeraldConfig
from herald.shared.events import Incident
from herald.shared.probes import ReadinessCheck, probe_app
from herald.shared.public_page import COMPONENT_STATUS_WORDS, iso, public_view
from herald.shared.runtime import (
    Clock,
    NatsConnection,
    Recheck,
    ScriptCall,
    open_redis,
    utc_now,
)
from herald.shared.security import SecurityHeaders
from herald.shared.settings import Settings
from herald.shared.streams import CHECK_SECONDS, ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, subscription_subject
from herald.shared.subscriber_store import SubscriberStore
from herald.shared.subscriptions import SubscriptionRequested, subscribers_secret
from herald.statuspage import badge
from herald.statuspage.archive import Archive, HistoryWrites
from herald.statuspage.board import REPLAY_BUFFER, Board, Item, Reset
from herald.statuspage.catalogue import negotiate
from herald.statuspage.history import MAX_PAGES, page_span
from herald.statuspage.options import MAX_SSE_CLIENTS, POLL_SECONDS
from herald.statuspage.page import (
    FEED_ENTRIES,
    STATIC,
    Reader,
    chrome,
    human,
    render_feed,
    render_history,
    render_incident,
    render_maintenance,
    render_page,
    render_rss,
)
from herald.statuspage.revalidation import CDN_CACHE_CONTROL, not_modified, validators
from herald.statuspage.signup_limit import SignupLimits
from herald.statuspage.sse import KEEPALIVE_SECONDS, POLL_PATH, EventStream
from herald.statuspage.status import PageView
from herald.statuspage.subscribe import SubscribeDesk, subscribe_routes
from herald.statuspage.subscription import IncidentSubscription, first_seen

log = logging.getLogger("herald.statuspage")


class State(TypedDict):
    board: Board


NO_CACHE = {"Cache-Control": "no-cache"}
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified",
}
API_HEADERS = {"Cache-Control": CDN_CACHE_CONTROL, **CORS}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "If-None-Match, If-Modified-Since",
    "Access-Control-Max-Age": "86400",
}


def conditional(
    request: Request,
    body: bytes,
    modified: datetime,
    media_type: str,
    headers: Mapping[str, str],
) -> Response:
    """The answer, or a 304 when the client's copy (If-None-Match / If-Modified-Since) is it."""
    found = validators(body, modified)
    every = {**headers, **found.headers()}
    if not_modified(
        found, request.headers.get("if-none-match"), request.headers.get("if-modified-since")
    ):
        return Response(status_code=304, headers=every)
    return Response(body, media_type=media_type, headers=every)


def routes(
    board: Board,
    max_sse_clients: int = MAX_SSE_CLIENTS,
    clock: Clock = utc_now,
    subscribe: SubscribeDesk | None = None,
    archive: Archive | None = None,
) -> list[BaseRoute]:
    def reader(request: Request) -> Reader:
        language = negotiate(request.headers.get("accept-language"), board.config.page.language)
        return Reader(language, clock())

    def html(request: Request, text: str, status_code: int = 200) -> Response:
        headers = {
            **NO_CACHE,
            "Vary": "Accept-Language",
            "Content-Language": reader(request).language,
        }
        if status_code != 200:
            return HTMLResponse(text, status_code=status_code, headers=headers)
        view = board.view()
        return conditional(
            request, text.encode(), view.updated_at(), "text/html; charset=utf-8", headers
        )

    def chrome_of(request: Request) -> dict[str, Any]:
        view = board.view()
        return {
            **chrome(view, reader(request)),
            "updated_at": iso(view.updated_at()),
            "updated_human": human(view.updated_at()),
        }

    async def index(request: Request) -> Response:
        return html(request, render_page(board.templates, board.view(), reader(request)))

    async def incident_page(request: Request) -> Response:
        """An open or recent incident (the projection), else a maintenance window (its
        shortlink is the same path), else an incident of the stored history."""
        view = board.view()
        incident_id = request.path_params["incident_id"]
        found = view.find_incident(incident_id)
        who = reader(request)
        if found is None and (window := view.find_maintenance(incident_id)) is not None:
            return html(request, render_maintenance(board.templates, view, window, who))
        if found is None and archive is not None:
            try:
                archived = await archive.incident(incident_id)
            except RedisError:
                log.warning("the history could not be read from Redis", exc_info=True)
                return PlainTextResponse(
                    who.t["history_unavailable"],
                    status_code=503,
                    headers={"Retry-After": "30", **NO_CACHE},
                )
            found = public_view(archived) if archived is not None else None
        if found is None:
            return PlainTextResponse(who.t["not_found"], status_code=404)
        return html(request, render_incident(board.templates, view, found, who))

    async def latest_archived() -> list[Incident]:
        """The newest incidents of the stored history (for the feeds and incidents.json);
        none when Redis does not answer: what the projection knows is still served."""
        if archive is None:
            return []
        try:
            return await archive.latest(board.config.services, FEED_ENTRIES)
        except RedisError:
            log.warning("the history could not be read from Redis", exc_info=True)
            return []

    async def history_page(request: Request) -> Response:
        raw = request.query_params.get("page", "0")
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 3:
            return PlainTextResponse("page must be a whole number", status_code=400)
        number = int(raw)
        if number >= MAX_PAGES:
            return PlainTextResponse("no such page", status_code=404)
        who = reader(request)
        archived: list[Incident] = []
        unavailable = False
        if archive is not None:
            start, end = page_span(who.now, number)
            try:
                archived = await archive.incidents(board.config.services, start, end)
            except RedisError:
                # A status page keeps serving in an outage: what the projection knows, and
                # a notice that older incidents are missing (not cached: no-cache).
                log.warning("the history could not be read from Redis", exc_info=True)
                unavailable = True
        view = board.view()
        page = render_history(board.templates, view, who, number, archived, unavailable)
        return html(request, page)

    def xml(
        render: Callable[[jinja2.Environment, PageView, Sequence[Incident]], str], media_type: str
    ) -> Any:
        async def endpoint(request: Request) -> Response:
            archived = await latest_archived()
            view = board.view()
            body = render(board.templates, view, archived).encode()
            return conditional(request, body, view.updated_at(), media_type, API_HEADERS)

        return endpoint

    async def badge_svg(request: Request) -> Response:
        view = board.view()
        component = request.query_params.get("component")
        if component is None:
            status = view.status()
            svg = badge.render("status", status.description, status.indicator)
        elif component in board.config.services:
            state = view.state(component).component_status
            svg = badge.render(
                board.config.services[component].name, COMPONENT_STATUS_WORDS[state], str(state)
            )
        elif component in board.config.groups:
            state = view.group_status(component)
            svg = badge.render(
                board.config.groups[component].name, COMPONENT_STATUS_WORDS[state], str(state)
            )
        else:
            return PlainTextResponse("no such component", status_code=404)
        return conditional(
            request, svg.encode(), view.updated_at(), "image/svg+xml; charset=utf-8", API_HEADERS
        )

    def api(build: Callable[[PageView], dict[str, Any]]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            view = board.view()
            body = json.dumps(build(view), separators=(",", ":"), ensure_ascii=False).encode()
            return conditional(request, body, view.updated_at(), "application/json", API_HEADERS)

        return endpoint

    async def incidents_api(request: Request) -> Response:
        """incidents.json: the 50 most recent, the stored history's included."""
        archived = await latest_archived()
        view = board.view()
        doc = view.incidents_json(archived=archived)
        body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        return conditional(request, body, view.updated_at(), "application/json", API_HEADERS)

    async def page_json(request: Request) -> Response:
        """The whole page as the live stream's `snapshot` carries it (the same document, built
        once per change): what live.js polls when the stream is refused, and renders as it
        renders the snapshot."""
        body = board.snapshot().encode()
        return conditional(
            request, body, board.view().updated_at(), "application/json", API_HEADERS
        )

    async def preflight(_: Request) -> Response:
        return Response(status_code=204, headers=PREFLIGHT)

    # /events is a plain ASGI app writing to the fan-out's clients directly (sse.py says why).
    board.fanout.keepalive = board.keepalive
    board.fanout.on_push = board.metrics.pushed.inc
    events = EventStream(board.fanout, board.snapshot_event, max_sse_clients)

    documents: list[tuple[str, Callable[[PageView], dict[str, Any]]]] = [
        ("summary", PageView.summary_json),
        ("status", PageView.status_json),
        ("components", PageView.components_json),
        ("incidents/unresolved", PageView.unresolved_json),
        ("scheduled-maintenances", PageView.maintenances_json),
        ("scheduled-maintenances/upcoming", PageView.upcoming_json),
        ("scheduled-maintenances/active", PageView.active_json),
    ]
    return [
        Route("/", index, methods=["GET"]),
        Route("/incidents/{incident_id}", incident_page, methods=["GET"]),
        Route("/history", history_page, methods=["GET"]),
        Route(
            "/feed.atom", xml(render_feed, "application/atom+xml; charset=utf-8"), methods=["GET"]
        ),
        Route("/feed.rss", xml(render_rss, "application/rss+xml; charset=utf-8"), methods=["GET"]),
        Route("/badge.svg", badge_svg, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        *subscribe_routes(subscribe, board.templates, chrome_of),
        Route(POLL_PATH, page_json, methods=["GET"]),
        Route(POLL_PATH, preflight, methods=["OPTIONS"]),
        Route("/api/v2/incidents.json", incidents_api, methods=["GET"]),
        Route("/api/v2/incidents.json", preflight, methods=["OPTIONS"]),
        *(
            route
            for name, build in documents
            for route in (
                Route(f"/api/v2/{name}.json", api(build), methods=["GET"]),
                Route(f"/api/v2/{name}.json", preflight, methods=["OPTIONS"]),
            )
        ),
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
    poll_seconds: int = POLL_SECONDS,
    environ: Mapping[str, str] | None = None,
) -> Starlette:
    """The ASGI app. NATS and Redis are opened in the lifespan; `app.state.board` is the page's
    live state (the test and the uvicorn Server read it).

    `replay`: how many past INCIDENTS messages to read again at start-up (and keep for resuming
    browsers); at most the replay buffer's size. `stream_check`: seconds between two checks that
    the INCIDENTS stream is still the one followed (besides one after every reconnect).
    `max_sse_clients`: concurrent `/events` streams; beyond them a 503 with Retry-After.
    `poll_seconds`: how often a page refused the stream polls `/api/page.json`.
    `environ`: where HERALD_SUBSCRIBERS_SECRET and secret references are read (os.environ)."""
    replay = max(0, min(replay, REPLAY_BUFFER))
    board = Board(
        config=config, since=clock(), keepalive=keepalive, clock=clock, poll_seconds=poll_seconds
    )

    nats = NatsConnection(settings.nats_url, "herald-statuspage")
    redis = open_redis(settings.redis_url)
    services = list(config.services)
    subscription = IncidentSubscription(nats.js, redis, services, settings.stream_replicas)
    # NATS may have come back without its streams, or an operator re-created them: check now.
    watch = Recheck("incidents-stream", subscription.check, interval=stream_check)
    nats.on_reconnected(watch.wake)
    subscribe = subscribe_desk(
        config, dict(os.environ if environ is None else environ), nats, redis, clock
    )
    archive = Archive(redis, config)

    async def write_history(batch: list[Callable[[], list[ScriptCall]]]) -> None:
        """The writes waiting, in one round trip. Redis failing loses this replica's writes
        only: the others write them too, and a restarted replica writes its snapshots and the
        events it replays again."""
        try:
            await archive.write([call for writes in batch for call in writes()])
        except RedisError:
            log.warning("writing the history failed", exc_info=True)

    history_writes: HistoryWrites[Callable[[], list[ScriptCall]]] = HistoryWrites(write_history)

    def record(item: Item) -> None:
        """Queue what the item leaves in the history (every replica writes it: idempotent
        writes), as of now; worked out by the history's task, off the fold."""
        now = clock()
        if isinstance(item, Reset):
            snapshots = list(board.projection.values())

            def writes() -> list[ScriptCall]:
                return archive.snapshot_calls(snapshots, now)
        else:
            data = item.data

            def writes() -> list[ScriptCall]:
                return archive.message_calls(data, now)

        history_writes.add(writes)

    async def fold(items: AsyncIterator[Item]) -> None:
        async for item in items:
            try:
                board.apply(item)
            except Exception:  # one bad item must not stop the page from following the stream
                log.exception("folding an INCIDENTS item failed")
                continue
            record(item)

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
            first = await anext(items)
            board.apply(first)  # the Reset: the snapshots (and the history), before serving
            history_writes.start()
            record(first)
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
            await history_writes.stop()
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
        routes=routes(board, max_sse_clients, clock, subscribe, archive),
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.board = board
    app.state.probes = probe_app(checks, board.metrics.registry)  # the internal port
    return app


PUBLISH_TIMEOUT_SECONDS = 5.0


def subscribe_desk(
    config: HeraldConfig, env: Mapping[str, str], nats: NatsConnection, redis: Any, clock: Clock
) -> SubscribeDesk | None:
    """Sign-up, when `subscribers.enabled` and a secret is set (else its routes answer 404)."""
    if not config.subscribers.enabled:
        return None
    key = subscribers_secret(config, env)
    if key is None:
        log.warning(
            "subscribers.enabled but no secret (subscribers.secret or HERALD_SUBSCRIBERS_SECRET)"
        )
        return None

    async def publish(request: SubscriptionRequested) -> None:
        await nats.js.publish(
            subscription_subject(request.channel),
            request.model_dump_json().encode(),
            timeout=PUBLISH_TIMEOUT_SECONDS,
            headers={"Nats-Msg-Id": request.event_id},
        )

    cfg = config.subscribers
    limits = SignupLimits(redis, key, cfg.signups_per_ip, cfg.signups_per_address)
    return SubscribeDesk(config, key, SubscriberStore(redis), limits, publish, clock)


class Server(uvicorn.Server):
    """uvicorn, but open event streams end as soon as shutdown starts (instead of holding it)."""

    def __init__(self, config: uvicorn.Config, board: Board) -> None:
        super().__init__(config)
        self.board = board

    async def shutdown(self, sockets: Any = None) -> None:
        self.board.fanout.close()
        await super().shutdown(sockets)
