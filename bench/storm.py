"""Herald in an alert storm: does the correlator keep up, and does the page catch up?

Usage, from the repository root:

    uv run python -m bench.storm --quick          # 5,000 alerts over 50 services, 1,000 on one
    uv run python -m bench.storm                  # 50,000 over 500 services, 10,000 on one
    uv run python -m bench.storm --correlators 2  # also two correlator replicas, and the ratio
    uv run python -m bench.storm --help

Each shape runs on servers and a stack of its own (tests/infra.py's `real_infra()`,
devstack/processes.py's `Stack`), with a generated herald.yaml:

- spread: `--alerts` distinct firing alerts over `--services` services (alert j belongs to
  service j mod S), POSTed to ingest as Alertmanager webhooks of `--per-webhook` alerts each
  (each webhook is one complete aggregation group), `--in-flight` at a time; once the
  correlator has applied them all and the page shows every service in Major Outage, all of them
  are resolved the same way. Measured: ingest's acceptance rate, the correlator's rate while it
  had work waiting (firing and resolving), and the time from the last resolving webhook
  accepted (2xx) until the page's SSE stream (`/events`) shows every service Operational;
- one service: `--single-alerts` alerts on one service, the same way, and the correlator's rate
  over the first and the last tenth of the alerts: the cost per alert must not grow with the
  size of the incident;
- with `--correlators 2`, the spread shape again with two correlator replicas, and the ratio.

The correlator's progress is read from JetStream (its durable's delivered sequence, pending
and in-flight counts, every `--tick` seconds), which does not depend on how the correlator is
built and sums every replica. Floors, measured in the same run on the same servers
(bench/floor.py): ingest's is bare batched JetStream publishes, the correlator's a bare
fetch + pipelined Redis EVALSHA + publish + ack per alert.

A phase that has not caught up `--timeout` seconds after its last webhook was accepted is
reported as such, with the rate measured until then, and the rest of its shape is skipped.
A benchmark, not a test: nothing here asserts a timing, and pytest never collects it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import nats
import yaml
from nats.aio.client import Client as NatsClient

from bench import floor as floors
from bench.alertmanager import alert, notification
from bench.page_state import PageState
from bench.report import Figure, Goal, figures_table
from bench.testbed import machine, running_stack, stack_env
from bench.throughput import Tick, busy_rate, crossing, done_at
from devstack.processes import Stack
from herald.shared.subjects import ALERTS_STREAM, CORRELATOR_DURABLE
from tests.infra import Infra, free_port, real_infra
from tests.sse import SseClient

TOKEN = "bench-storm-token"  # noqa: S105 - the inbound token of a throwaway stack
FIRING = "major_outage"
"""What a service with a firing critical alert shows."""
OPERATIONAL = "operational"

GOAL_RESOLVED_PAGE = Goal(1.0, "lower")
"""Issue 7: every service Operational within 1 s of the last resolving webhook accepted."""
GOAL_CORRELATOR = Goal(5000.0, "higher")
"""Issue 7: one correlator replica applies at least 5,000 alerts/s."""
GOAL_REPLICAS = Goal(1.7, "higher")
"""Issue 7: two replicas at least 1.7 times one."""
GOAL_FLAT = Goal(0.9, "higher")
"""Issue 7: the cost per alert must not grow with the incident (last tenth's rate / first's)."""

BUSY_BACKLOG = 1
"""A correlator counts as busy in a reading interval when at least this many alerts waited."""


# -- what is sent (pure) ------------------------------------------------------------------------


def service_ids(count: int) -> list[str]:
    width = max(len(str(count - 1)), 3)
    return [f"svc-{i:0{width}d}" for i in range(count)]


def config_doc(services: Sequence[str]) -> dict[str, Any]:
    """A herald.yaml for `services` (default matchers: `service="<id>"`), all paging one
    on-call through the console channel, so that the notifier works as deployed."""
    return {
        "page": {"title": "Storm", "url": "http://127.0.0.1"},
        "integrations": {"alertmanager": {"token": {"env": "HERALD_DEMO_TOKEN"}}},
        "services": {sid: {"name": f"Service {sid}", "oncall": "storm"} for sid in services},
        "oncall": {"storm": {"name": "Storm on-call", "channels": ["console"]}},
        "channels": {"console": {"type": "console"}},
    }


def storm_alert(
    j: int, services: Sequence[str], starts_at: datetime, resolved: bool
) -> dict[str, Any]:
    service = services[j % len(services)]
    return alert(
        labels={
            "alertname": "StormAlert",
            "service": service,
            "severity": "critical",
            "instance": f"node-{j}",
        },
        fingerprint=f"{j:016x}",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30) if resolved else None,
        annotations={
            "summary": f"{service} is down on node-{j}",
            "description": f"Node node-{j} of {service} stopped answering its health checks.",
        },
    )


def storm_bodies(
    alerts: int, services: Sequence[str], per_webhook: int, starts_at: datetime, resolved: bool
) -> list[bytes]:
    """The webhooks of one phase: webhook k carries alerts k*per_webhook.. as one complete group
    (its own `batch` group label), firing or all resolved."""
    bodies = []
    for k, first in enumerate(range(0, alerts, per_webhook)):
        batch = [
            storm_alert(j, services, starts_at, resolved)
            for j in range(first, min(first + per_webhook, alerts))
        ]
        doc = notification(batch, {"alertname": "StormAlert", "batch": str(k)})
        bodies.append(json.dumps(doc).encode())
    return bodies


# -- what is measured ---------------------------------------------------------------------------


@dataclass
class Progress:
    """Periodic readings of the correlator's durable: acknowledged and waiting alerts."""

    nc: NatsClient
    interval: float
    ticks: list[Tick] = field(default_factory=list)
    failed_reads: int = 0
    _goal: int | None = None
    _reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> Tick:
        info = await self.nc.jetstream().consumer_info(ALERTS_STREAM, CORRELATOR_DURABLE)
        delivered = (info.delivered.stream_seq or 0) if info.delivered else 0
        in_flight = info.num_ack_pending or 0
        tick = Tick(time.perf_counter(), delivered - in_flight, (info.num_pending or 0) + in_flight)
        self.ticks.append(tick)
        if self._goal is not None and tick.done >= self._goal:
            self._reached.set()
        return tick

    async def run(self) -> None:
        while True:
            try:
                await self.read()
            except Exception:  # a slow or failed reading: the next one counts
                self.failed_reads += 1
            await asyncio.sleep(self.interval)

    async def until(self, done: int) -> None:
        """Returns once a reading shows `done` alerts acknowledged."""
        self._goal, self._reached = done, asyncio.Event()
        if self.ticks and self.ticks[-1].done >= done:
            return
        await self._reached.wait()


class StormSse(SseClient):
    """Reconnects at once when the page drops us for not keeping up (we resume by Last-Event-ID,
    or get a snapshot): a browser waits 3 s, a measurement should not."""

    RECONNECT_SECONDS = 0.01


@dataclass
class PageWatch:
    """Folds the page's SSE stream into a PageState; `until(status)` awaits every service
    showing it."""

    sse: SseClient
    state: PageState
    _want: str | None = None
    _reached: asyncio.Event = field(default_factory=asyncio.Event)
    reached_at: float = 0.0

    async def run(self) -> None:
        while True:
            event = await self.sse.queue.get()
            self.state.apply(event.event, event.json())
            if self._want is not None and self.state.all_show(self._want):
                if not self._reached.is_set():
                    self.reached_at = time.perf_counter()
                self._reached.set()

    async def until(self, status: str) -> float:
        self._want, self._reached = status, asyncio.Event()
        if self.state.all_show(status):
            self.reached_at = time.perf_counter()
            return self.reached_at
        await self._reached.wait()
        return self.reached_at


APPLIED_METRIC = "herald_correlator_alerts_total"


async def applied_by_replica(http: httpx.AsyncClient, stack: Stack) -> str:
    """Each correlator replica's count of alerts consumed (its /metrics counter, every outcome),
    to show how the work was shared; "n/a" for a replica without the counter."""
    parts = []
    for name, service in stack.instances():
        if service != "correlator":
            continue
        try:
            text = (await http.get(f"{stack.internal_url(name)}/metrics")).text
            values = [
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith((APPLIED_METRIC + "{", APPLIED_METRIC + " "))
            ]
            parts.append(f"{name} {sum(values):,.0f}" if values else f"{name} n/a")
        except (httpx.HTTPError, ValueError, IndexError):
            parts.append(f"{name} n/a")
    return ", ".join(parts)


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time (user + system) each process of the stack has used so far, by instance name
    (from /proc; empty where there is none). The CPU a phase cost each process is less moved
    by the other work on a shared machine than its rates are."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for name, proc in stack.procs.items():
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


PHASE_METRIC = "herald_correlator_batch_phase_seconds"
BATCH_METRIC = "herald_correlator_batch_messages"


def phase_totals(text: str) -> dict[str, tuple[float, float]]:
    """phase -> (seconds, batches) summed from a correlator's /metrics text; the batches'
    message count under "messages"."""
    out: dict[str, list[float]] = {}
    for line in text.splitlines():
        for suffix, slot in (("_sum", 0), ("_count", 1)):
            if line.startswith(PHASE_METRIC + suffix + "{"):
                phase = line.split('phase="', 1)[1].split('"', 1)[0]
                out.setdefault(phase, [0.0, 0.0])[slot] += float(line.rsplit(" ", 1)[1])
            elif line.startswith(BATCH_METRIC + suffix + " "):
                out.setdefault("messages", [0.0, 0.0])[slot] += float(line.rsplit(" ", 1)[1])
    return {k: (v[0], v[1]) for k, v in out.items()}


async def phases_by_replica(http: httpx.AsyncClient, stack: Stack) -> str:
    """Each correlator replica's time per batch phase so far (seconds summed, batches), from
    herald_correlator_batch_phase_seconds: where a replica's time goes under the storm."""
    parts = []
    for name, service in stack.instances():
        if service != "correlator":
            continue
        try:
            totals = phase_totals((await http.get(f"{stack.internal_url(name)}/metrics")).text)
        except httpx.HTTPError:
            parts.append(f"{name} n/a")
            continue
        batches = totals.pop("messages", (0.0, 0.0))
        shown = ", ".join(f"{k} {v[0]:.2f} s/{v[1]:.0f}" for k, v in sorted(totals.items()))
        parts.append(f"{name}: {batches[1]:.0f} batches of {batches[0]:,.0f} messages; {shown}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Phase:
    """What one phase (firing or resolving) of a shape measured."""

    name: str
    alerts: int
    stored: int
    started: float
    last_accepted: float
    ticks: tuple[Tick, ...]
    first_done: int
    """Alerts acknowledged by the correlator before the phase began."""
    caught_up: bool
    page_at: float | None
    """When the page showed every service in the phase's final status."""
    timeout: float
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process of the stack used during the phase (until caught up)."""

    @property
    def correlator_cpu_ms_per_1000(self) -> float | None:
        """The correlator replicas' CPU time per 1,000 alerts applied in this phase."""
        used = sum(v for k, v in self.cpu.items() if k.startswith("correlator"))
        return used / self.stored * 1e6 if self.cpu and self.stored else None

    @property
    def ingest_rate(self) -> float:
        return self.alerts / (self.last_accepted - self.started)

    @property
    def backlog_at_last_accept(self) -> float:
        return self.first_done + self.stored - done_at(self.ticks, self.last_accepted)

    def rate(self, lo: int = 0, hi: int | None = None) -> float | None:
        """The correlator's busy rate over this phase's alerts numbered lo..hi (0-based)."""
        top = self.first_done + (self.stored if hi is None else hi)
        return busy_rate(self.ticks, self.first_done + lo, top, BUSY_BACKLOG)

    @property
    def applied(self) -> int:
        return (self.ticks[-1].done if self.ticks else 0) - self.first_done

    @property
    def page_after_last_accept(self) -> float | None:
        return None if self.page_at is None else max(self.page_at - self.last_accepted, 0.0)

    @property
    def correlator_after_last_accept(self) -> float | None:
        done = crossing(self.ticks, self.first_done + self.stored)
        return None if done is None else max(done - self.last_accepted, 0.0)

    def summary(self) -> str:
        lag = self.correlator_after_last_accept
        page = self.page_after_last_accept
        rate = self.rate()
        state = (
            f"caught up: correlator {lag:.2f} s and page {page:.2f} s after the last accept"
            if self.caught_up and lag is not None and page is not None
            else f"did NOT catch up within {self.timeout:.0f} s of the last accept "
            f"({self.applied} of {self.stored} applied)"
        )
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in self.cpu.items())
        return (
            f"  {self.name}: CPU seconds used: {cpu}\n"
            f"  {self.name}: {self.alerts} alerts accepted in {self.last_accepted - self.started:.2f} s "
            f"({self.ingest_rate:,.0f}/s); correlator "
            f"{'-' if rate is None else f'{rate:,.0f}'}/s busy; backlog at the last accept "
            f"{self.backlog_at_last_accept:,.0f}; {state}"
        )


async def post_all(
    http: httpx.AsyncClient, url: str, bodies: Sequence[bytes], in_flight: int
) -> tuple[float, float, int]:
    """POST every body, `in_flight` at a time. Returns (started, last 2xx, alerts stored)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    stored = 0
    last = 0.0

    async def worker() -> None:
        nonlocal stored, last
        while not queue.empty():
            body = queue.get_nowait()
            response = await http.post(
                url, content=body, headers={"Content-Type": "application/json"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")
            doc = response.json()
            stored += int(doc["alerts"]) - int(doc["duplicates"])
            last = max(last, time.perf_counter())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return started, last, stored


Kind = Literal["spread", "single"]


@dataclass(frozen=True)
class Options:
    only: Kind | None
    alerts: int
    services: int
    single_alerts: int
    per_webhook: int
    in_flight: int
    correlators: int
    timeout: float
    tick: float
    floor_alerts: int
    log_level: str
    show_logs: bool
    quick: bool


@dataclass(frozen=True)
class ShapeResult:
    kind: Kind
    label: str
    correlators: int
    floor: floors.FloorRates
    phases: tuple[Phase, ...]
    sse_connections: int


@dataclass(frozen=True)
class Shape:
    kind: Kind
    label: str
    alerts: int
    services: int
    correlators: int


async def run_shape(infra: Infra, options: Options, shape: Shape) -> ShapeResult:
    alerts, correlators = shape.alerts, shape.correlators
    ids = service_ids(shape.services)
    starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with tempfile.TemporaryDirectory(prefix="herald-storm-") as tmp:
        config = Path(tmp) / "herald.yaml"
        config.write_text(yaml.safe_dump(config_doc(ids), sort_keys=False), encoding="utf-8")
        env = stack_env(infra, config, TOKEN, options.log_level)
        extra = {"correlator": [free_port() for _ in range(correlators - 1)]}
        firing = storm_bodies(alerts, ids, options.per_webhook, starts_at, resolved=False)
        resolving = storm_bodies(alerts, ids, options.per_webhook, starts_at, resolved=True)
        async with running_stack(env, show_logs=options.show_logs, extra_replicas=extra) as stack:
            nc = await nats.connect(infra.nats_url, name="herald-bench-storm")
            tasks: list[asyncio.Task[None]] = []
            try:
                payload = json.loads(firing[0])["alerts"][0]
                floor = await floors.measure(
                    nc,
                    infra.redis_url,
                    json.dumps(payload).encode(),
                    min(options.floor_alerts, alerts),
                    options.per_webhook,
                    options.in_flight,
                )
                progress = Progress(nc, options.tick)
                await progress.read()
                async with (
                    httpx.AsyncClient(
                        timeout=30.0, limits=httpx.Limits(max_connections=options.in_flight)
                    ) as http,
                    StormSse(f"{stack.url('statuspage')}/events", reconnect=True) as sse,
                ):
                    watch = PageWatch(sse, PageState.of(ids))
                    tasks = [asyncio.create_task(progress.run()), asyncio.create_task(watch.run())]
                    await watch.until(OPERATIONAL)  # the first snapshot: nothing fires yet
                    hook = f"{stack.url('ingest')}/hooks/inbound/{TOKEN}"
                    phases: list[Phase] = []
                    for name, bodies, status in (
                        ("firing", firing, FIRING),
                        ("resolving", resolving, OPERATIONAL),
                    ):
                        cpu = cpu_seconds(stack)
                        phase = await run_phase(
                            name, bodies, status, alerts, hook, http, progress, watch, options
                        )
                        after = cpu_seconds(stack)
                        phase = dataclasses.replace(
                            phase, cpu={k: after[k] - cpu.get(k, 0.0) for k in after}
                        )
                        phases.append(phase)
                        print(phase.summary(), file=sys.stderr, flush=True)
                        print(
                            "    correlator alerts by replica (herald_correlator_alerts_total): "
                            + await applied_by_replica(http, stack),
                            file=sys.stderr,
                            flush=True,
                        )
                        print(
                            "    correlator phases so far (seconds/batches): "
                            + await phases_by_replica(http, stack),
                            file=sys.stderr,
                            flush=True,
                        )
                        if not phase.caught_up:
                            break
                    connections = sse.connections
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await nc.close()
    return ShapeResult(shape.kind, shape.label, correlators, floor, tuple(phases), connections)


async def run_phase(
    name: str,
    bodies: Sequence[bytes],
    status: str,
    alerts: int,
    hook: str,
    http: httpx.AsyncClient,
    progress: Progress,
    watch: PageWatch,
    options: Options,
) -> Phase:
    first_done = (await progress.read()).done
    first_tick = len(progress.ticks) - 1
    page = asyncio.create_task(watch.until(status))
    started, last, stored = await post_all(http, hook, bodies, options.in_flight)
    correlator = asyncio.create_task(progress.until(first_done + stored))
    done, _ = await asyncio.wait({page, correlator}, timeout=options.timeout)
    caught_up = page in done and correlator in done
    page_at = page.result() if page in done else None
    for task in (page, correlator):
        task.cancel()
    await progress.read()
    return Phase(
        name=name,
        alerts=alerts,
        stored=stored,
        started=started,
        last_accepted=last,
        ticks=tuple(progress.ticks[first_tick:]),
        first_done=first_done,
        caught_up=caught_up,
        page_at=page_at,
        timeout=options.timeout,
    )


# -- the figures --------------------------------------------------------------------------------


def _notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _not_caught_up(phase: Phase) -> str:
    return "" if phase.caught_up else f"did not catch up within {phase.timeout:.0f} s"


def spread_figures(result: ShapeResult) -> list[Figure]:
    floor, label = result.floor, result.label
    step = "bare fetch+EVALSHA+publish+ack"
    out: list[Figure] = []
    phases = {p.name: p for p in result.phases}
    for name in ("firing", "resolving"):
        phase = phases.get(name)
        skipped = "skipped: the firing phase did not catch up"
        out.append(
            Figure(
                f"{label}: ingest accepts {name}",
                None if phase is None else phase.ingest_rate,
                "alerts/s",
                "higher",
                floor.publish,
                "bare batched JetStream publish",
                note=skipped if phase is None else "",
            )
        )
        rate = None if phase is None else phase.rate()
        note = skipped if phase is None else _not_caught_up(phase)
        if phase is not None and phase.backlog_at_last_accept < phase.stored * 0.05:
            note = _notes(note, "never far behind ingest")
        out.append(
            Figure(
                f"{label}: correlator applies {name}",
                rate,
                "alerts/s",
                "higher",
                floor.step,
                step,
                GOAL_CORRELATOR if result.correlators == 1 else None,
                note,
            )
        )
    for name in ("firing", "resolving"):
        phase = phases.get(name)
        cpu = None if phase is None else phase.correlator_cpu_ms_per_1000
        out.append(
            Figure(
                f"{label}: correlator CPU per 1,000 {name}",
                cpu,
                "ms",
                "lower",
                note="CPU time of the correlator replicas (less moved by the machine's load)",
            )
        )
    resolving = phases.get("resolving")
    page = None if resolving is None else resolving.page_after_last_accept
    backlog = 0.0 if resolving is None else resolving.backlog_at_last_accept
    out.append(
        Figure(
            f"{label}: page Operational after last resolve",
            page,
            "s",
            "lower",
            backlog / floor.step if resolving is not None and backlog > 0 else None,
            f"backlog {backlog:,.0f} at the bare step rate" if resolving is not None else "",
            GOAL_RESOLVED_PAGE,
            "skipped: the firing phase did not catch up"
            if resolving is None
            else _notes(
                _not_caught_up(resolving),
                f"the page dropped the SSE client {result.sse_connections - 1} times"
                if result.sse_connections > 1
                else "",
            ),
        )
    )
    return out


def single_figures(result: ShapeResult) -> list[Figure]:
    out: list[Figure] = []
    for phase in result.phases:
        tenth = max(phase.stored // 10, 1)
        end = min(phase.applied, phase.stored)
        first = phase.rate(0, tenth)
        last = phase.rate(max(end - tenth, 0), end)
        note = _not_caught_up(phase)
        span = f"alerts {max(end - tenth, 0):,}-{end:,}"
        out.append(
            Figure(
                f"{result.label}: correlator {phase.name}, first tenth",
                first,
                "alerts/s",
                "higher",
                result.floor.step,
                "bare step",
                GOAL_CORRELATOR,
                f"alerts 0-{tenth:,}",
            )
        )
        out.append(
            Figure(
                f"{result.label}: correlator {phase.name}, last tenth",
                last,
                "alerts/s",
                "higher",
                result.floor.step,
                "bare step",
                GOAL_CORRELATOR,
                _notes(span, note),
            )
        )
        out.append(
            Figure(
                f"{result.label}: {phase.name} last/first tenth",
                None if first is None or last is None else last / first,
                "x",
                "higher",
                goal=GOAL_FLAT,
                note="cost per alert flat when ~1",
            )
        )
    return out


def replica_figures(one: ShapeResult, two: ShapeResult) -> list[Figure]:
    out: list[Figure] = []
    for name in ("firing", "resolving"):
        a = {p.name: p for p in one.phases}.get(name)
        b = {p.name: p for p in two.phases}.get(name)
        ra = None if a is None else a.rate()
        rb = None if b is None else b.rate()
        out.append(
            Figure(
                f"2 correlators / 1: {name}",
                None if ra is None or rb is None else rb / ra,
                "x",
                "higher",
                goal=GOAL_REPLICAS,
                note=f"floor ratio {two.floor.step / one.floor.step:.2f}x (run to run)",
            )
        )
    return out


def figures_of(results: Sequence[ShapeResult]) -> list[Figure]:
    out: list[Figure] = []
    spread = [r for r in results if r.kind == "spread"]
    for r in results:
        out.extend(single_figures(r) if r.kind == "single" else spread_figures(r))
    if len(spread) == 2:
        out.extend(replica_figures(spread[0], spread[1]))
    return out


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storm",
        description="An alert storm: ingest, correlator and status page against bare floors.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (5,000 over 50; 1,000)")
    parser.add_argument("--alerts", type=int, help="alerts of the spread shape (50,000)")
    parser.add_argument("--services", type=int, help="services of the spread shape (500)")
    parser.add_argument("--single-alerts", type=int, help="alerts on one service (10,000)")
    parser.add_argument("--per-webhook", type=int, default=100, help="alerts per webhook (100)")
    parser.add_argument("--in-flight", type=int, default=8, help="webhooks in flight (8)")
    parser.add_argument(
        "--correlators",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: run the spread shape with one and with two correlator replicas (1)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds a phase may take to catch up after its last accept (120; --quick 60)",
    )
    parser.add_argument("--tick", type=float, default=0.1, help="progress reading interval (0.1)")
    parser.add_argument(
        "--floor-alerts",
        type=int,
        help="messages of each floor measurement (10,000; --quick 2,000)",
    )
    parser.add_argument(
        "--only", choices=("spread", "single"), help="run one shape only (both by default)"
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="HERALD_LOG_LEVEL of the services (WARNING: no per-alert log lines)",
    )
    parser.add_argument("--show-logs", action="store_true", help="stream the services' logs")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    options = Options(
        only=args.only,
        alerts=args.alerts or (5_000 if quick else 50_000),
        services=args.services or (50 if quick else 500),
        single_alerts=args.single_alerts or (1_000 if quick else 10_000),
        per_webhook=args.per_webhook,
        in_flight=args.in_flight,
        correlators=args.correlators,
        timeout=args.timeout or (60.0 if quick else 120.0),
        tick=args.tick,
        floor_alerts=args.floor_alerts or (2_000 if quick else 10_000),
        log_level=args.log_level,
        show_logs=args.show_logs,
        quick=quick,
    )
    if min(options.alerts, options.services, options.single_alerts, options.per_webhook) < 1:
        parser.error("sizes must be at least 1")
    if options.in_flight < 1 or options.tick <= 0 or not math.isfinite(options.timeout):
        parser.error("--in-flight must be at least 1, --tick and --timeout positive")
    return options


def measure(options: Options) -> list[ShapeResult]:
    """Every shape, each on fresh servers of its own."""
    spread = f"storm {options.alerts:,} over {options.services} svc"
    shapes: list[Shape] = []
    if options.only in (None, "spread"):
        shapes.append(Shape("spread", spread, options.alerts, options.services, 1))
        if options.correlators == 2:
            shapes.append(
                Shape("spread", f"{spread}, 2 correlators", options.alerts, options.services, 2)
            )
    if options.only in (None, "single"):
        shapes.append(
            Shape(
                "single",
                f"storm {options.single_alerts:,} on 1 svc",
                options.single_alerts,
                1,
                1,
            )
        )
    results = []
    for shape in shapes:
        print(f"bench.storm: {shape.label}", file=sys.stderr, flush=True)
        with real_infra() as infra:
            results.append(asyncio.run(run_shape(infra, options, shape)))
    return results


def figures(argv: Sequence[str] = ()) -> list[Figure]:
    """Run the benchmark (`argv` as on the command line) and return its figures (`make bench`)."""
    return figures_of(measure(parse_args(list(argv))))


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.perf_counter()
    results = measure(options)
    print(
        f"Herald storm: {options.per_webhook} alerts per webhook, {options.in_flight} in flight, "
        f"services at log level {options.log_level}; {machine()}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    for r in results:
        print(f"  {r.label}: floors publish {r.floor.publish:,.0f}/s, step {r.floor.step:,.0f}/s")
    print()
    print(figures_table(figures_of(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
