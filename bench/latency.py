"""Latency of Herald's hot path: an Alertmanager webhook POSTed to ingest until the status page's
Server-Sent Events stream shows the change, against two baselines measured in the same run.

Usage, from the repository root:

    uv run python -m bench.latency            # 50 round trips of each path
    uv run python -m bench.latency -n 200     # more rounds, tighter percentiles
    uv run python -m bench.latency --help

What it does: starts its own `nats-server -js` and `redis-server` on free ports (tests/infra.py's
`real_infra()`), runs the four services as processes (devstack/processes.py's `Stack`, as
`make run` does), opens the status page's `/events` stream, then measures, interleaved round by
round so that every path sees the same machine load:

- herald:     POST /hooks/inbound/<token> to ingest -> the SSE event showing payments-api's new
              component status (the POSTs alternate firing/resolved, every firing with a new
              `startsAt`, so each one changes the page);
- jetstream:  a bare JetStream publish (with a Nats-Msg-Id, file storage, like ingest's) -> an
              ordered consumer receiving it, on the same nats-server;
- http:       a bare GET /healthz round trip to ingest, on the same keep-alive HTTP client.

It prints median and p95 of each and the ratios herald/jetstream and herald/http (medians):
absolute times depend on the machine, the ratios much less. The herald path crosses an HTTP
request, two JetStream publishes and consumers (one durable pull, one ordered push), a Redis
script and the SSE fan-out; on a 2-CPU machine it measured about 7-8x the JetStream baseline
and 3x the HTTP one (see bench/README.md).

A benchmark, not a test: nothing here asserts a timing, and pytest never collects it.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import json
import os
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from bench.report import Sample, table
from devstack.processes import SERVICES, Stack, service_env
from tests.infra import Infra, free_port, real_infra
from tests.sse import SseClient, SseEvent

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "herald.yaml"
FIRING_EXAMPLE = ROOT / "examples" / "alerts" / "crashloop-firing.json"
TOKEN = "bench-token"  # noqa: S105 - the inbound token of a throwaway stack
SERVICE = "payments-api"
"""The status-page service the example alert routes to (severity critical -> major_outage)."""
FIRING_STATUS = "major_outage"
RESOLVED_STATUS = "operational"
ZERO_TIME = "0001-01-01T00:00:00Z"
"""What Alertmanager sends as `endsAt` of a firing alert."""

BASELINE_STREAM = "BENCH"
"""The JetStream baseline's own stream: not one of Herald's, so it touches nothing of theirs."""
BASELINE_SUBJECT = "bench.latency"

ROUND_TIMEOUT = 15.0
"""Seconds one round trip may take before the run is declared broken."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def notification(template: Mapping[str, Any], firing: bool, starts_at: datetime) -> dict[str, Any]:
    """The example notification as firing or resolved, every alert starting at `starts_at`."""
    doc = copy.deepcopy(dict(template))
    status = "firing" if firing else "resolved"
    doc["status"] = status
    for alert in doc["alerts"]:
        alert["status"] = status
        alert["startsAt"] = _iso(starts_at)
        alert["endsAt"] = ZERO_TIME if firing else _iso(starts_at + timedelta(minutes=1))
    return doc


def round_notification(
    template: Mapping[str, Any], index: int, base: datetime
) -> tuple[dict[str, Any], str]:
    """Round `index`: even rounds fire (with a new `startsAt`), odd rounds resolve that firing.
    Returns the notification and the component status the page must then show."""
    firing = index % 2 == 0
    starts_at = base + timedelta(minutes=index // 2)
    return notification(template, firing, starts_at), FIRING_STATUS if firing else RESOLVED_STATUS


def shows(event: SseEvent, status: str, after_version: int) -> bool:
    """True when `event` is a change of SERVICE, newer than `after_version`, showing `status`."""
    if event.event == "snapshot":
        return False
    data = event.json()
    return bool(
        data.get("service") == SERVICE
        and data["component"]["status"] == status
        and data["version"] > after_version
    )


@dataclass
class HeraldPath:
    """POST a webhook to ingest, await the status page's SSE event that shows the change."""

    http: httpx.AsyncClient
    hook: str
    sse: SseClient
    version: int = 0
    """Version of SERVICE in the last change we saw: older events never count."""

    async def round_trip(self, body: bytes, status: str) -> float:
        start = time.perf_counter()
        response = await self.http.post(
            self.hook, content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code != 200:
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")
        event = await self.sse.next(lambda e: shows(e, status, self.version), ROUND_TIMEOUT)
        elapsed = time.perf_counter() - start
        self.version = int(event.json()["version"])
        return elapsed


@dataclass
class JetStreamPath:
    """A bare JetStream publish (awaiting the stream's ack) -> an ordered consumer receiving it."""

    nc: NatsClient
    received: asyncio.Queue[Msg] = field(default_factory=asyncio.Queue)
    sent: int = 0

    async def open(self) -> None:
        js = self.nc.jetstream()
        await js.add_stream(
            StreamConfig(
                name=BASELINE_STREAM,
                subjects=[f"{BASELINE_SUBJECT}.>", BASELINE_SUBJECT],
                storage=StorageType.FILE,
                duplicate_window=600,
            )
        )
        await js.subscribe(
            BASELINE_SUBJECT, stream=BASELINE_STREAM, ordered_consumer=True, cb=self.received.put
        )

    async def round_trip(self, payload: bytes) -> float:
        js = self.nc.jetstream()
        self.sent += 1
        start = time.perf_counter()
        await js.publish(
            BASELINE_SUBJECT,
            payload,
            stream=BASELINE_STREAM,
            headers={"Nats-Msg-Id": f"bench-{self.sent}"},
        )
        await asyncio.wait_for(self.received.get(), ROUND_TIMEOUT)
        return time.perf_counter() - start


@dataclass
class HttpPath:
    """A bare HTTP GET /healthz round trip to ingest."""

    http: httpx.AsyncClient
    url: str

    async def round_trip(self) -> float:
        start = time.perf_counter()
        response = await self.http.get(self.url)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"{self.url} answered {response.status_code}")
        return elapsed


@dataclass(frozen=True)
class Options:
    rounds: int
    warmup: int
    log_level: str
    show_logs: bool


async def measure(stack: Stack, nats_url: str, options: Options) -> list[Sample]:
    template = json.loads(FIRING_EXAMPLE.read_text(encoding="utf-8"))
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
    ingest, page = stack.url("ingest"), stack.url("statuspage")
    herald_times: list[float] = []
    jetstream_times: list[float] = []
    http_times: list[float] = []
    nc = await nats.connect(nats_url, name="herald-bench")
    try:
        async with (
            httpx.AsyncClient(timeout=ROUND_TIMEOUT) as http,
            SseClient(f"{page}/events") as sse,
        ):
            await sse.next(lambda e: e.event == "snapshot", ROUND_TIMEOUT)
            herald = HeraldPath(http, f"{ingest}/hooks/inbound/{TOKEN}", sse)
            jetstream = JetStreamPath(nc)
            await jetstream.open()
            healthz = HttpPath(http, f"{ingest}/healthz")
            for index in range(options.warmup + options.rounds):
                doc, status = round_notification(template, index, base)
                body = json.dumps(doc).encode()
                results = (
                    await herald.round_trip(body, status),
                    await jetstream.round_trip(body),
                    await healthz.round_trip(),
                )
                if index >= options.warmup:
                    herald_times.append(results[0])
                    jetstream_times.append(results[1])
                    http_times.append(results[2])
    finally:
        await nc.close()
    return [
        Sample("herald: webhook POST -> SSE event", tuple(herald_times)),
        Sample("jetstream: publish -> ordered consumer", tuple(jetstream_times)),
        Sample("http: GET /healthz (ingest)", tuple(http_times)),
    ]


def stack_env(infra: Infra, options: Options) -> dict[str, str]:
    env = service_env(os.environ, infra.nats_url, infra.redis_url, str(CONFIG))
    for _, var, _ in SERVICES:
        env[var] = str(free_port())
    env.update(HERALD_DEMO_TOKEN=TOKEN, HERALD_LOG_LEVEL=options.log_level)
    env.pop("HERALD_DEMO_PAGER_URL", None)  # the pager channel stays disabled
    return env


async def run(infra: Infra, options: Options) -> int:
    logs: io.StringIO = io.StringIO()
    stack = Stack(stack_env(infra, options), out=sys.stderr if options.show_logs else logs)
    started = time.perf_counter()
    await stack.start()
    try:
        await stack.wait_ready()
        ready = time.perf_counter()
        samples = await measure(stack, infra.nats_url, options)
    except Exception as exc:
        print(f"benchmark failed: {exc!r}", file=sys.stderr)
        if not options.show_logs:
            print("last service log lines:", file=sys.stderr)
            print("".join(logs.getvalue().splitlines(keepends=True)[-40:]), file=sys.stderr)
        return 1
    finally:
        await stack.stop()
    herald = samples[0]
    print(
        f"Herald latency: {options.rounds} rounds (+{options.warmup} warm-up), "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"services at log level {options.log_level}; "
        f"stack ready in {ready - started:.1f}s, measured in {time.perf_counter() - ready:.1f}s"
    )
    print()
    print(table(samples, herald))
    return 0


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency",
        description="Webhook -> status-page SSE latency, with JetStream and HTTP baselines.",
    )
    parser.add_argument("-n", "--rounds", type=int, default=50, help="measured rounds (50)")
    parser.add_argument("--warmup", type=int, default=4, help="unmeasured first rounds (4)")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="HERALD_LOG_LEVEL of the services (WARNING: no per-message log lines)",
    )
    parser.add_argument(
        "--show-logs", action="store_true", help="stream the services' logs to stderr"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1 and --warmup at least 0")
    return Options(args.rounds, args.warmup, args.log_level, args.show_logs)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    with real_infra() as infra:
        return asyncio.run(run(infra, options))


if __name__ == "__main__":
    sys.exit(main())
