"""The correlator alone under the storm's messages: its CPU per alert, without the stack.

Usage, from the repository root:

    uv run python -m bench.correlation --quick       # 5,000 alerts over 50 services, then 500
    uv run python -m bench.correlation               # 50,000 over 500
    uv run python -m bench.correlation --alerts 5000 --services 500 --batch 1024

bench.storm runs the whole stack on the shared 2-core machine, where the correlator's rate moves
with everything else that runs (the status page and the notifier fold its events on the same
cores). Here the correlator's use case (`Correlator.handle_batch`, as its consumer calls it) runs
in this process over real Redis and real JetStream (its store and its publisher as deployed),
fed the same messages ingest would publish for bench.storm's spread shape (the alerts of each
webhook, then its group report), in batches of `--batch`; first every alert firing, then every
one resolved. Measured per phase: alerts per second and this process's CPU time per 1,000
alerts (`time.process_time`: the correlator's own work, what the servers do is not in it), beside
the floor of bench.floor (bare fetch + EVALSHA + publish + ack) on the same servers.

A benchmark, not a test: nothing here asserts a timing, and pytest never collects it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import nats
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from bench import floor as floors
from bench.report import Figure, figures_table
from bench.storm import GOAL_CORRELATOR, config_doc, service_ids, storm_bodies
from bench.testbed import machine
from herald.correlator.app import MAX_BATCH
from herald.correlator.consumer import Correlator
from herald.correlator.metrics import CorrelatorMetrics
from herald.correlator.publisher import IncidentPublisher
from herald.correlator.store import CorrelatorStore
from herald.ingest.alertmanager import WebhookMessage
from herald.ingest.normalize import alert_events, group_report
from herald.shared.config import HeraldConfig
from herald.shared.runtime import NatsConnection
from herald.shared.streams import ensure_streams
from tests.infra import real_infra

INTEGRATION = "alertmanager"


def messages(bodies: Sequence[bytes], received_at: datetime) -> list[bytes]:
    """What ingest publishes for `bodies`: each alert's event, then the webhook's group report."""
    out: list[bytes] = []
    for body in bodies:
        message = WebhookMessage.model_validate_json(body)
        events = list(alert_events(message, INTEGRATION, received_at))
        out.extend(e.model_dump_json().encode() for e in events)
        report = group_report(INTEGRATION, message.group_key, events, 0, received_at)
        out.append(report.model_dump_json().encode())
    return out


@dataclass(frozen=True)
class Run:
    name: str
    alerts: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds

    @property
    def cpu_ms_per_1000(self) -> float:
        return self.cpu / self.alerts * 1e6


async def run(options: argparse.Namespace, nats_url: str, redis_url: str) -> list[Figure]:
    ids = service_ids(options.services)
    config = HeraldConfig.model_validate(config_doc(ids))
    starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    phases = [
        (name, storm_bodies(options.alerts, ids, options.per_webhook, starts_at, resolved))
        for name, resolved in (("firing", False), ("resolving", True))
    ]
    nc = await nats.connect(nats_url, name="herald-bench-correlation")
    payload = json.loads(phases[0][1][0])["alerts"][0]
    floor = await floors.measure(
        nc,
        redis_url,
        json.dumps(payload).encode(),
        min(options.alerts, 10_000),
        options.per_webhook,
        8,
    )
    await nc.close()
    connection = NatsConnection(nats_url, "herald-bench-correlator")
    await connection.connect()
    await ensure_streams(connection.js)
    redis = Redis.from_url(redis_url)
    metrics = CorrelatorMetrics(CollectorRegistry())
    store = CorrelatorStore(redis, config)
    correlator = Correlator(
        store,
        config,
        IncidentPublisher(connection, metrics, encode=store.event_json),  # as app.py wires it
        metrics,
        lambda: datetime.now(UTC),
    )
    runs: list[Run] = []
    try:
        for name, bodies in phases:
            batch = messages(bodies, datetime.now(UTC))
            started, cpu = time.perf_counter(), time.process_time()
            for first in range(0, len(batch), options.batch):
                results = await correlator.handle_batch(batch[first : first + options.batch])
                failed = [r for r in results if isinstance(r, Exception)]
                if failed:
                    raise RuntimeError(f"{len(failed)} messages failed: {failed[0]!r}")
            runs.append(
                Run(name, options.alerts, time.perf_counter() - started, time.process_time() - cpu)
            )
            print(
                f"  {name}: {runs[-1].rate:,.0f} alerts/s, "
                f"CPU {runs[-1].cpu_ms_per_1000:,.0f} ms per 1,000 alerts",
                file=sys.stderr,
                flush=True,
            )
    finally:
        await connection.close()
        await redis.aclose()
    label = (
        f"correlator alone {options.alerts:,} over {options.services} svc, batch {options.batch}"
    )
    out: list[Figure] = []
    for r in runs:
        out.append(
            Figure(
                f"{label}: {r.name}",
                r.rate,
                "alerts/s",
                "higher",
                floor.step,
                "bare fetch+EVALSHA+publish+ack",
                GOAL_CORRELATOR,
            )
        )
        out.append(
            Figure(
                f"{label}: {r.name} CPU per 1,000",
                r.cpu_ms_per_1000,
                "ms",
                "lower",
                note="this process's CPU time (the correlator's own work)",
            )
        )
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.correlation",
        description="The correlator's use case alone over real Redis and JetStream.",
    )
    parser.add_argument("--quick", action="store_true", help="5,000 alerts over 50 services")
    parser.add_argument("--alerts", type=int, help="alerts (50,000; --quick 5,000)")
    parser.add_argument("--services", type=int, help="services (500; --quick 50)")
    parser.add_argument("--per-webhook", type=int, default=100, help="alerts per webhook (100)")
    parser.add_argument(
        "--batch",
        type=int,
        default=MAX_BATCH,
        help=f"messages per batch ({MAX_BATCH:,}: the most the correlator's consumer asks for, "
        "which a storm on a quiet machine reaches)",
    )
    args = parser.parse_args(argv)
    args.alerts = args.alerts or (5_000 if args.quick else 50_000)
    args.services = args.services or (50 if args.quick else 500)
    return args


def figures(argv: Sequence[str] = ()) -> list[Figure]:
    """Run the benchmark (`argv` as on the command line) and return its figures (`make bench`)."""
    options = parse_args(list(argv))
    with real_infra() as infra:
        return asyncio.run(run(options, infra.nats_url, infra.redis_url))


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    rows = figures(sys.argv[1:] if argv is None else argv)
    print(f"Herald correlator alone; {machine()}; {time.perf_counter() - started:.0f} s")
    print(figures_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
