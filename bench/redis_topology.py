"""The correlator's Redis steps on a Redis Cluster, against the same steps on one redis-server
(the floor), in the same run: `CorrelatorStore.step_many` over batches spread across services
(each service one hash tag, the services spread over the cluster's masters), as a storm makes
them. What it says: how much a Redis Cluster costs a step (its pipelines are split per node and
sent concurrently), and how far Redis is from being what bounds the correlator.

    uv run python -m bench.redis_topology            # 50 services x 5 alerts, 40 batches, 5 turns
    uv run python -m bench.redis_topology --quick    # 10 batches, 3 turns
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.report import Figure, figures_table
from bench.testbed import machine
from herald.correlator.store import CorrelatorStore
from herald.shared.config import parse_config
from herald.shared.events import AlertReceived, AlertState
from herald.shared.runtime import open_redis
from tests.cluster.servers import redis_cluster
from tests.infra import redis_process


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_topology")
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--alerts", type=int, default=5, help="alerts per service per batch")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5, help="turns on each topology")
    parser.add_argument("--quick", action="store_true", help="10 batches, 3 turns")
    options = parser.parse_args(argv)
    if options.quick:
        options.batches, options.rounds = 10, 3
    return options


def _alert(service: str, n: int, at: datetime) -> AlertReceived:
    return AlertReceived(
        event_id=f"bench:{service}:{n}",
        occurred_at=at,
        received_at=at,
        integration="alertmanager",
        fingerprint=f"{service}-{n}",
        status=AlertState.FIRING,
        labels={"alertname": "Bench", "service": service, "severity": "critical"},
        annotations={},
        starts_at=at,
        ends_at=None,
    )


class Topology:
    """One Redis (a server or a cluster) and the correlator's store on it, warmed up."""

    def __init__(self, url: str, options: argparse.Namespace) -> None:
        self.services = [f"svc-{i}" for i in range(options.services)]
        config = parse_config(
            "integrations:\n  alertmanager: {token: t}\nservices:\n"
            + "".join(
                f"  {s}:\n    name: {s}\n    matchers: ['service=\"{s}\"']\n" for s in self.services
            )
        )
        self.client = open_redis(url)
        self.store = CorrelatorStore(self.client, config)
        self.options = options
        self.now = datetime.now(UTC)
        self.sent = 0

    async def rate(self) -> float:
        """Alerts/s through `step_many`: `batches` batches of `services` x `alerts` new firing
        alerts (the first call also loads the scripts and opens the incidents, untimed)."""
        o = self.options
        if self.sent == 0:
            await self._batch(1)
        started = time.perf_counter()
        for _ in range(o.batches):
            await self._batch(o.alerts)
        return o.batches * o.services * o.alerts / (time.perf_counter() - started)

    async def _batch(self, alerts: int) -> None:
        at = self.now + timedelta(milliseconds=self.sent)
        batch = []
        for s in self.services:
            batch.append((s, [_alert(s, self.sent + k, at) for k in range(alerts)]))
        self.sent += alerts
        for result in await self.store.step_many(batch, at):
            if isinstance(result, Exception):
                raise result


async def _both(options: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Rates on a Redis Cluster and on one server, measured in turns (the order alternating),
    so both see the same load of the machine."""
    with tempfile.TemporaryDirectory(prefix="herald-bench-redis-") as tmp:
        root = Path(tmp)
        (root / "one").mkdir()
        single = redis_process(root / "one")
        if single is None:
            raise RuntimeError(
                "bench.redis_topology needs redis-server (apt-get install redis-server)"
            )
        single.start()
        try:
            with redis_cluster(root / "cluster") as cluster:
                one = Topology(f"redis://127.0.0.1:{single.port}/0", options)
                many = Topology(cluster.url, options)
                rates: dict[str, list[float]] = {"one": [], "many": []}
                try:
                    for turn in range(options.rounds):
                        order = [("one", one), ("many", many)]
                        for name, topology in order if turn % 2 == 0 else order[::-1]:
                            rates[name].append(await topology.rate())
                finally:
                    await one.client.aclose()
                    await many.client.aclose()
        finally:
            single.stop()
    return rates["many"], rates["one"]


def figures(argv: Sequence[str] = ()) -> list[Figure]:
    options = parse_args(list(argv))
    many, one = asyncio.run(_both(options))
    shape = (
        f"{options.services} services x {options.alerts} alerts, {options.batches} batches; "
        f"median of {options.rounds} turns, alternating (cluster "
        + "/".join(f"{r:.0f}" for r in many)
        + ", one server "
        + "/".join(f"{r:.0f}" for r in one)
        + ")"
    )
    return [
        Figure(
            "correlator steps on a Redis Cluster (3 masters)",
            statistics.median(many),
            "alerts/s",
            "higher",
            statistics.median(one),
            "the same steps on one redis-server",
            note=shape,
        )
    ]


def main(argv: Sequence[str] | None = None) -> int:
    rows = figures(sys.argv[1:] if argv is None else argv)
    print(f"Herald's Redis steps by topology, {machine()}")
    print()
    print(figures_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
