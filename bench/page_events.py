"""The status page alone under a storm's INCIDENTS events: its CPU per event, without the stack.

Usage, from the repository root:

    uv run python -m bench.page_events --quick          # 5,000 alerts over 500 services
    uv run python -m bench.page_events                  # 50,000 over 500
    uv run python -m bench.page_events --save /tmp/storm.events   # keep the recording
    uv run python -m bench.page_events --events /tmp/storm.events # fold a recording again

bench.storm showed the status page using several times the correlator's CPU while a storm
resolved, on the same 2 cores. Here the page's fold runs in this process, fed the INCIDENTS
messages the correlator really published for bench.storm's spread shape: first the correlator
alone (bench.correlation's use case, over real Redis and JetStream) works through every alert
firing then every one resolved, and the INCIDENTS stream is read back (the recording; `--save`
keeps it, `--events` reads one instead of recording). Then, in `--rounds` rounds, on a fresh
board each round (started as the app starts it: a `Reset`, one connected SSE client):

- floor: decoding and validating each event alone (`INCIDENT_EVENT_ADAPTER.validate_json`),
  the least the page can do with a message;
- fold: `Board.apply` of each message (the projection, the uptime bars, the SSE payload, the
  fan-out to the client), as the app's fold task calls it;
- fold + history: the same, and the history writes the app queues for them, as its history
  task sends them when events come faster than Redis answers (a storm): what waits, at most
  `WRITES_PER_ROUND_TRIP` messages' writes, in one round trip (`Archive.write`) on the real
  Redis.

Reported per phase (firing, resolving): this process's CPU time (`time.process_time`: the
servers' work is not in it) per 1,000 events, and its ratio to the floor of the same round (the
median over the rounds), which the other work on a shared machine moves much less.

A benchmark, not a test: nothing here asserts a timing, and pytest never collects it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nats.js.api import ConsumerConfig, DeliverPolicy
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from bench.correlation import messages
from bench.report import Figure, figures_table
from bench.storm import config_doc, service_ids, storm_bodies
from bench.testbed import machine
from herald.correlator.consumer import Correlator
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.publisher import IncidentPublisher
from herald.correlator.store import CorrelatorStore
from herald.shared.config import HeraldConfig
from herald.shared.events import INCIDENT_EVENT_ADAPTER
from herald.shared.runtime import NatsConnection, ScriptCall
from herald.shared.streams import ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, INCIDENTS_SUBJECTS
from herald.statuspage.archive import WRITES_PER_ROUND_TRIP, Archive
from herald.statuspage.board import Board, Received, Reset
from tests.infra import real_infra

PHASES = ("firing", "resolving")


@dataclass(frozen=True)
class Recording:
    """The INCIDENTS messages of each phase, in stream order: (sequence, data)."""

    services: int
    phases: dict[str, list[tuple[int, bytes]]]

    def save(self, path: Path) -> None:
        """One line per message: phase, sequence, the JSON (which has no line break)."""
        with path.open("wb") as out:
            out.write(f"services {self.services}\n".encode())
            for phase, events in self.phases.items():
                for seq, data in events:
                    out.write(f"{phase} {seq} ".encode() + data + b"\n")

    @classmethod
    def load(cls, path: Path) -> Recording:
        lines = path.read_bytes().splitlines()
        services = int(lines[0].split()[1])
        phases: dict[str, list[tuple[int, bytes]]] = {p: [] for p in PHASES}
        for line in lines[1:]:
            phase, seq, data = line.split(b" ", 2)
            phases[phase.decode()].append((int(seq), data))
        return cls(services, phases)


def storm_config(services: int) -> HeraldConfig:
    return HeraldConfig.model_validate(config_doc(service_ids(services)))


async def incidents_since(js: Any, after: int, until: int) -> list[tuple[int, bytes]]:
    """The INCIDENTS messages with sequences in (after, until], in order."""
    out: list[tuple[int, bytes]] = []
    if until <= after:
        return out
    done = asyncio.get_running_loop().create_future()

    async def on_message(msg: Any) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= until:
            out.append((seq, msg.data))
        if seq >= until and not done.done():
            done.set_result(None)

    sub = await js.subscribe(
        INCIDENTS_SUBJECTS,
        stream=INCIDENTS_STREAM,
        cb=on_message,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        config=ConsumerConfig(opt_start_seq=after + 1),
    )
    try:
        await asyncio.wait_for(done, 120)
    finally:
        await sub.unsubscribe()
    return out


async def record(options: argparse.Namespace, nats_url: str, redis_url: str) -> Recording:
    """Run the correlator alone through the storm (firing, then resolving) and read back what it
    published on INCIDENTS in each phase."""
    ids = service_ids(options.services)
    config = storm_config(options.services)
    starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    connection = NatsConnection(nats_url, "herald-bench-page-events")
    await connection.connect()
    await ensure_streams(connection.js)
    redis = Redis.from_url(redis_url)
    metrics = CorrelatorMetrics(CollectorRegistry())
    correlator = Correlator(
        CorrelatorStore(redis, config),
        config,
        IncidentPublisher(connection, metrics),
        metrics,
        lambda: datetime.now(UTC),
    )
    phases: dict[str, list[tuple[int, bytes]]] = {}
    try:
        last = (await connection.js.stream_info(INCIDENTS_STREAM)).state.last_seq
        for phase in PHASES:
            bodies = storm_bodies(
                options.alerts, ids, options.per_webhook, starts_at, phase == "resolving"
            )
            batch = messages(bodies, datetime.now(UTC))
            for first in range(0, len(batch), options.batch):
                results = await correlator.handle_batch(batch[first : first + options.batch])
                failed = [r for r in results if isinstance(r, Exception)]
                if failed:
                    raise RuntimeError(f"{len(failed)} messages failed: {failed[0]!r}")
            now = (await connection.js.stream_info(INCIDENTS_STREAM)).state.last_seq
            phases[phase] = await incidents_since(connection.js, last, now)
            last = now
            print(f"  recorded {phase}: {len(phases[phase]):,} events", file=sys.stderr)
    finally:
        await connection.close()
        await redis.aclose()
    return Recording(options.services, phases)


async def _discard(_: dict[str, Any]) -> None:
    return None


PAGE_AGE = timedelta(days=120)
"""How long ago the board's components appeared: longer than the 90 days of uptime bars, as on
a page that has run for a while (every day of the bars has data)."""


def fresh_board(config: HeraldConfig) -> Board:
    """A board as the app starts it (a Reset with no snapshots), with one connected browser
    whose writes complete at once (as on a fast socket)."""
    board = Board(config=config, since=datetime.now(UTC) - PAGE_AGE)
    board.apply(Reset(epoch=1, floor=0))
    client = board.fanout.connect(None, board.snapshot_event)
    client.pending = None
    client.send = _discard
    return board


def cpu_of(run: Callable[[], None]) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


async def async_cpu_of(run: Callable[[], Awaitable[None]]) -> float:
    started = time.process_time()
    await run()
    return time.process_time() - started


@dataclass
class Round:
    """CPU seconds of each way of handling one phase's events, in one round."""

    floor: float
    fold: float
    history: float | None


async def measure_round(
    config: HeraldConfig, recording: Recording, archive: Archive | None
) -> dict[str, Round]:
    """One round: for each phase the floor, then the fold on a board that has folded the phases
    before it; then (with Redis) the fold and its history writes on another fresh board."""
    board = fresh_board(config)
    out: dict[str, Round] = {}
    for phase, events in recording.phases.items():

        def floor(events: list[tuple[int, bytes]] = events) -> None:
            for _, data in events:
                INCIDENT_EVENT_ADAPTER.validate_json(data)

        def fold(events: list[tuple[int, bytes]] = events) -> None:
            for seq, data in events:
                board.apply(Received(data, seq))

        out[phase] = Round(cpu_of(floor), cpu_of(fold), None)
    if archive is None:
        return out
    board = fresh_board(config)
    for phase, events in recording.phases.items():

        async def both(events: list[tuple[int, bytes]] = events) -> None:
            assert archive is not None
            for first in range(0, len(events), WRITES_PER_ROUND_TRIP):
                calls: list[ScriptCall] = []
                for seq, data in events[first : first + WRITES_PER_ROUND_TRIP]:
                    board.apply(Received(data, seq))
                    calls.extend(archive.message_calls(data, datetime.now(UTC)))
                await archive.write(calls)

        out[phase].history = await async_cpu_of(both)
    return out


def per_1000(seconds: float, count: int) -> float:
    return seconds / count * 1e6 if count else 0.0


async def measure(
    options: argparse.Namespace, recording: Recording, redis_url: str | None
) -> list[Figure]:
    config = storm_config(recording.services)
    redis = Redis.from_url(redis_url) if redis_url else None
    archive = Archive(redis, config) if redis is not None else None
    rounds: list[dict[str, Round]] = []
    try:
        for n in range(options.rounds):
            if redis is not None:
                await redis.flushdb()  # each round writes the history from nothing
            found = await measure_round(config, recording, archive)
            rounds.append(found)
            print(
                f"  round {n + 1}: "
                + "; ".join(
                    f"{phase} floor {per_1000(r.floor, len(recording.phases[phase])):,.0f} ms, "
                    f"fold {per_1000(r.fold, len(recording.phases[phase])):,.0f} ms"
                    + (
                        ""
                        if r.history is None
                        else f", +history "
                        f"{per_1000(r.history, len(recording.phases[phase])):,.0f} ms"
                    )
                    for phase, r in found.items()
                )
                + " per 1,000 events",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if redis is not None:
            await redis.aclose()
    label = f"page fold, {recording.services} svc"
    out: list[Figure] = []
    for phase, events in recording.phases.items():
        count = len(events)
        size = statistics.mean(len(d) for _, d in events) if events else 0.0
        floor_ms = statistics.median(per_1000(r[phase].floor, count) for r in rounds)
        note = f"{count:,} events of {size:,.0f} B; median of {len(rounds)} rounds"
        ways: list[tuple[str, Callable[[Round], float | None]]] = [
            ("fold", lambda r: r.fold),
            ("fold + history write", lambda r: r.history),
        ]
        for name, of in ways:
            values = [of(r[phase]) for r in rounds]
            if any(v is None for v in values):
                continue
            cpu = statistics.median(per_1000(v or 0.0, count) for v in values)
            ratio = statistics.median(
                (of(r[phase]) or 0.0) / r[phase].floor for r in rounds if r[phase].floor > 0
            )
            out.append(
                Figure(
                    f"{label}: {phase} {name} CPU per 1,000 events",
                    cpu,
                    "ms",
                    "lower",
                    floor_ms,
                    "validate_json of the same events",
                    note=f"{note}; median of the per-round ratios {ratio:.2f}x",
                )
            )
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.page_events",
        description="The status page's fold of a storm's INCIDENTS events: CPU per event.",
    )
    parser.add_argument("--quick", action="store_true", help="5,000 alerts over 500 services")
    parser.add_argument("--alerts", type=int, help="alerts (50,000; --quick 5,000)")
    parser.add_argument("--services", type=int, default=500, help="services (500)")
    parser.add_argument("--per-webhook", type=int, default=100, help="alerts per webhook (100)")
    parser.add_argument(
        "--batch", type=int, default=1024, help="the correlator's messages per batch (1,024)"
    )
    parser.add_argument("--rounds", type=int, help="rounds of the measurement (5; --quick 3)")
    parser.add_argument("--save", type=Path, help="write the recording to this file")
    parser.add_argument(
        "--events", type=Path, help="fold this recording (from --save) instead of recording"
    )
    args = parser.parse_args(argv)
    args.alerts = args.alerts or (5_000 if args.quick else 50_000)
    args.rounds = args.rounds or (3 if args.quick else 5)
    return args


async def run(options: argparse.Namespace, nats_url: str | None, redis_url: str | None) -> Any:
    if options.events is not None:
        recording = Recording.load(options.events)
    else:
        assert nats_url is not None
        assert redis_url is not None
        recording = await record(options, nats_url, redis_url)
        if options.save is not None:
            recording.save(options.save)
    return await measure(options, recording, redis_url)


def figures(argv: Sequence[str] = ()) -> list[Figure]:
    """Run the benchmark (`argv` as on the command line) and return its figures (`make bench`)."""
    options = parse_args(list(argv))
    with real_infra() as infra:
        return list(asyncio.run(run(options, infra.nats_url, infra.redis_url)))


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    rows = figures(sys.argv[1:] if argv is None else argv)
    print(f"Herald status page fold alone; {machine()}; {time.perf_counter() - started:.0f} s")
    print(figures_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
