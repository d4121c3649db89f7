"""What every fault test plays and checks: a burst of Alertmanager-style webhooks sent the way
Alertmanager sends them (retrying 5xx and connection errors, never retrying a 4xx), and the
outcome read where people see it: the pages a stand-in pager received and the status page's
/api/v2/summary.json.

An alert here is its own Alertmanager group (one webhook per alert and status), so a burst is many
requests in flight at once, which is what a fault interrupts. Every alert is `critical` and routed
to one of `services` services; the configuration pages one on-call target through a webhook
channel (the pager), without an escalation policy, so the exact count of pages is known: one
`incident.opened` and one `incident.resolved` per incident, one incident per service.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats

from tests.receiver import Receiver

TOKEN = "faults-token"
"""The Alertmanager integration's token (FAULTS_TOKEN)."""

DELIVERY_SECONDS = 90.0
"""Bound on how long one webhook may take to be stored, retries included (Alertmanager keeps
retrying a notification until its next group_interval)."""

OUTCOME_SECONDS = 180.0
"""Bound on how long the stack may take to reach the expected outcome once every webhook was
stored (a page held by a killed notifier's claim waits for the claim to expire: 120 s)."""

RETRY_SECONDS = 0.25
"""Between two attempts of one webhook (Alertmanager backs off; short here, the test waits)."""


def write_config(path: Path, services: int) -> Path:
    """A herald.yaml with `services` services (`svc-0`...), each paged through the pager."""
    lines = [
        "page:",
        "  title: Faults",
        "  url: http://127.0.0.1:8080",
        "integrations:",
        "  alertmanager:",
        "    token: {env: FAULTS_TOKEN}",
        "services:",
    ]
    for i in range(services):
        lines += [f"  svc-{i}:", f"    name: Service {i}", "    oncall: team"]
    lines += [
        "severity:",
        "  label: severity",
        "  map: {critical: major_outage}",
        "  default: degraded_performance",
        "oncall:",
        "  team:",
        "    name: Team",
        "    channels: [pager]",
        "channels:",
        "  pager:",
        "    type: webhook",
        "    url: {env: FAULTS_PAGER_URL}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def stack_extra(pager: Receiver) -> dict[str, str]:
    return {"FAULTS_TOKEN": TOKEN, "FAULTS_PAGER_URL": pager.url}


@dataclass(frozen=True)
class Alert:
    service: str
    index: int

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.service}/{self.index}".encode()).hexdigest()[:16]

    @property
    def labels(self) -> dict[str, str]:
        return {
            "alertname": "FaultDrill",
            "service": self.service,
            "instance": f"{self.service}-{self.index}",
            "severity": "critical",
        }

    def webhook(self, status: str) -> dict[str, Any]:
        """The Alertmanager notification of this alert's group (the alert alone)."""
        starts = f"2026-05-28T14:{self.index % 60:02d}:00Z"
        ends = "2026-05-28T15:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z"
        return {
            "version": "4",
            "groupKey": f'{{}}:{{instance="{self.labels["instance"]}"}}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "herald",
            "groupLabels": {"instance": self.labels["instance"]},
            "commonLabels": self.labels,
            "commonAnnotations": {"summary": f"{self.service} drill"},
            "externalURL": "http://alertmanager.monitoring:9093",
            "alerts": [
                {
                    "status": status,
                    "labels": self.labels,
                    "annotations": {"summary": f"{self.service} drill"},
                    "startsAt": starts,
                    "endsAt": ends,
                    "generatorURL": "http://prometheus/graph",
                    "fingerprint": self.fingerprint,
                }
            ],
        }


def group_webhook(group: list[Alert], status: str, batch: str | None = None) -> dict[str, Any]:
    """One notification of a group of alerts of one service (as an Alertmanager route grouping
    by `service` sends them; with `batch`, by `service` and `batch`: one of the service's many
    groups), every alert of the group `status`."""
    alone = [a.webhook(status) for a in group]
    service = group[0].service
    labels = {"service": service} | ({"batch": batch} if batch is not None else {})
    key = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {
        **alone[0],
        "groupKey": f"{{}}:{{{key}}}",
        "groupLabels": labels,
        "commonLabels": {"alertname": "FaultDrill", "service": service, "severity": "critical"},
        "alerts": [w["alerts"][0] for w in alone],
    }


def alerts(services: int, per_service: int) -> list[Alert]:
    return [Alert(f"svc-{s}", i) for i in range(per_service) for s in range(services)]


class FourHundred(AssertionError):
    """ingest answered a 4xx: Alertmanager would have dropped the notification."""


@dataclass
class Sender:
    """Delivers webhooks like Alertmanager: a 2xx ends a delivery, a 5xx or a connection error
    is retried (bounded), a 4xx fails the test (Alertmanager drops it). Records every answer."""

    hook: str
    concurrency: int = 8
    answers: Counter[int | str] = field(default_factory=Counter)
    _waiters: list[tuple[int, asyncio.Event]] = field(default_factory=list)

    def _note(self, answer: int | str) -> None:
        self.answers[answer] += 1
        total = self.answers.total()
        for n, event in self._waiters:
            if total >= n:
                event.set()

    async def answered(self, n: int) -> None:
        """Wait (bounded) until ingest answered `n` attempts (the burst is under way)."""
        event = asyncio.Event()
        self._waiters.append((n, event))
        if self.answers.total() >= n:
            event.set()
        await asyncio.wait_for(event.wait(), DELIVERY_SECONDS)

    async def deliver(self, http: httpx.AsyncClient, payload: dict[str, Any]) -> None:
        deadline = asyncio.get_running_loop().time() + DELIVERY_SECONDS
        last = "no answer"
        while asyncio.get_running_loop().time() < deadline:
            try:
                response = await http.post(self.hook, content=json.dumps(payload))
            except httpx.TransportError as exc:
                self._note(type(exc).__name__)
                last = repr(exc)
            else:
                self._note(response.status_code)
                if 200 <= response.status_code < 300:
                    return
                if response.status_code < 500:
                    raise FourHundred(f"{response.status_code} {response.text}")
                last = f"{response.status_code} {response.text}"
            await asyncio.sleep(RETRY_SECONDS)
        raise AssertionError(f"a webhook was not stored within {DELIVERY_SECONDS}s: {last}")

    async def burst(
        self, payloads: list[dict[str, Any]], *, delays: list[float] | None = None
    ) -> None:
        """Deliver every payload, `concurrency` at a time (each after its delay, if given)."""
        gate = asyncio.Semaphore(self.concurrency)
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(timeout=10, headers=headers) as http:

            async def one(i: int, payload: dict[str, Any]) -> None:
                if delays is not None:
                    await asyncio.sleep(delays[i])
                async with gate:
                    await self.deliver(http, payload)

            await asyncio.gather(*(one(i, p) for i, p in enumerate(payloads)))

    @property
    def statuses(self) -> set[int | str]:
        return set(self.answers)


def webhooks(batch: list[Alert], status: str) -> list[dict[str, Any]]:
    return [a.webhook(status) for a in batch]


def duplicated_and_shuffled(
    payloads: list[dict[str, Any]], seed: int, window: float
) -> tuple[list[dict[str, Any]], list[float]]:
    """Every payload twice (two HA peers), in a shuffled order, each copy after its own delay
    within `window` seconds (inside JetStream's de-duplication and Alertmanager's peer timeout)."""
    rng = random.Random(seed)
    doubled = [p for p in payloads for _ in range(2)]
    rng.shuffle(doubled)
    return doubled, [rng.uniform(0, window) for _ in doubled]


class Pages:
    """Everything the pager received, read as it arrives."""

    def __init__(self, pager: Receiver) -> None:
        self.pager = pager
        self.bodies: list[dict[str, Any]] = []

    def drain(self) -> None:
        while not self.pager.received.empty():
            self.bodies.append(self.pager.received.get_nowait())

    def count(self, kind: str) -> Counter[str]:
        """Pages of `kind` per incident id."""
        self.drain()
        return Counter(b["incident"]["id"] for b in self.bodies if b["type"] == kind)

    def of(self, kind: str) -> list[dict[str, Any]]:
        self.drain()
        return [b for b in self.bodies if b["type"] == kind]

    async def until(self, kind: str, incidents: int, timeout: float = OUTCOME_SECONDS) -> None:
        """Wait (bounded) until `incidents` distinct incidents were paged with `kind`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.count(kind)) < incidents:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(
                    f"{len(self.count(kind))} of {incidents} incidents paged {kind} "
                    f"within {timeout}s: {self.summary()}"
                )
            with contextlib.suppress(TimeoutError):
                self.bodies.append((await self.pager.next(timeout=left)).body)

    def summary(self) -> str:
        self.drain()
        return "\n".join(
            f"{b['type']} {b['service']['id']} {b['incident']['id']} event {b['event_id']} "
            f"alerts {b['incident'].get('alert_count')} started {b['incident']['started_at']}"
            for b in self.bodies
        )


async def summary(page: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{page}/api/v2/summary.json")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


async def page_until(
    page: str,
    expect: str,
    services: int,
    timeout: float = OUTCOME_SECONDS,
    internal: str | None = None,
) -> dict[str, Any]:
    """Wait (bounded) until the status page shows every service with component status
    `expect`; return that summary. `internal`: the page's internal URL, whose /metrics the
    failure message shows."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: dict[str, Any] | str = "no answer"
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await summary(page)
        except httpx.HTTPError as exc:
            last = repr(exc)
        else:
            ours = [c for c in last["components"] if c["id"].startswith("svc-")]
            if len(ours) == services and all(c["status"] == expect for c in ours):
                return last
        await asyncio.sleep(0.2)
    metrics = ""
    if internal is not None:
        async with httpx.AsyncClient(timeout=10) as http:
            metrics = (await http.get(f"{internal}/metrics")).text
    lines = [m for m in metrics.splitlines() if m.startswith("herald")]
    raise AssertionError(
        f"the page did not show every service {expect} in {timeout}s: {last}\n" + "\n".join(lines)
    )


async def drained(nats_url: str, timeout: float = OUTCOME_SECONDS) -> None:
    """Wait (bounded) until every durable consumer has nothing pending and nothing unacked: all
    the work the stack was given is done, so a duplicate page would have been sent by now."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + timeout
        busy: list[str] = []
        while asyncio.get_running_loop().time() < deadline:
            busy = []
            for stream in await js.streams_info():
                for info in await js.consumers_info(stream.config.name):
                    if info.config.durable_name and (info.num_pending or info.num_ack_pending):
                        busy.append(
                            f"{stream.config.name}/{info.name}: pending {info.num_pending}, "
                            f"unacked {info.num_ack_pending}"
                        )
            if not busy:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"work still pending after {timeout}s: {busy}")
    finally:
        await nc.close()


def short_incidents(pages: Pages, per_service: int) -> list[dict[str, Any]]:
    """The resolved incidents whose alert count is not `per_service`."""
    return [
        body["incident"]
        for body in pages.of("incident.resolved")
        if body["incident"]["alert_count"] != per_service
    ]


def assert_one_incident_each(pages: Pages, services: int, per_service: int) -> None:
    """One incident per service, each paged opened once and resolved once, with every alert."""
    opened, resolved = pages.count("incident.opened"), pages.count("incident.resolved")
    assert len(opened) == services, pages.summary()
    assert set(opened.values()) == {1}, f"duplicate opened pages: {opened}"
    assert opened.keys() == resolved.keys(), pages.summary()
    assert set(resolved.values()) == {1}, f"duplicate resolved pages: {resolved}"
    by_service = Counter(b["service"]["id"] for b in pages.of("incident.opened"))
    assert set(by_service.values()) == {1}, f"two incidents for one service: {by_service}"
    short = short_incidents(pages, per_service)
    assert not short, short[0]
    assert not pages.of("incident.worsened"), "a page said worse for a steady incident"
