"""Ingest's throughput against a bare floor, under wrk-like load (issue 11, "Faster").

Usage, from the repository root:

    uv run python -m bench.ingest             # 3 rounds of 5 s per server and shape
    uv run python -m bench.ingest --quick     # 1 round of 3 s
    uv run python -m bench.ingest --rounds 5 --seconds 10 --python-load

What it does: starts its own `nats-server -js` (tests/infra.py's `real_infra()`), then two
uvicorn processes of one worker each on it:

- herald: `python -m herald.ingest` as deployed (examples/herald.yaml, one integration, the
  default log level INFO unless `--log-level`), publishing to Herald's ALERTS stream;
- floor:  `python -m bench.bare_ingest`, a bare Starlette app that validates the same body with
  pydantic and publishes every alert to a stream of its own with ALERTS's config, awaiting the
  acks (see that module).

A load generator in a process of its own (wrk with one thread when installed, else
bench.http_load) keeps `--connections` (16) keep-alive connections busy, each sending the next
webhook when the previous one was answered, every webhook with alerts never sent before. Shapes:
1-alert and 100-alert webhooks. Each round runs every shape against both servers, alternating
which goes first, each run preceded by a 1 s warm-up; the streams are purged between runs. The
figures are medians over the rounds, and the ratio is the median of each round's ratio (the
machine is shared: only ratios measured side by side mean much).

After each Herald run the ALERTS stream must hold at least as many alerts as were answered 2xx
(the durability promise); a shortfall is reported in the figure's note.

A benchmark, not a test: nothing here asserts a timing, and pytest never collects it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import nats
from nats.aio.client import Client as NatsClient

from bench import bare_ingest, http_load, wrk
from bench.load_result import LoadResult
from bench.report import Figure, Goal, figures_table
from bench.testbed import machine
from bench.webhook_bodies import Bodies
from herald.shared.streams import stream_configs
from herald.shared.subjects import ALERTS_STREAM
from tests.infra import Infra, free_port, real_infra

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "herald.yaml"
TOKEN = "bench-token"  # noqa: S105 - the inbound token of a throwaway server
READY_TIMEOUT = 30.0
WARMUP_SECONDS = 1.0

GOAL_RATIO_1 = Goal(0.8, "higher")
"""Issue 11: 1-alert webhooks at least 0.8 of the floor's rate."""
GOAL_ALERTS_100 = Goal(20_000, "higher")
"""Issue 11: at least 20,000 alerts/s per worker with 100-alert webhooks."""


@dataclass(frozen=True)
class Options:
    rounds: int
    seconds: float
    connections: int
    shapes: tuple[int, ...]
    log_level: str
    python_load: bool
    show_logs: bool


@dataclass
class Server:
    """A uvicorn process under test."""

    name: str
    url: str
    path: str
    stream: str
    proc: asyncio.subprocess.Process
    log: IO[bytes]

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        self.log.seek(0)
        return b"".join(self.log.readlines()[-lines:]).decode(errors="replace")


async def _wait_ready(server: Server, probe: str) -> None:
    """Poll `probe` (a URL: Herald's is on its internal port) until it answers 200."""
    deadline = time.monotonic() + READY_TIMEOUT
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if server.proc.returncode is not None:
                break
            try:
                response = await http.get(probe)
                if response.status_code == 200 and b"connecting" not in response.content:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} did not become ready:\n{server.log_tail()}")


@asynccontextmanager
async def server(
    name: str, module: str, env: dict[str, str], port: int, path: str, stream: str, probe: str
) -> AsyncIterator[Server]:
    with tempfile.TemporaryFile() as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, env=env, stdout=log, stderr=log, cwd=ROOT
        )
        srv = Server(name, f"http://127.0.0.1:{port}", path, stream, proc, log)
        try:
            await _wait_ready(srv, probe)
            yield srv
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


@asynccontextmanager
async def servers(infra: Infra, options: Options) -> AsyncIterator[tuple[Server, Server]]:
    """Herald's ingest and the floor, both ready."""
    herald_env = infra.stack_env(
        CONFIG, HERALD_DEMO_TOKEN=TOKEN, HERALD_LOG_LEVEL=options.log_level
    )
    herald_env.pop("HERALD_DEMO_PAGER_URL", None)
    herald_port = int(herald_env["HERALD_INGEST_PORT"])
    herald_internal = int(herald_env["HERALD_INGEST_INTERNAL_PORT"])
    floor_port = free_port()
    floor_env = {**herald_env, "BENCH_FLOOR_PORT": str(floor_port)}
    async with (
        server(
            "herald",
            "herald.ingest",
            herald_env,
            herald_port,
            f"/hooks/inbound/{TOKEN}",
            ALERTS_STREAM,
            f"http://127.0.0.1:{herald_internal}/readyz",
        ) as herald,
        server(
            "floor",
            "bench.bare_ingest",
            floor_env,
            floor_port,
            bare_ingest.PATH,
            bare_ingest.STREAM,
            f"http://127.0.0.1:{floor_port}/healthz",
        ) as floor,
    ):
        yield herald, floor


async def open_floor_stream(nc: NatsClient) -> None:
    """The floor's stream: ALERTS's config (file storage, duplicate window, bounds) renamed."""
    alerts = next(c for c in stream_configs() if c.name == ALERTS_STREAM)
    config = dataclasses.replace(
        alerts, name=bare_ingest.STREAM, subjects=[f"{bare_ingest.SUBJECT}"]
    )
    await nc.jetstream().add_stream(config)


@dataclass
class Run:
    """One load run against one server."""

    server: str
    alerts: int
    load: LoadResult
    stored: int

    @property
    def alerts_rate(self) -> float:
        return self.load.rate * self.alerts


@dataclass
class Runs:
    runs: list[Run] = field(default_factory=list)
    tags: int = 0

    def next_tag(self) -> str:
        self.tags += 1
        return f"{self.tags:02x}"

    def of(self, name: str, alerts: int) -> list[Run]:
        return [r for r in self.runs if r.server == name and r.alerts == alerts]


async def load(srv: Server, bodies: Bodies, options: Options, seconds: float) -> LoadResult:
    runner = http_load.run if options.python_load or wrk.available() is None else wrk.run
    return await runner(srv.url, srv.path, bodies, options.connections, seconds)


async def one_run(nc: NatsClient, srv: Server, alerts: int, options: Options, runs: Runs) -> Run:
    await load(srv, Bodies.of(alerts, runs.next_tag()), options, WARMUP_SECONDS)
    js = nc.jetstream()
    await js.purge_stream(srv.stream)
    result = await load(srv, Bodies.of(alerts, runs.next_tag()), options, options.seconds)
    stored = (await js.stream_info(srv.stream)).state.messages
    await js.purge_stream(srv.stream)
    run = Run(srv.name, alerts, result, stored)
    print(
        f"bench.ingest: {srv.name:6} {alerts:3} alerts/webhook: {result.rate:8,.0f} req/s "
        f"{run.alerts_rate:9,.0f} alerts/s ({result.tool}; {result.non_2xx} non-2xx, "
        f"{result.errors} errors)",
        file=sys.stderr,
        flush=True,
    )
    return run


async def measure(infra: Infra, options: Options) -> Runs:
    runs = Runs()
    nc = await nats.connect(infra.nats_url, name="bench-ingest")
    try:
        await open_floor_stream(nc)
        async with servers(infra, options) as (herald, floor):
            try:
                for round_no in range(options.rounds):
                    for alerts in options.shapes:
                        pair = (herald, floor) if round_no % 2 == 0 else (floor, herald)
                        for srv in pair:
                            runs.runs.append(await one_run(nc, srv, alerts, options, runs))
            except BaseException:
                for srv in (herald, floor):
                    print(f"{srv.name} log:\n{srv.log_tail()}", file=sys.stderr)
                raise
            finally:
                if options.show_logs:
                    print(f"herald log:\n{herald.log_tail()}", file=sys.stderr)
    finally:
        await nc.close()
    return runs


def _notes(herald: Sequence[Run], floor: Sequence[Run]) -> str:
    notes = [f"{len(herald)} rounds, {herald[0].load.tool}" if herald else ""]
    bad = sum(r.load.non_2xx + r.load.errors for r in (*herald, *floor))
    if bad:
        notes.append(f"{bad} non-2xx or errors")
    short = [r for r in herald if r.stored < r.load.ok * r.alerts]
    if short:
        notes.append(f"STORED FEWER ALERTS THAN ANSWERED 2xx in {len(short)} runs")
    return "; ".join(n for n in notes if n)


def figures_of(runs: Runs, options: Options) -> list[Figure]:
    out: list[Figure] = []
    for alerts in options.shapes:
        herald, floor = runs.of("herald", alerts), runs.of("floor", alerts)
        if not herald or not floor:
            continue
        h_rate = statistics.median(r.load.rate for r in herald)
        f_rate = statistics.median(r.load.rate for r in floor)
        ratio = statistics.median(
            h.load.rate / f.load.rate for h, f in zip(herald, floor, strict=True)
        )
        name = f"ingest: {alerts}-alert webhooks"
        floor_name = "bare Starlette + pydantic + JetStream publish"
        notes = _notes(herald, floor)
        out.append(Figure(f"{name}, req/s", h_rate, "req/s", "higher", f_rate, floor_name))
        out.append(
            Figure(
                f"{name}, ratio to floor",
                ratio,
                "x",
                "higher",
                goal=GOAL_RATIO_1 if alerts == 1 else None,
                note=f"median of per-round ratios; {notes}",
            )
        )
        if alerts > 1:
            out.append(
                Figure(
                    f"{name}, alerts/s",
                    h_rate * alerts,
                    "alerts/s",
                    "higher",
                    f_rate * alerts,
                    floor_name,
                    GOAL_ALERTS_100 if alerts == 100 else None,
                    f"one uvicorn worker, c={options.connections}",
                )
            )
    return out


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description="Ingest's webhook throughput against a bare Starlette+pydantic+JetStream app.",
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    parser.add_argument("--rounds", type=int, help="rounds (3; --quick 1)")
    parser.add_argument("--seconds", type=float, help="seconds per run (5; --quick 3)")
    parser.add_argument("-c", "--connections", type=int, default=16, help="connections (16)")
    parser.add_argument(
        "--alerts",
        type=int,
        action="append",
        help="alerts per webhook, repeatable (1 and 100)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="HERALD_LOG_LEVEL of ingest (INFO, the default deployment)",
    )
    parser.add_argument(
        "--python-load", action="store_true", help="use bench.http_load even if wrk is installed"
    )
    parser.add_argument("--show-logs", action="store_true", help="print ingest's log tail")
    args = parser.parse_args(argv)
    options = Options(
        rounds=args.rounds or (1 if args.quick else 3),
        seconds=args.seconds or (3.0 if args.quick else 5.0),
        connections=args.connections,
        shapes=tuple(args.alerts or (1, 100)),
        log_level=args.log_level,
        python_load=args.python_load,
        show_logs=args.show_logs,
    )
    if options.rounds < 1 or options.seconds <= 0 or options.connections < 1:
        parser.error("--rounds, --seconds and --connections must be positive")
    if min(options.shapes) < 1:
        parser.error("--alerts must be at least 1")
    return options


def run(options: Options) -> Runs:
    with real_infra() as infra:
        return asyncio.run(measure(infra, options))


def figures(argv: Sequence[str] = ()) -> list[Figure]:
    """Run the benchmark (`argv` as on the command line) and return its figures (`make bench`)."""
    options = parse_args(list(argv))
    return figures_of(run(options), options)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.perf_counter()
    runs = run(options)
    tool = runs.runs[0].load.tool if runs.runs else "-"
    print(
        f"Herald ingest throughput: {options.rounds} rounds x {options.seconds:g} s, "
        f"c={options.connections} ({tool}), one uvicorn worker each, ingest at log level "
        f"{options.log_level}; {machine()}; {time.perf_counter() - started:.0f} s"
    )
    print(figures_table(figures_of(runs, options)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
