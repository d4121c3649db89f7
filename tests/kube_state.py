"""A stand-in for kube-state-metrics: the Kubernetes series Herald's alert rules read, served
over HTTP for a real Prometheus to scrape, with values the test sets.

Series, names and labels as kube-state-metrics exposes them:
- kube_pod_container_status_waiting_reason{namespace,pod,container,reason}        gauge 0/1
- kube_pod_container_status_restarts_total{namespace,pod,container}               counter
- kube_node_status_condition{node,condition,status}                               gauge, one-hot over true/false/unknown
- kube_deployment_status_condition{namespace,deployment,condition,status}         gauge, one-hot over true/false/unknown
- kube_horizontalpodautoscaler_status_current_replicas{namespace,horizontalpodautoscaler}
- kube_horizontalpodautoscaler_spec_min_replicas / _spec_max_replicas{namespace,horizontalpodautoscaler}

Usage:
    with KubeStateExporter() as kube:
        kube.pod_waiting("production", "payments-api-7d9f8b-xk2pq", "api", "CrashLoopBackOff", True)
        ...  # Prometheus scrapes kube.target ("127.0.0.1:<port>")
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

ConditionStatus = Literal["true", "false", "unknown"]
CONDITION_STATUSES: tuple[ConditionStatus, ...] = ("true", "false", "unknown")


class RestartCounts(Collector):
    """kube_pod_container_status_restarts_total as kube-state-metrics serves it: a counter
    without the `_created` series prometheus_client's own Counter would add."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], float] = {}

    def add(self, key: tuple[str, str, str], times: int) -> None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + times

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "kube_pod_container_status_restarts_total",
            "The number of container restarts per container.",
            labels=["namespace", "pod", "container"],
        )
        with self._lock:
            for key, value in self._counts.items():
                family.add_metric(list(key), value)
        yield family


class KubeState:
    """The cluster's state as metrics, on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.waiting_reason = Gauge(
            "kube_pod_container_status_waiting_reason",
            "Describes the reason the container is currently in waiting state.",
            ["namespace", "pod", "container", "reason"],
            registry=self.registry,
        )
        self.restarts = RestartCounts()
        self.registry.register(self.restarts)
        self.node_condition = Gauge(
            "kube_node_status_condition",
            "The condition of a cluster node.",
            ["node", "condition", "status"],
            registry=self.registry,
        )
        self.deployment_condition = Gauge(
            "kube_deployment_status_condition",
            "The current status conditions of a deployment.",
            ["namespace", "deployment", "condition", "status"],
            registry=self.registry,
        )
        self.hpa_current = Gauge(
            "kube_horizontalpodautoscaler_status_current_replicas",
            "Current number of replicas of pods managed by this autoscaler.",
            ["namespace", "horizontalpodautoscaler"],
            registry=self.registry,
        )
        self.hpa_min = Gauge(
            "kube_horizontalpodautoscaler_spec_min_replicas",
            "Lower limit for the number of pods that can be set by the autoscaler.",
            ["namespace", "horizontalpodautoscaler"],
            registry=self.registry,
        )
        self.hpa_max = Gauge(
            "kube_horizontalpodautoscaler_spec_max_replicas",
            "Upper limit for the number of pods that can be set by the autoscaler.",
            ["namespace", "horizontalpodautoscaler"],
            registry=self.registry,
        )

    def pod_waiting(
        self, namespace: str, pod: str, container: str, reason: str, waiting: bool
    ) -> None:
        """Whether the container is waiting for `reason` (e.g. CrashLoopBackOff)."""
        self.waiting_reason.labels(namespace, pod, container, reason).set(1 if waiting else 0)

    def container_restarted(self, namespace: str, pod: str, container: str, times: int = 1) -> None:
        """The container restarted `times` more times (0 just creates the series)."""
        self.restarts.add((namespace, pod, container), times)

    def node(self, node: str, condition: str, status: ConditionStatus) -> None:
        """Set a node condition, e.g. node("node-a", "MemoryPressure", "true")."""
        for s in CONDITION_STATUSES:
            self.node_condition.labels(node, condition, s).set(1 if s == status else 0)

    def deployment(
        self, namespace: str, deployment: str, condition: str, status: ConditionStatus
    ) -> None:
        """Set a deployment condition, e.g. deployment("production", "checkout", "Progressing", "false")."""
        for s in CONDITION_STATUSES:
            self.deployment_condition.labels(namespace, deployment, condition, s).set(
                1 if s == status else 0
            )

    def autoscaler(
        self, namespace: str, name: str, *, current: int, minimum: int, maximum: int
    ) -> None:
        """An HPA's current replicas and bounds (current == maximum: maxed out)."""
        self.hpa_current.labels(namespace, name).set(current)
        self.hpa_min.labels(namespace, name).set(minimum)
        self.hpa_max.labels(namespace, name).set(maximum)


class KubeStateExporter(KubeState):
    """KubeState served on 127.0.0.1 at an OS-chosen port, `/metrics` (any path answers)."""

    def __init__(self) -> None:
        super().__init__()
        self._server, self._thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = int(self._server.server_port)

    @property
    def target(self) -> str:
        """`host:port` for a Prometheus static_config."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> KubeStateExporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
