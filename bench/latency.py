"""Latency of Herald's hot path: an Alertmanager webhook POSTed to ingest until the status page's
Server-Sent Events stream shows the change, against two baselines measured in the same run.

Usage, from the repository root:

    uv run python -m bench.latency            # 50 round trips of each path
    uv run python -m bench.latency -n 200     # more rounds, tighter percentiles
    uv run python -m bench.latency --quick    # 10 rounds, a smoke check
    uv run python -m bench.latency --load 500 # while 500 alerts/s of other alerts flow through
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
- http:       a bare GET /healthz round trip to ingest (its internal port: same process, same
              uvicorn server), on the same keep-alive HTTP client.

With `--load R` a background sender keeps R alerts/s of other alerts flowing through the whole
stack while the rounds run (webhooks of `--load-per-webhook` 10 alerts on the `deployments`
service, paced open-loop: a late webhook does not delay the next; each group of alerts alternates
firing and resolved, so every load webhook changes incidents and the page too). The achieved rate
and any non-2xx are reported.

Per hop, each herald round is split by the timestamps JetStream gives the messages it stores
(same machine, same clock): POST -> its alert stored in ALERTS (ingest), -> the first INCIDENTS
event of payments-api stored after it (correlator), -> the SSE frame at the client (status page).

It prints median and p95 of each and the ratios herald/jetstream and herald/http (medians):
absolute times depend on the machine, the ratios much less. The herald path crosses an HTTP
request, two JetStream publishes and consumers (one durable pull, one ordered push), a Redis
script and the SSE fan-out; on a 2-CPU machine it measured about 7-8x the JetStream baseline
and 3x the HTTP one (see bench/README.md).

A benchmark, not a test: nothing here asserts a timing, and pytest never collects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bench.alertmanager import ZERO_TIME, iso
from bench.floor import open_stream
from bench.report import Figure, Goal, Sample, table
from bench.rounds import Options, Rounds
from bench.testbed import machine, running_stack, stack_env
from devstack.processes import Stack
from herald.shared.subjects import ALERT_EVENT_SUBJECTS, ALERTS_STREAM, CORRELATOR_DURABLE
from tests.infra import Infra
from tests.sse import SseClient, SseEvent

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "herald.yaml"
FIRING_EXAMPLE = ROOT / "examples" / "alerts" / "crashloop-firing.json"
TOKEN = "bench-token"  # noqa: S105 - the inbound token of a throwaway stack
SERVICE = "payments-api"
"""The status-page service the example alert routes to (severity critical -> major_outage)."""
FIRING_STATUS = "major_outage"
RESOLVED_STATUS = "operational"

BASELINE_STREAM = "BENCH"
"""The JetStream baseline's own stream: not one of Herald's, so it touches nothing of theirs."""
BASELINE_SUBJECT = "bench.latency"

ROUND_TIMEOUT = 15.0
"""Seconds one round trip may take before the run is declared broken."""

STEP = timedelta(seconds=2)
"""Event time between two instances of an alert (a round's or a load group's firing and the
next), its resolve half of it after its firing (whole seconds: `iso` writes no fraction). Event
times stay today and behind the clock, as a live Alertmanager's are: 400 rounds cover 400 s of
them, 60 s of load at 500 alerts/s about 150 s. (Dated a day back, every status change landed
before today, and the status page computed a component's past bars again on each of its
events: a cost production does not have, measured as the status page's hop.)"""

BASE_AGO = timedelta(minutes=20)
"""How far behind the clock the first event time is."""


def notification(template: Mapping[str, Any], firing: bool, starts_at: datetime) -> dict[str, Any]:
    """The example notification as firing or resolved, every alert starting at `starts_at`."""
    doc = copy.deepcopy(dict(template))
    status = "firing" if firing else "resolved"
    doc["status"] = status
    for alert in doc["alerts"]:
        alert["status"] = status
        alert["startsAt"] = iso(starts_at)
        alert["endsAt"] = ZERO_TIME if firing else iso(starts_at + STEP / 2)
    return doc


def round_notification(
    template: Mapping[str, Any], index: int, base: datetime
) -> tuple[dict[str, Any], str]:
    """Round `index`: even rounds fire (with a new `startsAt`), odd rounds resolve that firing.
    Returns the notification and the component status the page must then show."""
    firing = index % 2 == 0
    starts_at = base + STEP * (index // 2)
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

    posted: float = 0.0
    """Wall-clock time (epoch seconds) of the last round's POST, and of its SSE frame."""
    seen: float = 0.0

    async def round_trip(self, body: bytes, status: str) -> float:
        self.posted = time.time()
        start = time.perf_counter()
        response = await self.http.post(
            self.hook, content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code != 200:
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")
        event = await self.sse.next(lambda e: shows(e, status, self.version), ROUND_TIMEOUT)
        elapsed = time.perf_counter() - start
        self.seen = time.time()
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
        await open_stream(self.nc, BASELINE_STREAM, BASELINE_SUBJECT)
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


LOAD_SERVICE_ALERTNAME = "KubeDeploymentReplicasMismatch"
"""Routes the load's alerts to the `deployments` service (examples/herald.yaml), not to SERVICE."""
LOAD_GROUPS = 20
"""Load alerts are this many aggregation groups, each of `--load-per-webhook` alerts."""


def load_notification(group: int, visit: int, per_webhook: int, base: datetime) -> dict[str, Any]:
    """The `visit`-th notification of load group `group`: even visits fire (a new startsAt each
    time), odd ones resolve them; every alert of the group listed (a whole group)."""
    firing = visit % 2 == 0
    starts_at = base + STEP * (visit // 2)
    status = "firing" if firing else "resolved"
    alerts = []
    for i in range(per_webhook):
        labels = {
            "alertname": LOAD_SERVICE_ALERTNAME,
            "namespace": "production",
            "deployment": f"load-{group:02d}-{i:03d}",
            "severity": "warning",
        }
        alerts.append(
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": "Deployment replicas mismatch (benchmark load)"},
                "startsAt": iso(starts_at),
                "endsAt": ZERO_TIME if firing else iso(starts_at + STEP / 2),
                "generatorURL": "",
                "fingerprint": f"10ad{group:04x}{i:08x}",
            }
        )
    return {
        "version": "4",
        "groupKey": f'{{}}:{{load="{group}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "herald-bench-load",
        "groupLabels": {"load": str(group)},
        "commonLabels": {"alertname": LOAD_SERVICE_ALERTNAME},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.bench:9093",
        "alerts": alerts,
    }


@dataclass
class Load:
    """Background webhooks at `rate` alerts/s (open loop), to ingest, until stopped."""

    http: httpx.AsyncClient
    hook: str
    rate: float
    per_webhook: int
    base: datetime
    sent_alerts: int = 0
    failed: int = 0
    started: float = 0.0
    stopped: float = 0.0
    _task: asyncio.Task[None] | None = None
    _inflight: set[asyncio.Task[None]] = field(default_factory=set)

    async def _post(self, body: bytes) -> None:
        try:
            response = await self.http.post(
                self.hook, content=body, headers={"Content-Type": "application/json"}
            )
            if response.status_code == 200:
                self.sent_alerts += self.per_webhook
            else:
                self.failed += 1
        except httpx.HTTPError:
            self.failed += 1

    async def _run(self) -> None:
        interval = self.per_webhook / self.rate
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        n = 0
        while True:
            group, visit = n % LOAD_GROUPS, n // LOAD_GROUPS
            body = json.dumps(load_notification(group, visit, self.per_webhook, self.base))
            task = asyncio.create_task(self._post(body.encode()))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            n += 1
            delay = self.started + n * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.stopped = asyncio.get_running_loop().time()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=ROUND_TIMEOUT)

    @property
    def achieved(self) -> float:
        """Alerts/s answered 2xx while it ran."""
        elapsed = self.stopped - self.started
        return self.sent_alerts / elapsed if elapsed > 0 else 0.0


@dataclass
class Backlog:
    """The correlator's backlog (its durable's pending + unacknowledged messages on ALERTS),
    read every half second while the load runs: whether the stack keeps up."""

    nc: NatsClient
    readings: list[int] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def read(self) -> int:
        info = await self.nc.jetstream().consumer_info(ALERTS_STREAM, CORRELATOR_DURABLE)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                self.readings.append(await self.read())
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def describe(self) -> str:
        if not self.readings:
            return "correlator backlog not read"
        return (
            f"correlator backlog max {max(self.readings)}, last {self.readings[-1]} messages "
            f"({len(self.readings)} readings)"
        )


@dataclass
class Hops:
    """When JetStream stored each measured alert (ALERTS) and each incident event of SERVICE
    (INCIDENTS): ordered consumers of the bench's own, timestamps from the server's metadata."""

    nc: NatsClient
    fingerprint: str
    alerts: list[tuple[str, str, float]] = field(default_factory=list)
    """(status, startsAt, stored at: epoch seconds) of the measured alert's events."""
    incidents: list[float] = field(default_factory=list)
    """Stored-at times of SERVICE's incident events, in stream order."""

    async def open(self) -> None:
        js = self.nc.jetstream()
        marker = self.fingerprint.encode()

        async def on_alert(msg: Msg) -> None:
            if marker in msg.data:
                doc = json.loads(msg.data)
                stored = msg.metadata.timestamp.timestamp()
                self.alerts.append((doc["status"], doc["starts_at"], stored))

        async def on_incident(msg: Msg) -> None:
            self.incidents.append(msg.metadata.timestamp.timestamp())

        await js.subscribe(ALERT_EVENT_SUBJECTS, ordered_consumer=True, cb=on_alert)
        await js.subscribe(f"incidents.{SERVICE}.>", ordered_consumer=True, cb=on_incident)

    def split(self, posted: float, seen: float, status: str) -> tuple[float, float, float] | None:
        """(ingest, correlator, status page) seconds of the round POSTed at `posted` whose SSE
        frame arrived at `seen` (epoch seconds); None when its messages were not seen."""
        alert_status = "firing" if status == FIRING_STATUS else "resolved"
        stored = [t for st, _, t in self.alerts if st == alert_status and posted <= t <= seen]
        if not stored:
            return None
        alert_at = stored[0]
        after = [t for t in self.incidents if alert_at <= t <= seen]
        if not after:
            return None
        return alert_at - posted, after[0] - alert_at, seen - after[0]


@dataclass(frozen=True)
class Measured:
    samples: list[Sample]
    """herald, jetstream, http."""
    hops: list[Sample]
    """herald's rounds split: ingest, correlator, status page (rounds whose messages were seen)."""
    load_rate: float
    """Alerts/s of background load achieved (2xx), 0 without."""
    load_failed: int
    backlog: str
    """The correlator's backlog while the load ran."""


async def measure(stack: Stack, nats_url: str, options: Options) -> Measured:
    template = json.loads(FIRING_EXAMPLE.read_text(encoding="utf-8"))
    base = datetime.now(UTC) - BASE_AGO
    ingest, page = stack.url("ingest"), stack.url("statuspage")
    herald_times: list[float] = []
    jetstream_times: list[float] = []
    http_times: list[float] = []
    splits: list[tuple[float, float, float]] = []
    nc = await nats.connect(nats_url, name="herald-bench")
    load: Load | None = None
    backlog = Backlog(nc)
    try:
        async with (
            httpx.AsyncClient(timeout=ROUND_TIMEOUT) as http,
            httpx.AsyncClient(
                timeout=ROUND_TIMEOUT, limits=httpx.Limits(max_connections=32)
            ) as load_http,
            SseClient(f"{page}/events") as sse,
        ):
            await sse.next(lambda e: e.event == "snapshot", ROUND_TIMEOUT)
            hook = f"{ingest}/hooks/inbound/{TOKEN}"
            herald = HeraldPath(http, hook, sse)
            jetstream = JetStreamPath(nc)
            await jetstream.open()
            hops = Hops(nc, template["alerts"][0]["fingerprint"])
            await hops.open()
            healthz = HttpPath(http, f"{stack.internal_url('ingest')}/healthz")
            if options.load > 0:
                load = Load(load_http, hook, options.load, options.load_per_webhook, base)
                load.start()
                backlog.start()
            try:
                for index in range(options.warmup + options.rounds):
                    doc, status = round_notification(template, index, base)
                    body = json.dumps(doc).encode()
                    try:
                        herald_time = await herald.round_trip(body, status)
                    except TimeoutError:
                        behind = await backlog.read()
                        raise RuntimeError(
                            f"round {index}: no SSE frame within {ROUND_TIMEOUT:g} s; the "
                            f"correlator has {behind} messages to go; {backlog.describe()}"
                        ) from None
                    results = (
                        herald_time,
                        await jetstream.round_trip(body),
                        await healthz.round_trip(),
                    )
                    if index >= options.warmup:
                        herald_times.append(results[0])
                        jetstream_times.append(results[1])
                        http_times.append(results[2])
                        await asyncio.sleep(0.05)  # the bench's consumers catch up
                        split = hops.split(herald.posted, herald.seen, status)
                        if split is not None:
                            splits.append(split)
            finally:
                await backlog.stop()
                if load is not None:
                    await load.stop()
    finally:
        await nc.close()
    hop_names = (
        "hop: POST -> alert stored (ingest)",
        "hop: -> incident event stored (correlator)",
        "hop: -> SSE frame at the client (status page)",
    )
    return Measured(
        [
            Sample("herald: webhook POST -> SSE event", tuple(herald_times)),
            Sample("jetstream: publish -> ordered consumer", tuple(jetstream_times)),
            Sample("http: GET /healthz (ingest)", tuple(http_times)),
        ],
        [Sample(name, tuple(max(0.0, s[i]) for s in splits)) for i, name in enumerate(hop_names)]
        if splits
        else [],
        load.achieved if load is not None else 0.0,
        load.failed if load is not None else 0,
        backlog.describe(),
    )


GOAL_P50 = Goal(3.0, "lower")
"""Issue 13: webhook POST to SSE frame p50 at most 3 ms (at 500 alerts/s sustained)."""
GOAL_P99 = Goal(10.0, "lower")
"""Issue 13: p99 at most 10 ms (at 500 alerts/s sustained)."""


@dataclass(frozen=True)
class Result:
    measured: Measured
    ready_seconds: float
    measured_seconds: float
    load: float

    @property
    def samples(self) -> list[Sample]:
        return self.measured.samples

    @property
    def herald(self) -> Sample:
        return self.samples[0]

    def condition(self) -> str:
        if self.load <= 0:
            return "one webhook at a time (the goal is at 500 alerts/s)"
        note = f"under {self.measured.load_rate:,.0f} alerts/s of load (asked {self.load:g})"
        if self.measured.load_failed:
            note += f", {self.measured.load_failed} load webhooks not 2xx"
        return f"{note}; {self.measured.backlog}"

    def figures(self) -> list[Figure]:
        herald, jetstream, http = self.samples
        condition = self.condition()
        suffix = "" if self.load <= 0 else f" at {self.load:g} alerts/s"
        return [
            Figure(
                f"latency{suffix}: webhook -> SSE, p50",
                herald.median * 1e3,
                "ms",
                "lower",
                jetstream.median * 1e3,
                "bare JetStream publish -> consumer p50",
                GOAL_P50,
                condition,
            ),
            Figure(
                f"latency{suffix}: webhook -> SSE, p50 vs HTTP",
                herald.median * 1e3,
                "ms",
                "lower",
                http.median * 1e3,
                "bare GET /healthz p50",
            ),
            Figure(
                f"latency{suffix}: webhook -> SSE, p99",
                herald.p99 * 1e3,
                "ms",
                "lower",
                jetstream.p99 * 1e3,
                "bare JetStream p99",
                GOAL_P99,
                f"{len(herald.seconds)} rounds; {condition}",
            ),
        ]


async def run(infra: Infra, options: Options) -> Result:
    env = stack_env(infra, CONFIG, TOKEN, options.log_level)
    started = time.perf_counter()
    async with running_stack(env, show_logs=options.show_logs) as stack:
        ready = time.perf_counter()
        measured = await measure(stack, infra.nats_url, options)
    return Result(measured, ready - started, time.perf_counter() - ready, options.load)


def report(options: Options, result: Result) -> str:
    lines = [
        f"Herald latency: {options.rounds} rounds (+{options.warmup} warm-up), {machine()}, "
        f"services at log level {options.log_level}; {result.condition()}; "
        f"stack ready in {result.ready_seconds:.1f}s, measured in {result.measured_seconds:.1f}s",
        "",
        table(result.samples, result.herald),
    ]
    if result.measured.hops:
        lines += ["", "herald's rounds by hop (JetStream's store times; p99 in the last column):"]
        lines += [
            f"{hop.name:<48} {len(hop.seconds):>4} {hop.median * 1e3:>8.2f} ms "
            f"{hop.p95 * 1e3:>8.2f} ms {hop.p99 * 1e3:>8.2f} ms"
            for hop in result.measured.hops
        ]
    return "\n".join(lines)


BENCH = Rounds(
    "latency",
    "Webhook -> status-page SSE latency, with JetStream and HTTP baselines.",
    "rounds",
    run,
    report,
    warmup=4,
    load=True,
)
parse_args = BENCH.parse_args

GOAL_LOAD = 500.0
"""Issue 13's condition: alerts/s of other alerts flowing while the rounds are measured."""


def at_goal_load(argv: Sequence[str]) -> list[str]:
    """`argv` with `--load GOAL_LOAD` added unless it names a `--load` of its own."""
    args = list(argv)
    if not any(a == "--load" or a.startswith("--load=") for a in args):
        args += ["--load", f"{GOAL_LOAD:g}"]
    return args


def figures(argv: Sequence[str] = ()) -> list[Figure]:
    """Run the benchmark (`argv` as on the command line) and return its figures (`make bench`):
    under the goal's load unless `argv` names a `--load`."""
    return BENCH.figures(at_goal_load(argv))


main = BENCH.main


if __name__ == "__main__":
    sys.exit(main())
