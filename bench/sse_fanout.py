"""The status page's SSE fan-out with many browsers: Herald's `/events` against a bare Starlette
StreamingResponse broadcaster, measured in the same run.

Usage, from the repository root:

    uv run python -m bench.sse_fanout              # 10,000 clients, 5 broadcasts each
    uv run python -m bench.sse_fanout -n 1000      # small: a few seconds
    uv run python -m bench.sse_fanout --help

What it does, for each of two servers in turn (each its own process, as uvicorn serves it in
production, with uvloop and httptools; the clients live in this process):

- bare:   a Starlette app whose `/events` is a StreamingResponse over an async generator with
          one asyncio.Queue per client; a broadcast puts one pre-encoded frame in every queue.
          The floor: no replay buffer, no snapshot, no security headers, no limits.
- herald: the status page's own routes (`herald.statuspage.app.routes`) on its Board, with the
          example herald.yaml; a broadcast folds one `component.status_changed` event into the
          board (`Board.receive`, as an INCIDENTS message would), which pushes it to every client.

and measures:

- connect: the time to open N connections (at most `--concurrency` connecting at once) until
  each has received its first frame (Herald: the page snapshot);
- memory: the server's resident memory after N connections, minus before, per connection;
- delivery: from the HTTP POST that triggers a broadcast until each client has the change
  (raw asyncio sockets: the client side is cheap); p50, p99 and max over the clients, the median
  over `--rounds` broadcasts.

Each Herald figure is reported as a ratio to the bare one. Clients are raw asyncio protocols, not
httpx, so that the measuring side costs little; on a 2-CPU machine both sides still share the
CPUs, which is why only the ratios are comparable between machines.

A benchmark, not a test: nothing here asserts a timing, and pytest never collects it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import Figure, Goal, percentile

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "herald.yaml"
SERVICE = "payments-api"
STATUSES = ("major_outage", "operational")
TIMEOUT = 60.0
"""Seconds a phase (connecting everyone, one broadcast) may take before the run is broken."""


def raise_open_files() -> int:
    """Raise this process's open-files limit to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the servers (run in a subprocess: `python -m bench.sse_fanout --serve KIND --port P`) ------


def bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    queues: set[asyncio.Queue[bytes]] = set()
    hello = b"retry: 3000\n\nid: 0\nevent: snapshot\ndata: {}\n\n"
    version = 0

    async def events(_: Request) -> Response:
        queue: asyncio.Queue[bytes] = asyncio.Queue(100)

        async def body() -> AsyncIterator[bytes]:
            queues.add(queue)
            try:
                yield hello
                while True:
                    yield await queue.get()
            finally:
                queues.discard(queue)

        return StreamingResponse(body(), media_type="text/event-stream")

    async def change(_: Request) -> Response:
        nonlocal version
        version += 1
        started = time.perf_counter()
        frame = f'id: {version}\nevent: change\ndata: {{"version":{version}}}\n\n'.encode()
        for queue in list(queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(frame)
        return PlainTextResponse(f"{time.perf_counter() - started:.6f}")

    return Starlette(
        routes=[Route("/events", events), Route("/_bench/change", change, methods=["POST"])]
    )


def herald_app() -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from herald.shared.config import load_config
    from herald.shared.events import ComponentStatus, ComponentStatusChanged
    from herald.shared.security import SecurityHeaders
    from herald.statuspage import app as statuspage
    from herald.statuspage.board import Board

    board = Board(config=load_config(CONFIG), since=datetime.now(UTC))
    board.load({})
    set_epoch = getattr(board.fanout, "set_epoch", None)
    if set_epoch is not None:
        set_epoch(int(time.time() * 1000))
    version = 0

    async def change(_: Request) -> Response:
        nonlocal version
        version += 1
        previous, status = STATUSES[version % 2], STATUSES[(version + 1) % 2]
        event = ComponentStatusChanged(
            event_id=f"bench-{version}",
            occurred_at=datetime.now(UTC),
            service=SERVICE,
            version=version,
            status=ComponentStatus(status),
            previous_status=ComponentStatus(previous),
        )
        started = time.perf_counter()
        board.receive(event.model_dump_json().encode(), version)  # folds, then writes to all
        return PlainTextResponse(f"{time.perf_counter() - started:.6f}")

    routes = [*statuspage.routes(board), Route("/_bench/change", change, methods=["POST"])]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


def serve(kind: str, port: int) -> None:
    import uvicorn

    raise_open_files()
    app = bare_app() if kind == "bare" else herald_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    if kind == "herald":
        gc.freeze()  # as the status page does once started: start-up objects are never scanned
    config = uvicorn.Config(app, log_level="warning", lifespan="off", backlog=4096)
    print("ready", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


# -- the clients (this process) ---------------------------------------------------------------


class SseReader(asyncio.Protocol):
    """One raw SSE client: sends the request, watches the bytes for what the run waits for."""

    def __init__(self, request: bytes, run: Run) -> None:
        self.request = request
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.connected = False
        self.seen = 0
        """The highest broadcast version this client has received."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        text = self.tail + data
        self.tail = text[-64:]
        if not self.connected and b"event: snapshot" in text:
            self.connected = True
            self.run.on_connected()
        marker = self.run.marker
        if marker is not None and self.seen < self.run.version and marker in text:
            self.seen = self.run.version
            self.run.on_delivered(now)

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.lost += 1
        if not self.connected or self.seen < self.run.version:
            self.run.fail(f"a client lost its connection: {exc!r}")


class Run:
    """What one measurement waits for: N first frames, then N deliveries of each broadcast."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.connected = 0
        self.expected = 0
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.version = 0
        self.marker: bytes | None = None
        self.started = 0.0
        self.delays: list[float] = []
        self.lost = 0

    def wait_for(self, expected: int) -> asyncio.Future[None]:
        self.expected = expected
        self.done = self.loop.create_future()
        return self.done

    def on_connected(self) -> None:
        self.connected += 1
        if self.connected >= self.expected and not self.done.done():
            self.done.set_result(None)

    def on_delivered(self, now: float) -> None:
        self.delays.append(now - self.started)
        if len(self.delays) >= self.expected and not self.done.done():
            self.done.set_result(None)

    def fail(self, why: str) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(why))


@dataclass(frozen=True)
class Figures:
    kind: str
    clients: int
    connect_seconds: float
    bytes_per_client: float
    p50: float
    p99: float
    worst: float
    server: float
    """Seconds the server spent in the request that broadcasts (herald: writing to everyone;
    bare: filling the queues, the writing happens after it in each client's task)."""


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def post(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    body = await reader.read()
    writer.close()
    return body.partition(b"\r\n\r\n")[2]


async def measure(kind: str, port: int, pid: int, options: Options) -> Figures:
    run = Run()
    request = (
        b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
        b"Cache-Control: no-cache\r\n\r\n"
    )
    before = rss_bytes(pid)
    transports: list[asyncio.BaseTransport] = []
    slots = asyncio.Semaphore(options.concurrency)
    first_frames = run.wait_for(options.clients)

    async def connect_one() -> None:
        async with slots:
            transport, _ = await run.loop.create_connection(
                lambda: SseReader(request, run), "127.0.0.1", port
            )
            transports.append(transport)

    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(connect_one() for _ in range(options.clients))), TIMEOUT
    )
    await asyncio.wait_for(first_frames, TIMEOUT)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(1.0)  # let the server settle before reading its memory
    per_client = (rss_bytes(pid) - before) / options.clients

    rounds: list[tuple[float, float, float, float]] = []
    try:
        for index in range(options.warmup + options.rounds):
            run.delays = []
            run.version += 1
            if kind == "herald":
                run.marker = f'"version":{run.version},'.encode()
            else:
                run.marker = f'"version":{run.version}}}'.encode()
            done = run.wait_for(options.clients)
            run.started = time.perf_counter()
            server = float(await post(port, "/_bench/change"))
            await asyncio.wait_for(done, TIMEOUT)
            if index >= options.warmup:
                delays = run.delays
                rounds.append((percentile(delays, 50), percentile(delays, 99), max(delays), server))
            await asyncio.sleep(0.5)
    finally:
        for transport in transports:
            transport.close()
    return Figures(
        kind,
        options.clients,
        connect_seconds,
        per_client,
        statistics.median(r[0] for r in rounds),
        statistics.median(r[1] for r in rounds),
        statistics.median(r[2] for r in rounds),
        statistics.median(r[3] for r in rounds),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def measure_server(kind: str, options: Options) -> Figures:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sse_fanout",
        "--serve",
        kind,
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
        if line.strip() != b"ready":
            raise RuntimeError(f"the {kind} server did not start")
        await asyncio.sleep(0.3)  # uvicorn starts serving just after it prints
        return await measure(kind, port, proc.pid, options)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass(frozen=True)
class Options:
    clients: int
    rounds: int
    warmup: int
    concurrency: int
    only: str | None


def report(figures: list[Figures], options: Options) -> str:
    bare = next((f for f in figures if f.kind == "bare"), None)
    header = (
        f"{'server':<8} {'clients':>7} {'connect s':>10} {'kB/client':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'server ms':>10}"
    )
    lines = [header, "-" * len(header)]
    for f in figures:
        lines.append(
            f"{f.kind:<8} {f.clients:>7} {f.connect_seconds:>10.2f} {f.bytes_per_client / 1e3:>10.1f} "
            f"{f.p50 * 1e3:>8.1f} {f.p99 * 1e3:>8.1f} {f.worst * 1e3:>8.1f} "
            f"{f.server * 1e3:>10.1f}"
        )
    herald = next((f for f in figures if f.kind == "herald"), None)
    if bare is not None and herald is not None:

        def r(a: float, b: float) -> str:
            return f"{a / b:.2f}x" if b > 0 else "-"

        lines.append(
            f"{'ratio':<8} {'':>7} {r(herald.connect_seconds, bare.connect_seconds):>10} "
            f"{r(herald.bytes_per_client, bare.bytes_per_client):>10} {r(herald.p50, bare.p50):>8} "
            f"{r(herald.p99, bare.p99):>8} {r(herald.worst, bare.worst):>8}"
        )
        lines.append("ratio = herald / bare, both measured in this run")
    lines.append(
        f"delivery: POST that triggers a broadcast -> each client has it; the median of "
        f"{options.rounds} broadcasts (+{options.warmup} warm-up); server ms: time in the "
        "request that broadcasts (herald writes to every socket in it, bare only fills queues)"
    )
    return "\n".join(lines)


async def run(options: Options) -> int:
    figures = []
    for kind in ("bare", "herald"):
        if options.only in (None, kind):
            figures.append(await measure_server(kind, options))
    print(
        f"SSE fan-out: {options.clients} clients, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print()
    print(report(figures, options))
    print(json.dumps([f.__dict__ for f in figures]), file=sys.stderr)
    return 0


def parse_args(argv: list[str] | None) -> tuple[Options, str | None, int]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sse_fanout",
        description="SSE fan-out to many clients, Herald's /events against a bare broadcaster.",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 clients, 3 broadcasts")
    parser.add_argument("-n", "--clients", type=int, help="clients (10000; --quick 1000)")
    parser.add_argument("--rounds", type=int, help="measured broadcasts (5; --quick 3)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured first broadcasts (1)")
    parser.add_argument(
        "--concurrency", type=int, default=200, help="connections opening at once (200)"
    )
    parser.add_argument("--only", choices=("bare", "herald"), help="measure one server only")
    parser.add_argument("--serve", choices=("bare", "herald"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clients is None:
        args.clients = 1_000 if args.quick else 10_000
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.clients < 1 or args.rounds < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--clients, --rounds and --concurrency must be at least 1")
    options = Options(args.clients, args.rounds, args.warmup, args.concurrency, args.only)
    return options, args.serve, args.port


def main(argv: list[str] | None = None) -> int:
    options, serving, port = parse_args(argv)
    if serving is not None:
        serve(serving, port)
        return 0
    limit = raise_open_files()
    if options.clients + 100 > limit:
        print(f"{options.clients} clients need more than {limit} open files", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:
        return asyncio.run(run(options))
    return uvloop.run(run(options))


if __name__ == "__main__":
    sys.exit(main())


def figures(argv: Sequence[str] = ()) -> list[Figure]:
    """For `make bench`: both servers, and issue 10's goals (p99 of one change to every client at
    most 250 ms, at most 28 kB per connection, connecting at most 1.5x the bare server)."""
    options, _, _ = parse_args(list(argv))
    if options.clients + 100 > raise_open_files():
        return [Figure("sse fan-out", None, "ms", "lower", note="not enough open files")]
    bare, herald = (asyncio.run(measure_server(kind, options)) for kind in ("bare", "herald"))
    n = f"{options.clients} SSE clients"
    return [
        Figure(
            f"{n}: connect all",
            herald.connect_seconds,
            "s",
            "lower",
            floor=bare.connect_seconds,
            floor_name="bare StreamingResponse",
            goal=Goal(1.5 * bare.connect_seconds, "lower"),
        ),
        Figure(
            f"{n}: memory per connection",
            herald.bytes_per_client / 1e3,
            "kB",
            "lower",
            floor=bare.bytes_per_client / 1e3,
            floor_name="bare StreamingResponse",
            goal=Goal(28, "lower"),
        ),
        Figure(
            f"{n}: one change to all, p99",
            herald.p99 * 1e3,
            "ms",
            "lower",
            floor=bare.p99 * 1e3,
            floor_name="bare StreamingResponse",
            goal=Goal(250, "lower"),
        ),
    ]
