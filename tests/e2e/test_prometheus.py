"""Issue 3, end to end with a real Prometheus and a real Alertmanager.

A fake kube-state-metrics (tests/kube_state.py) is scraped every second by Prometheus, which
evaluates the shipped rules (deploy/prometheus/rules.yaml, `for:` compressed to 2s and minutes
of range to seconds) and sends to Alertmanager, which routes with the shipped configuration
(deploy/alertmanager/alertmanager.yml, group_wait/group_interval 1s) to Herald's ingest through a
recording relay. The four Herald services run as processes (devstack), configured with
examples/herald.yaml plus two integrations: `status-page` and `internal` (`public: false`).

The timeline:
1. a payments-api pod goes into CrashLoopBackOff -> the page shows payments-api major_outage
   over SSE, summary.json the incident titled from the rule's summary; the pod recovers ->
   Alertmanager sends the resolved notification -> the page is Operational again;
2. `amtool alert add` flips the page; re-adding the alert with an end time restores it;
3. customer_facing="false" alerts (restarts, a stuck rollout) go to the internal integration:
   on-call is paged, the page never changes;
4. node memory pressure and a maxed-out autoscaler land on their services (nodes, autoscaling).

Recorded, never asserted: for every page change, the time from Alertmanager's POST reaching the
relay to the SSE event reaching the test, and from the metric change to the SSE event.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.processes import Stack
from herald.shared.config import HeraldConfig
from tests.e2e.prometheus import rules, servers
from tests.e2e.prometheus.integrations import INTERNAL_TOKEN, ROOT, STATUS_PAGE_TOKEN
from tests.e2e.prometheus.relay import WebhookRelay
from tests.e2e.prometheus.watch import (
    STEP_TIMEOUT,
    Watch,
    component,
    paged,
    posted,
    watching,
)
from tests.kube_state import KubeStateExporter
from tests.receiver import Receiver
from tests.sse import SseEvent

RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"

NAMESPACE = "production"
POD = "payments-api-7d9f8b-xk2pq"

pytestmark = pytest.mark.e2e


# --- fixtures: everything real, each on its own free port ---------------------------------


@pytest.fixture
def kube() -> Iterator[KubeStateExporter]:
    """A healthy cluster: nothing waiting, no restarts, no pressure, rollouts progressing."""
    with KubeStateExporter() as k:
        k.pod_waiting(NAMESPACE, POD, "api", "CrashLoopBackOff", False)
        k.container_restarted(NAMESPACE, POD, "api", 0)
        k.node("node-a", "MemoryPressure", "false")
        k.node("node-a", "DiskPressure", "false")
        k.deployment(NAMESPACE, "checkout", "Progressing", "true")
        k.autoscaler(NAMESPACE, "checkout", current=3, minimum=2, maximum=10)
        yield k


@pytest.fixture
def rule_file() -> dict[str, Any]:
    return rules.compress(rules.load_rules(RULES), for_="2s")


@pytest.fixture
async def prometheus(
    kube: KubeStateExporter,
    alertmanager: servers.Monitor,
    rule_file: dict[str, Any],
    tmp_path: Path,
) -> AsyncIterator[servers.Monitor]:
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    rules_path = workdir / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rule_file, sort_keys=False), encoding="utf-8")
    servers.run_tool([servers.binary("promtool"), "check", "rules", str(rules_path)])
    config = servers.prometheus_config(kube.target, alertmanager.url, rules_path)
    monitor = servers.prometheus(config, workdir)
    await monitor.start()
    try:
        await monitor.until(_target_up, "/api/v1/targets", "kube-state-metrics target up")
        await monitor.until(_alertmanager_known, "/api/v1/alertmanagers", "alertmanager discovered")
        yield monitor
    finally:
        monitor.stop()
        print(f"--- prometheus log (tail)\n{servers.log_tail(workdir)}", file=sys.stderr)


def _target_up(response: httpx.Response) -> bool:
    targets = response.json()["data"]["activeTargets"]
    return bool(targets) and all(t["health"] == "up" for t in targets)


def _alertmanager_known(response: httpx.Response) -> bool:
    return bool(response.json()["data"]["activeAlertmanagers"])


# --- what the test watches ---------------------------------------------------------------


@pytest.fixture
async def watch(
    routed_stack: Stack, relay: WebhookRelay, pager: Receiver, prometheus: servers.Monitor
) -> AsyncIterator[Watch]:
    async with watching(routed_stack.url("statuspage"), relay, pager) as w:
        yield w


def report(
    timings: list[tuple[str, float, float]],
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Print the timings to the terminal (even under capture) and into the JUnit XML."""
    lines = [
        "Herald e2e timings (measured, not asserted):",
        "  A = Alertmanager's POST reaching the relay in front of ingest -> SSE event at the test",
        "  B = metric changed on the exporter (or amtool run) -> SSE event at the test",
        "      (B includes scrape 1s, evaluation 1s, for: 2s, group_wait/interval 1s)",
    ]
    for step, from_post, from_change in timings:
        lines.append(f"  {step:<38} A {from_post * 1000:7.1f} ms   B {from_change:6.2f} s")
        record_property(f"latency_post_to_sse_ms[{step}]", round(from_post * 1000, 1))
        record_property(f"latency_change_to_sse_s[{step}]", round(from_change, 3))
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# --- the test ---------------------------------------------------------------------------


async def test_prometheus_alerts_drive_the_status_page(
    watch: Watch,
    kube: KubeStateExporter,
    alertmanager: servers.Monitor,
    rule_file: dict[str, Any],
    herald_config: tuple[Path, HeraldConfig],
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = herald_config[1]

    def status_for(alertname: str) -> str:
        severity = rules.alerting_rule(rule_file, alertname)["labels"]["severity"]
        return str(config.severity.map.get(severity, config.severity.default))

    def summary_of(alertname: str) -> str:
        return str(rules.alerting_rule(rule_file, alertname)["annotations"]["summary"])

    before = await watch.summary()
    assert {c["id"]: c["status"] for c in before["components"] if c["id"] in config.services} == {
        sid: "operational" for sid in config.services
    }

    try:
        await _crashloop(watch, kube, status_for, summary_of)
        await _amtool(watch, alertmanager)
        internal_since = watch.marks()
        internal_titles = await _internal(watch, kube, summary_of)
        await _cluster(watch, kube, status_for, summary_of)
    finally:
        report(watch.timings, record_property, capsys)

    # Internal alerts never touched the page. The pages above prove their incidents were
    # published before step 4's, and SSE delivers in INCIDENTS order: had the page reacted to
    # them, the events would be in the stream before step 4's.
    def leaks(event: SseEvent) -> bool:
        if event.event == "snapshot":
            return False
        data = event.json()
        return data.get("service") in ("payments-api", "deployments") and (
            (data.get("component") or {}).get("status") != "operational"
            or data.get("incident") is not None
            or any(title in event.data for title in internal_titles)
        )

    leaked = [e.data for e in watch.events.since(internal_since[0]) if leaks(e)]
    assert leaked == [], "alerts of the `public: false` integration reached the page"
    history = (await watch.http.get(f"{watch.page}/api/v2/incidents.json")).json()["incidents"]
    names = [i["name"] for i in history]
    html = (await watch.http.get(f"{watch.page}/")).text
    for title in internal_titles:
        assert title not in names
        assert title not in html

    after = await watch.summary()
    assert after["incidents"] == []
    assert after["status"]["description"] == "All Systems Operational"
    assert {c["id"]: c["status"] for c in after["components"] if c["id"] in config.services} == {
        sid: "operational" for sid in config.services
    }


async def _crashloop(
    watch: Watch,
    kube: KubeStateExporter,
    status_for: Callable[[str], str],
    summary_of: Callable[[str], str],
) -> None:
    """1. The pod crash-loops, then recovers."""
    alert, title = "PaymentsAPICrashLoopBackOff", summary_of("PaymentsAPICrashLoopBackOff")
    outage = status_for(alert)
    assert outage == "major_outage"

    since, started = watch.marks(), time.monotonic()
    kube.pod_waiting(NAMESPACE, POD, "api", "CrashLoopBackOff", True)
    await watch.page_change(
        "crash loop: firing", "payments-api", outage, alert, STATUS_PAGE_TOKEN, since, started
    )
    summary = await watch.summary()
    assert component(summary, "payments-api")["status"] == outage
    assert summary["status"]["indicator"] != "none"
    (incident,) = summary["incidents"]
    assert incident["name"] == title
    assert incident["status"] != "resolved"
    body = incident["incident_updates"][0]["body"]
    assert POD in body, "the description annotation, templated by Prometheus, is the update"
    opened = await watch.pages.wait(
        paged("incident.opened", "payments-api", title), "page: crash loop opened", since[2]
    )

    since, started = watch.marks(), time.monotonic()
    kube.pod_waiting(NAMESPACE, POD, "api", "CrashLoopBackOff", False)
    await watch.page_change(
        "crash loop: resolved",
        "payments-api",
        "operational",
        alert,
        STATUS_PAGE_TOKEN,
        since,
        started,
    )
    summary = await watch.summary()
    assert component(summary, "payments-api")["status"] == "operational"
    assert summary["incidents"] == []
    assert summary["status"]["indicator"] == "none"
    resolved = await watch.pages.wait(
        paged("incident.resolved", "payments-api"), "page: crash loop resolved", since[2]
    )
    assert resolved.item["incident"]["id"] == opened.item["incident"]["id"]


async def _amtool(watch: Watch, alertmanager: servers.Monitor) -> None:
    """2. An alert added by hand with amtool flips the page; ending it restores the page.

    The command is the one users try first; the shipped routing sends a critical alert that is
    not marked customer_facing="false" to the status-page integration."""
    labels = ["alertname=TestAlert", "severity=critical", "service=payments-api"]
    start = (datetime.now(UTC) - timedelta(seconds=1)).replace(microsecond=0)

    since, started = watch.marks(), time.monotonic()
    await servers.amtool(alertmanager.url, "alert", "add", *labels, f"--start={start.isoformat()}")
    await watch.page_change(
        "amtool: added",
        "payments-api",
        "major_outage",
        "TestAlert",
        STATUS_PAGE_TOKEN,
        since,
        started,
    )
    summary = await watch.summary()
    (incident,) = summary["incidents"]
    assert incident["name"] == "TestAlert", (
        "without a summary annotation the title is the alertname"
    )

    # Same labels and start, an end time: Alertmanager merges it into the same alert, resolved.
    end = datetime.now(UTC).replace(microsecond=0)
    since, started = watch.marks(), time.monotonic()
    await servers.amtool(
        alertmanager.url,
        "alert",
        "add",
        *labels,
        f"--start={start.isoformat()}",
        f"--end={end.isoformat()}",
    )
    await watch.page_change(
        "amtool: ended",
        "payments-api",
        "operational",
        "TestAlert",
        STATUS_PAGE_TOKEN,
        since,
        started,
    )
    assert (await watch.summary())["incidents"] == []


async def _internal(
    watch: Watch, kube: KubeStateExporter, summary_of: Callable[[str], str]
) -> list[str]:
    """3. customer_facing="false": on-call is paged, the page does not move. Returns the titles."""
    restarts, rollout = "PaymentsAPIHighRestartCount", "KubeDeploymentRolloutStuck"
    since = watch.marks()
    kube.container_restarted(NAMESPACE, POD, "api", 5)
    kube.deployment(NAMESPACE, "checkout", "Progressing", "false")
    for alertname, service in ((restarts, "payments-api"), (rollout, "deployments")):
        post = await watch.posts.wait(
            posted(alertname, "firing", INTERNAL_TOKEN),
            f"notification of {alertname} to the internal integration",
            since[1],
            STEP_TIMEOUT,
        )
        assert post.item.status == 200, f"ingest answered {post.item}"
        await watch.pages.wait(
            paged("incident.opened", service, summary_of(alertname)),
            f"page: {alertname} opened on {service}",
            since[2],
            STEP_TIMEOUT,
        )
    assert not any(d.token == STATUS_PAGE_TOKEN for d in watch.posts.since(since[1]))
    summary = await watch.summary()
    assert component(summary, "payments-api")["status"] == "operational"
    assert component(summary, "deployments")["status"] == "operational"
    shown = [i["name"] for i in summary["incidents"]]
    assert shown == [], f"incidents of the `public: false` integration are on the page: {shown}"

    kube.deployment(NAMESPACE, "checkout", "Progressing", "true")
    await watch.pages.wait(
        paged("incident.resolved", "deployments"), "page: rollout resolved", since[2], STEP_TIMEOUT
    )
    return [summary_of(restarts), summary_of(rollout)]


async def _cluster(
    watch: Watch,
    kube: KubeStateExporter,
    status_for: Callable[[str], str],
    summary_of: Callable[[str], str],
) -> None:
    """4. Cluster alerts land on the services whose matchers name them."""
    cases = [("KubeNodeMemoryPressure", "nodes"), ("KubeHpaMaxedOut", "autoscaling")]
    since, started = watch.marks(), time.monotonic()
    kube.node("node-a", "MemoryPressure", "true")
    kube.autoscaler(NAMESPACE, "checkout", current=10, minimum=2, maximum=10)
    for alertname, service in cases:
        await watch.page_change(
            f"{alertname}: firing",
            service,
            status_for(alertname),
            alertname,
            STATUS_PAGE_TOKEN,
            since,
            started,
        )
    summary = await watch.summary()
    assert sorted(i["name"] for i in summary["incidents"]) == sorted(
        summary_of(a) for a, _ in cases
    )
    for alertname, service in cases:
        assert component(summary, service)["status"] == status_for(alertname)

    since, started = watch.marks(), time.monotonic()
    kube.node("node-a", "MemoryPressure", "false")
    kube.autoscaler(NAMESPACE, "checkout", current=4, minimum=2, maximum=10)
    for alertname, service in cases:
        await watch.page_change(
            f"{alertname}: resolved",
            service,
            "operational",
            alertname,
            STATUS_PAGE_TOKEN,
            since,
            started,
        )
