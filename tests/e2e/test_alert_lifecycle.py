"""Issue 7, "Alert lifecycle exactly as Alertmanager behaves": the [AM] cases, end to end with a
real Alertmanager (Debian's 0.25) routing with the shipped deploy/alertmanager/alertmanager.yml.

Alertmanager runs as test_prometheus.py runs it (group_wait/group_interval 1s; the shipped
resolve_timeout 5m and repeat_interval 1h stay, so an alert added with amtool never times out
during a test and no notification is a repeat: every one is caused by a change). Alerts are
added with `amtool alert add` and never `--start`, as users do (docs/getting-started.md).
Why each case comes out the way it does, from Alertmanager's code: docs/alert-lifecycle.md.

1. A resolved carrying an earlier startsAt resolves. Re-adding the alert with `--end=now`:
   Alertmanager's Merge keeps the firing's startsAt. With an `--end` before the startsAt
   Alertmanager gave the firing (amtool's clock behind Alertmanager's, or both commands in the
   same second: `date +%FT%TZ` truncates), Put does not merge: the resolved carries
   startsAt = endsAt = that earlier time.
2. Silenced: a silenced alert disappears from its group's notifications (MuteStage) and never
   gets a resolved; the next complete notification of the group that does not list it ends it
   ("no longer reported by Alertmanager"); expiring the silence lists it again: it fires again.
3. Inhibited (the shipped inhibit rule: a critical inhibits the warnings of its service): the
   warning disappears while the critical fires, comes back when the critical resolves, and a
   warning that resolved while inhibited is never sent resolved: the critical's resolved
   notification, no longer listing it, is what ends it.

Each step awaits Alertmanager's notification (recorded by the relay in front of ingest), then
the page's SSE change, then reads /api/v2/summary.json. A notification Herald ignores shows as
"no SSE event ... within SETTLE s" right after the notification was accepted.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.processes import Stack
from tests.e2e.prometheus import servers
from tests.e2e.prometheus.integrations import STATUS_PAGE_TOKEN
from tests.e2e.prometheus.relay import Delivery, WebhookRelay
from tests.e2e.prometheus.watch import STEP_TIMEOUT, Watch, changed, component, watching
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

SERVICE = "payments-api"
SETTLE = 15.0
"""Bound on Herald turning an accepted notification into a page change (it takes ms)."""
NO_LONGER_REPORTED = "no longer reported by Alertmanager"


@pytest.fixture
async def watch(
    routed_stack: Stack, relay: WebhookRelay, pager: Receiver, alertmanager: servers.Monitor
) -> AsyncIterator[Watch]:
    async with watching(routed_stack.url("statuspage"), relay, pager) as w:
        yield w


# --- Alertmanager's side ------------------------------------------------------------------


def labels_of(alert: dict[str, Any]) -> dict[str, str]:
    return dict(alert.get("labels") or {})


def has(**labels: str) -> Callable[[dict[str, Any]], bool]:
    """An alert of a notification whose labels include `labels`."""
    return lambda a: all(labels_of(a).get(k) == v for k, v in labels.items())


def listed(delivery: Delivery, which: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    return [a for a in delivery.payload.get("alerts", []) if which(a)]


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as Alertmanager writes it (nanoseconds are cut to microseconds)."""
    found = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    assert found is not None, f"not an RFC 3339 time: {text!r}"
    whole, fraction, zone = found.groups()
    micro = (fraction or ".0")[1:7].ljust(6, "0")
    return datetime.fromisoformat(f"{whole}.{micro}{'+00:00' if zone == 'Z' else zone}")


def seconds(when: datetime) -> str:
    """`when` as `date -u +%FT%TZ` writes it: truncated to the second."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def add(alertmanager: servers.Monitor, labels: list[str], end: str | None = None) -> None:
    """`amtool alert add <labels> [--end=<end>]`, never `--start`."""
    extra = [] if end is None else [f"--end={end}"]
    await servers.amtool(alertmanager.url, "alert", "add", *labels, *extra)


async def notification(
    watch: Watch,
    since: tuple[int, int, int],
    what: str,
    match: Callable[[Delivery], bool],
) -> Delivery:
    """The first notification to the status-page integration since the mark that `match`es;
    it must be complete (truncatedAlerts 0) and accepted by ingest."""
    post = await watch.posts.wait(
        lambda d: d.token == STATUS_PAGE_TOKEN and match(d), what, since[1], STEP_TIMEOUT
    )
    delivery = post.item
    assert delivery.status == 200, f"ingest answered {delivery}"
    assert delivery.payload.get("truncatedAlerts") == 0, delivery.payload
    return delivery


def carrying(status: str, which: Callable[[dict[str, Any]], bool]) -> Callable[[Delivery], bool]:
    return lambda d: any(a.get("status") == status for a in listed(d, which))


def one(delivery: Delivery, which: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    (alert,) = listed(delivery, which)
    return alert


# --- Herald's side ------------------------------------------------------------------------


async def page_shows(watch: Watch, since: tuple[int, int, int], status: str) -> dict[str, Any]:
    """Await the SSE change putting the service in `status`; returns summary.json, which must
    agree."""
    await watch.events.wait(
        changed(SERVICE, status), f"SSE event: {SERVICE} {status}", since[0], SETTLE
    )
    summary = await watch.summary()
    assert component(summary, SERVICE)["status"] == status
    return summary


def open_incident(summary: dict[str, Any]) -> dict[str, Any]:
    incidents: list[dict[str, Any]] = summary["incidents"]
    (incident,) = [i for i in incidents if any(c["id"] == SERVICE for c in i["components"])]
    return incident


async def assert_timeline_says(watch: Watch, text: str, incident_id: str | None = None) -> None:
    """TIMELINE (issue 7's "The incident tells its story", being built by the integrator):
    some `incident_updates` body of the service's incident `incident_id` (or of any of its
    incidents) says `text`. Called only after the status assertions of the same step, so a
    failure here means the rules are right and only the timeline entry is missing."""
    history = (await watch.document("/api/v2/incidents.json"))["incidents"]
    mine = [
        i
        for i in history
        if (incident_id is None or i["id"] == incident_id)
        and any(c["id"] == SERVICE for c in i["components"])
    ]
    assert mine, f"no incident {incident_id or ''} of {SERVICE} in incidents.json"
    bodies = [u.get("body", "") for i in mine for u in i.get("incident_updates", [])]
    assert any(text.lower() in b.lower() for b in bodies), (
        f"no incident_updates body of {SERVICE}'s incident says {text!r}: {bodies}"
    )


# --- 1. a resolved carrying an earlier startsAt -----------------------------------------


async def test_amtool_end_without_start_resolves(
    watch: Watch, alertmanager: servers.Monitor
) -> None:
    labels = ["alertname=TestAlert", "severity=critical", "service=payments-api"]
    test_alert = has(alertname="TestAlert")

    # The command of docs/getting-started.md, then the same with --end=now.
    since = watch.marks()
    await add(alertmanager, labels)
    firing = one(
        await notification(watch, since, "TestAlert firing", carrying("firing", test_alert)),
        test_alert,
    )
    summary = await page_shows(watch, since, "major_outage")
    assert open_incident(summary)["name"] == "TestAlert"
    started = parse_time(firing["startsAt"])

    end = seconds(datetime.now(UTC))
    assert parse_time(end) > started, "the group_wait alone puts --end after startsAt"
    since = watch.marks()
    await add(alertmanager, labels, end=end)
    resolved = one(
        await notification(watch, since, "TestAlert resolved", carrying("resolved", test_alert)),
        test_alert,
    )
    # Put merged the two (the end falls inside the stored alert's active range) and Merge kept
    # the earliest startsAt: the firing's.
    assert resolved["startsAt"] == firing["startsAt"]
    assert parse_time(resolved["endsAt"]) == parse_time(end)
    summary = await page_shows(watch, since, "operational")
    assert summary["incidents"] == []

    # Fires again (a new startsAt: the stored alert is resolved, so nothing merges).
    since = watch.marks()
    await add(alertmanager, labels)
    again = one(
        await notification(watch, since, "TestAlert firing again", carrying("firing", test_alert)),
        test_alert,
    )
    restarted = parse_time(again["startsAt"])
    assert restarted > started
    await page_shows(watch, since, "major_outage")

    # --end before the startsAt Alertmanager gave the firing: the same second, truncated.
    early = seconds(restarted)
    assert parse_time(early) < restarted
    since = watch.marks()
    await add(alertmanager, labels, end=early)
    resolved = one(
        await notification(
            watch, since, "TestAlert resolved (early end)", carrying("resolved", test_alert)
        ),
        test_alert,
    )
    # No overlap with the stored alert's active range: Put replaced it, startsAt = endsAt.
    assert parse_time(resolved["startsAt"]) == parse_time(early) < restarted
    assert parse_time(resolved["endsAt"]) == parse_time(early)
    summary = await page_shows(watch, since, "operational")
    assert summary["incidents"] == []
    assert summary["status"]["indicator"] == "none"


# --- 2. silenced --------------------------------------------------------------------------


async def test_silenced_alert_is_no_longer_reported(
    watch: Watch, alertmanager: servers.Monitor
) -> None:
    labels = ["alertname=TestAlert", "severity=critical", "service=payments-api"]
    a, b = has(alertname="TestAlert", instance="a"), has(alertname="TestAlert", instance="b")

    # Two alerts of one group (group_by alertname, service, namespace).
    since = watch.marks()
    await add(alertmanager, [*labels, "instance=a"])
    await add(alertmanager, [*labels, "instance=b"])
    both = await notification(
        watch,
        since,
        "a and b firing",
        lambda d: carrying("firing", a)(d) and carrying("firing", b)(d),
    )
    summary = await page_shows(watch, since, "major_outage")
    incident_id = open_incident(summary)["id"]
    a_started = one(both, a)["startsAt"]

    # Silence a: Alertmanager stops listing it and will never send it resolved.
    output = await servers.amtool(
        alertmanager.url,
        "silence",
        "add",
        "alertname=TestAlert",
        "instance=a",
        "--comment=issue 7 e2e",
        "--author=e2e",
        "--duration=1h",
    )
    silence = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", output)
    assert silence is not None, f"amtool silence add printed no id: {output}"

    # b resolves: the group's next notification lists b resolved and not a.
    since = watch.marks()
    await add(alertmanager, [*labels, "instance=b"], end=seconds(datetime.now(UTC)))
    complete = await notification(watch, since, "b resolved", carrying("resolved", b))
    assert listed(complete, a) == [], "Alertmanager listed the silenced alert"
    assert listed(complete, lambda x: True) == listed(complete, b)

    summary = await page_shows(watch, since, "operational")
    assert summary["incidents"] == []
    assert summary["status"]["indicator"] == "none"
    await assert_timeline_says(watch, NO_LONGER_REPORTED, incident_id)

    # The silence expires while a still fires: listed again, with its old startsAt: fires again.
    since = watch.marks()
    await servers.amtool(alertmanager.url, "silence", "expire", silence.group(0))
    back = await notification(watch, since, "a firing again", carrying("firing", a))
    assert one(back, a)["startsAt"] == a_started
    summary = await page_shows(watch, since, "major_outage")
    assert open_incident(summary)["status"] != "resolved"


# --- 3. inhibited (the shipped inhibit rule) -------------------------------------------


async def test_inhibited_warning_follows_the_critical(
    watch: Watch, alertmanager: servers.Monitor
) -> None:
    base = ["alertname=PaymentsLatency", "service=payments-api", "customer_facing=true"]
    warning, critical = [*base, "severity=warning"], [*base, "severity=critical"]
    w = has(alertname="PaymentsLatency", severity="warning")
    c = has(alertname="PaymentsLatency", severity="critical")

    since = watch.marks()
    await add(alertmanager, warning)
    first = await notification(watch, since, "warning firing", carrying("firing", w))
    await page_shows(watch, since, "degraded_performance")
    w_alert = one(first, w)

    # The critical fires: the warning is inhibited, so its group's notification omits it.
    since = watch.marks()
    await add(alertmanager, critical)
    inhibiting = await notification(watch, since, "critical firing", carrying("firing", c))
    assert listed(inhibiting, w) == [], "Alertmanager listed the inhibited warning"
    await page_shows(watch, since, "major_outage")

    # The critical resolves: the inhibition lifts, the warning is listed again (same startsAt).
    since = watch.marks()
    await add(alertmanager, critical, end=seconds(datetime.now(UTC)))
    lifted = await notification(watch, since, "critical resolved", carrying("resolved", c))
    assert one(lifted, w)["status"] == "firing"
    assert one(lifted, w)["startsAt"] == w_alert["startsAt"]
    await page_shows(watch, since, "degraded_performance")

    # The critical fires again; the warning resolves while inhibited: Alertmanager mutes its
    # resolved (and then forgets it: a flush that no longer holds it).
    since = watch.marks()
    await add(alertmanager, critical)
    await notification(watch, since, "critical firing again", carrying("firing", c))
    await page_shows(watch, since, "major_outage")
    w_short = w_alert["fingerprint"][:7]
    log_mark = alertmanager.log_mark()
    sent = watch.marks()
    await add(alertmanager, warning, end=seconds(datetime.now(UTC)))
    await alertmanager.log_until(
        lambda line: (
            "msg=flushing" in line and "PaymentsLatency" in line and f"[{w_short}]" not in line
        ),
        "a flush of the PaymentsLatency group without the warning",
        log_mark,
        STEP_TIMEOUT,
    )
    muted = [d for d in watch.posts.since(sent[1]) if listed(d, w)]
    assert muted == [], "Alertmanager sent the warning resolved while inhibited"

    # The critical resolves: its notification does not list the warning, which is over.
    since = watch.marks()
    await add(alertmanager, critical, end=seconds(datetime.now(UTC)))
    last = await notification(watch, since, "critical resolved again", carrying("resolved", c))
    assert listed(last, w) == []
    summary = await page_shows(watch, since, "operational")
    assert summary["incidents"] == []
    await assert_timeline_says(watch, NO_LONGER_REPORTED)
