"""People in control, end to end: the `herald` CLI (a real process) -> ingest's admin API ->
COMMANDS in JetStream -> the correlator -> INCIDENTS, with real NATS and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest
import uvicorn
from nats.aio.msg import Msg

from herald.correlator.app import create_app as correlator_app
from herald.ingest.app import create_app as ingest_app
from herald.shared.config import parse_config
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    AlertReceived,
    AlertState,
    ComponentStatus,
    ComponentStatusChanged,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    MaintenanceChanged,
    MaintenanceStatus,
)
from herald.shared.runtime import NatsConnection
from herald.shared.streams import ensure_streams
from herald.shared.subjects import alert_subject
from tests.infra import Infra
from tests.loopback import serving

pytestmark = pytest.mark.integration

WAIT = 20.0
"""Upper bound for awaiting an expected event (a failure, never a timing)."""

CONFIG = parse_config(
    """
integrations:
  alertmanager: {token: t1}
services:
  payments-api: {name: Payments API}
  search: {name: Search}
admin:
  tokens:
    ops: {env: TEST_OPS_TOKEN}
"""
)
SVC = "payments-api"
TOKEN = "s3cret-ops"


@dataclass
class Stack:
    api: str
    events: asyncio.Queue[IncidentEvent]
    js: nats.js.JetStreamContext

    async def next(self, kind: type, where=lambda e: True) -> IncidentEvent:  # type: ignore[no-untyped-def]
        """The next event of `kind` satisfying `where` (others are skipped)."""
        while True:
            event = await asyncio.wait_for(self.events.get(), WAIT)
            if isinstance(event, kind) and where(event):
                return event

    async def herald(self, *args: str, token: str = TOKEN, key: str = "") -> tuple[int, str, str]:
        env = dict(os.environ, HERALD_API_URL=self.api, HERALD_API_TOKEN=token)
        if key:
            env["HERALD_IDEMPOTENCY_KEY"] = key
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "herald.cli",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def fire(self, fingerprint: str, severity: str) -> None:
        now = datetime.now(UTC)
        event = AlertReceived(
            event_id=f"alertmanager:{fingerprint}:firing:{now.isoformat()}",
            occurred_at=now,
            received_at=now,
            integration="alertmanager",
            fingerprint=fingerprint,
            status=AlertState.FIRING,
            labels={"alertname": "HighLatency", "service": SVC, "severity": severity},
            annotations={"summary": "Latency high"},
            starts_at=now,
        )
        await self.js.publish(
            alert_subject("alertmanager"),
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": event.event_id},
        )


def server(app: object) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))  # type: ignore[arg-type]


@asynccontextmanager
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    events: asyncio.Queue[IncidentEvent] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        await events.put(INCIDENT_EVENT_ADAPTER.validate_json(msg.data))

    await js.subscribe("incidents.>", cb=on_msg, ordered_consumer=True)
    async with AsyncExitStack() as stack_:
        correlator = await stack_.enter_async_context(
            serving(server(correlator_app(CONFIG, infra.settings())))
        )
        env = {"TEST_OPS_TOKEN": TOKEN, "HERALD_CORRELATOR_URL": correlator}
        conn = NatsConnection(infra.nats_url, "herald-ingest")
        api = await stack_.enter_async_context(
            serving(server(ingest_app(CONFIG, infra.settings(), nats=conn, environ=env)))
        )
        async with httpx.AsyncClient(base_url=api) as http:
            await http.get("/")  # any answer: the lifespan ran; ingest connects in the background
        await asyncio.wait_for(conn.connected.wait(), WAIT)
        yield Stack(api, events, js)
    await nc.drain()


async def test_an_incident_run_by_hand(infra: Infra, tmp_path: Path) -> None:
    summary_file = tmp_path / "postmortem.md"
    summary_file.write_text("## What happened\nA bad deploy; rolled back.\n", encoding="utf-8")
    async with stack(infra) as s:
        code, out, err = await s.herald(
            "incident",
            "open",
            "--service",
            SVC,
            "--title",
            "Checkout errors",
            "--body",
            "We are looking into failed payments.",
            key="open-1",
        )
        assert code == 0, err
        assert "accepted: command cmd-" in out
        opened = await s.next(IncidentOpened)
        assert isinstance(opened, IncidentOpened)
        inc = opened.incident
        assert inc.opened_by == "ops"
        assert inc.timeline[-1].body == "We are looking into failed payments."

        # the same request again (a retry): the same command, nothing new happens
        code, again, _ = await s.herald(
            "incident",
            "open",
            "--service",
            SVC,
            "--title",
            "Checkout errors",
            key="open-1",
        )
        assert code == 0
        assert again == out

        code, _, err = await s.herald(
            "incident", "update", inc.id, "--status", "identified", "--body", "A bad deploy."
        )
        assert code == 0, err
        updated = await s.next(IncidentUpdated)
        assert isinstance(updated, IncidentUpdated)
        assert updated.incident.status is IncidentStatus.IDENTIFIED
        assert updated.incident.timeline[-1].body == "A bad deploy."

        # an override: automation does not overwrite it, alerts keep paging
        code, _, err = await s.herald("component", "set", SVC, "partial_outage", "--reason", "x")
        assert code == 0, err
        changed = await s.next(ComponentStatusChanged)
        assert isinstance(changed, ComponentStatusChanged)
        assert changed.status is ComponentStatus.PARTIAL_OUTAGE
        await s.fire("fp-critical", "critical")
        joined = await s.next(IncidentUpdated)
        assert isinstance(joined, IncidentUpdated)
        assert joined.incident.component_status is ComponentStatus.PARTIAL_OUTAGE
        code, _, err = await s.herald("component", "clear", SVC)
        assert code == 0, err
        back = await s.next(ComponentStatusChanged)
        assert isinstance(back, ComponentStatusChanged)
        assert back.status is ComponentStatus.MAJOR_OUTAGE  # what the critical alert says

        code, listed, err = await s.herald("alert", "list", "--json")
        assert code == 0, err
        assert [a["fingerprint"] for a in json.loads(listed)["alerts"]] == ["fp-critical"]
        code, _, err = await s.herald("alert", "resolve", "fp-critical")
        assert code == 0, err
        resolved = await s.next(IncidentResolved)
        assert isinstance(resolved, IncidentResolved)

        code, _, err = await s.herald(
            "incident", "postmortem", inc.id, "--body-file", str(summary_file)
        )
        assert code == 0, err
        summary = await s.next(IncidentResolved, lambda e: e.incident.status == "postmortem")
        assert isinstance(summary, IncidentResolved)
        assert summary.incident.postmortem_body.startswith("## What happened")

        code, listed, err = await s.herald("incident", "list")
        assert code == 0, err
        assert inc.id in listed
        assert "postmortem" in listed

        # the audit: who did what, the retried open once
        async with httpx.AsyncClient(base_url=s.api) as http:
            audit = await http.get("/api/v1/audit", headers={"Authorization": f"Bearer {TOKEN}"})
        kinds = [e["kind"] for e in audit.json()["audit"]]
        assert kinds.count("command.incident.open") == 1
        assert {e["actor"] for e in audit.json()["audit"]} == {"ops"}
        # and the same through the CLI, for people and for scripts
        code, text, err = await s.herald("audit", "list", "--service", "payments-api")
        assert code == 0, err
        assert f"command.incident.open by ops: opened {inc.id}" in text
        opened = next(e for e in audit.json()["audit"] if e["kind"] == "command.incident.open")
        code, doc, err = await s.herald(
            "audit", "list", "--command-id", opened["command_id"], "--json"
        )
        assert code == 0, err
        assert [e["kind"] for e in json.loads(doc)["audit"]] == ["command.incident.open"]


async def test_maintenance_starts_and_completes_by_itself(infra: Infra) -> None:
    async with stack(infra) as s:
        # Seconds ahead, not one: the CLI process alone can take a few seconds to start on a
        # loaded machine, and a window whose end is already past is refused (422).
        start = datetime.now(UTC) + timedelta(seconds=6)
        code, _, err = await s.herald(
            "maintenance",
            "schedule",
            "--services",
            f"{SVC},search",
            "--title",
            "DB upgrade",
            "--start",
            start.isoformat(),
            "--end",
            (start + timedelta(seconds=2)).isoformat(),
        )
        assert code == 0, err
        for status in (
            MaintenanceStatus.SCHEDULED,
            MaintenanceStatus.IN_PROGRESS,
            MaintenanceStatus.COMPLETED,
        ):
            event = await s.next(
                MaintenanceChanged,
                lambda e, st=status: e.service == SVC and e.maintenance.status == st,
            )
            assert isinstance(event, MaintenanceChanged)
            if status is MaintenanceStatus.IN_PROGRESS:
                shown = await s.next(ComponentStatusChanged, lambda e: e.service == SVC)
                assert isinstance(shown, ComponentStatusChanged)
                assert shown.status is ComponentStatus.UNDER_MAINTENANCE
        back = await s.next(ComponentStatusChanged, lambda e: e.service == SVC)
        assert isinstance(back, ComponentStatusChanged)
        assert back.status is ComponentStatus.OPERATIONAL
        code, listed, _ = await s.herald("maintenance", "list")
        assert "completed" in listed
        assert f"{SVC},search" in listed


async def test_a_window_in_progress_is_verified_by_hand_then_completed(infra: Infra) -> None:
    """`herald maintenance verify`: only a window in progress can be marked verifying (a
    scheduled one is a 409, exit 5); every service it covers goes to verifying, the component
    stays under maintenance until `complete`, and a verify of a window that is over is a 409."""
    async with stack(infra) as s:
        later = datetime.now(UTC) + timedelta(hours=1)
        code, _, err = await s.herald(
            "maintenance",
            "schedule",
            "--services",
            SVC,
            "--title",
            "Later",
            "--start",
            later.isoformat(),
            "--end",
            (later + timedelta(hours=1)).isoformat(),
        )
        assert code == 0, err
        future = await s.next(MaintenanceChanged, lambda e: e.maintenance.title == "Later")
        assert isinstance(future, MaintenanceChanged)
        code, _, err = await s.herald("maintenance", "verify", future.maintenance.id)
        assert code == 5, err  # not started yet
        assert "only a window in progress" in err

        start = datetime.now(UTC) + timedelta(seconds=6)  # see the test above
        code, _, err = await s.herald(
            "maintenance",
            "schedule",
            "--services",
            f"{SVC},search",
            "--title",
            "DB upgrade",
            "--start",
            start.isoformat(),
            "--end",
            (start + timedelta(hours=1)).isoformat(),
        )
        assert code == 0, err
        scheduled = await s.next(MaintenanceChanged, lambda e: e.service == SVC)
        assert isinstance(scheduled, MaintenanceChanged)
        mid = scheduled.maintenance.id
        await s.next(
            MaintenanceChanged,
            lambda e: e.service == SVC and e.maintenance.status is MaintenanceStatus.IN_PROGRESS,
        )
        shown = await s.next(ComponentStatusChanged, lambda e: e.service == SVC)
        assert isinstance(shown, ComponentStatusChanged)
        assert shown.status is ComponentStatus.UNDER_MAINTENANCE

        code, out, err = await s.herald(
            "maintenance", "verify", mid, "--body", "Upgrade done; checking.", key="verify-1"
        )
        assert code == 0, err
        verifying = {}
        while len(verifying) < 2:
            event = await s.next(
                MaintenanceChanged, lambda e: e.maintenance.status is MaintenanceStatus.VERIFYING
            )
            assert isinstance(event, MaintenanceChanged)
            verifying[event.service] = event.maintenance
        assert set(verifying) == {SVC, "search"}
        assert verifying[SVC].verifying_body == "Upgrade done; checking."
        code, again, err = await s.herald(
            "maintenance", "verify", mid, "--body", "Upgrade done; checking.", key="verify-1"
        )
        assert (code, again) == (0, out), err  # a retry: the same command, the same answer
        code, listed, err = await s.herald("maintenance", "list", "--json")
        assert code == 0, err
        statuses = {w["id"]: w["status"] for w in json.loads(listed)["maintenances"]}
        assert (statuses[mid], statuses[future.maintenance.id]) == ("verifying", "scheduled")
        code, _, err = await s.herald("maintenance", "verify", mid)
        assert code == 5, err  # verifying already
        assert f"maintenance {mid} is verifying" in err

        code, _, err = await s.herald("maintenance", "complete", mid)
        assert code == 0, err
        done = await s.next(
            MaintenanceChanged,
            lambda e: e.service == SVC and e.maintenance.status is MaintenanceStatus.COMPLETED,
        )
        assert isinstance(done, MaintenanceChanged)
        assert not done.maintenance.cancelled
        # The component's next change is its way back: it stayed under maintenance while the
        # window was verified.
        back = await s.next(ComponentStatusChanged, lambda e: e.service == SVC)
        assert isinstance(back, ComponentStatusChanged)
        assert (back.previous_status, back.status) == (
            ComponentStatus.UNDER_MAINTENANCE,
            ComponentStatus.OPERATIONAL,
        )
        code, _, err = await s.herald("maintenance", "verify", mid)
        assert code == 5, err
        assert "already completed" in err
        async with httpx.AsyncClient(base_url=s.api) as http:
            audit = await http.get(
                "/api/v1/audit",
                params={"service": SVC},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        applied = [
            e
            for e in audit.json()["audit"]
            if e["kind"] == "command.maintenance.verify" and e["outcome"] == "applied"
        ]
        assert len(applied) == 1  # the retry applied nothing


async def test_clear_errors_and_exit_codes(infra: Infra) -> None:
    async with stack(infra) as s:
        code, _, err = await s.herald("incident", "list", token="wrong")
        assert code == 1
        assert "HTTP 401" in err
        code, _, err = await s.herald("component", "set", "nope", "major_outage")
        assert code == 1
        assert "unknown service" in err
        code, _, err = await s.herald("incident", "list", token="")
        assert code == 4
        assert "HERALD_API_TOKEN" in err
    env = dict(os.environ, HERALD_API_URL="http://127.0.0.1:9", HERALD_API_TOKEN=TOKEN)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald.cli",
        "incident",
        "list",
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err_b = await proc.communicate()
    assert proc.returncode == 3
    assert b"cannot reach" in err_b


async def test_a_second_incident_on_a_service_is_refused_naming_the_open_one(infra: Infra) -> None:
    """One incident per service: opening another while one is open is a 409 that names the
    open incident and says to update it (API and CLI, exit code 5); a retried open of the one
    that is open is still the same 202; another service opens freely."""
    async with stack(infra) as s:
        code, first, err = await s.herald(
            "incident", "open", "--service", SVC, "--title", "Checkout errors", key="first"
        )
        assert code == 0, err
        opened = await s.next(IncidentOpened)
        assert isinstance(opened, IncidentOpened)
        open_id = opened.incident.id

        code, out, err = await s.herald(
            "incident", "open", "--service", SVC, "--title", "Refunds slow", key="second"
        )
        assert code == 5, (code, out, err)
        assert out == ""
        assert "HTTP 409" in err
        assert f"already has an open incident, {open_id}" in err
        assert f"herald incident update {open_id}" in err

        async with httpx.AsyncClient(base_url=s.api) as http:
            refused = await http.post(
                "/api/v1/incidents",
                json={"service": SVC, "title": "Refunds slow"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert refused.status_code == 409
        doc = refused.json()
        assert doc["open_incident"] == open_id
        assert open_id in doc["detail"]
        assert "update" in doc["hint"]

        # a retry of the open that succeeded: the same answer, nothing new
        code, again, err = await s.herald(
            "incident", "open", "--service", SVC, "--title", "Checkout errors", key="first"
        )
        assert (code, again) == (0, first), err

        code, _, err = await s.herald("incident", "open", "--service", "search", "--title", "x")
        assert code == 0, err
        other = await s.next(IncidentOpened)
        assert isinstance(other, IncidentOpened)
        assert other.service == "search"

        # Resolved, the service takes a new incident again.
        code, _, err = await s.herald("incident", "resolve", open_id)
        assert code == 0, err
        await s.next(IncidentResolved, lambda e: e.incident.id == open_id)
        code, _, err = await s.herald(
            "incident", "open", "--service", SVC, "--title", "Refunds slow", key="third"
        )
        assert code == 0, err
        reopened = await s.next(IncidentOpened, lambda e: e.service == SVC)
        assert isinstance(reopened, IncidentOpened)
        assert reopened.incident.id != open_id


async def test_commands_the_correlator_would_refuse_are_told_at_once(
    infra: Infra, tmp_path: Path
) -> None:
    """An update or a resolve of a resolved incident, a second postmortem, a change of an
    unknown incident, and a cancel of a window that is over: the correlator would refuse them
    after a 202 that said nothing, so the API answers 409 (CLI exit 5) or 404 (exit 1) with
    why; a retry of the resolve that succeeded is still the same 202."""
    async with stack(infra) as s:
        code, _, err = await s.herald("incident", "open", "--service", SVC, "--title", "Errors")
        assert code == 0, err
        opened = await s.next(IncidentOpened)
        assert isinstance(opened, IncidentOpened)
        iid = opened.incident.id
        code, first, err = await s.herald("incident", "resolve", iid, key="resolve-1")
        assert code == 0, err
        await s.next(IncidentResolved, lambda e: e.incident.id == iid)

        code, out, err = await s.herald("incident", "update", iid, "--body", "still?")
        assert (code, out) == (5, ""), (code, out, err)
        assert "HTTP 409" in err
        assert f"incident {iid} is resolved" in err
        assert f"herald incident postmortem {iid}" in err
        code, _, err = await s.herald("incident", "resolve", iid)
        assert code == 5, err
        assert "can no longer be resolved" in err
        code, again, err = await s.herald("incident", "resolve", iid, key="resolve-1")
        assert (code, again) == (0, first), err  # the same command: the same answer

        async with httpx.AsyncClient(base_url=s.api) as http:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            unknown = await http.post(f"/api/v1/incidents/{SVC}-999/resolve", json={}, headers=auth)
            assert unknown.status_code == 404
            assert unknown.json()["incident"] == f"{SVC}-999"
            assert "herald incident list" in unknown.json()["hint"]
            refused = await http.post(
                f"/api/v1/incidents/{iid}/updates", json={"body": "x"}, headers=auth
            )
            assert refused.status_code == 409
            assert refused.json()["incident_status"] == "resolved"
        code, _, err = await s.herald("incident", "update", f"{SVC}-999", "--body", "x")
        assert code == 1, err
        assert "HTTP 404" in err

        summary = tmp_path / "postmortem.md"
        summary.write_text("A bad deploy; rolled back.")
        code, _, err = await s.herald("incident", "postmortem", iid, "--body-file", str(summary))
        assert code == 0, err
        await s.next(IncidentResolved, lambda e: e.incident.status is IncidentStatus.POSTMORTEM)
        code, _, err = await s.herald("incident", "postmortem", iid, "--body-file", str(summary))
        assert code == 5, err
        assert "already has its postmortem" in err

        start = datetime.now(UTC) + timedelta(hours=1)
        code, _, err = await s.herald(
            "maintenance",
            "schedule",
            "--services",
            SVC,
            "--title",
            "DB upgrade",
            "--start",
            start.isoformat(),
            "--end",
            (start + timedelta(hours=1)).isoformat(),
            "--json",
        )
        assert code == 0, err
        scheduled = await s.next(MaintenanceChanged)
        assert isinstance(scheduled, MaintenanceChanged)
        mid = scheduled.maintenance.id
        code, _, err = await s.herald("maintenance", "cancel", mid)
        assert code == 0, err
        await s.next(
            MaintenanceChanged, lambda e: e.maintenance.status is MaintenanceStatus.COMPLETED
        )
        code, _, err = await s.herald("maintenance", "complete", mid)
        assert code == 5, err
        assert f"maintenance {mid} is already cancelled" in err
        code, _, err = await s.herald("maintenance", "cancel", "mnt-nope")
        assert code == 1, err
        assert "no maintenance mnt-nope" in err


async def test_resolving_an_alert_herald_does_not_hold_firing_is_a_404_naming_it(
    infra: Infra,
) -> None:
    """`herald alert resolve` of a fingerprint Herald does not hold as firing used to be
    accepted and then do nothing (no service takes it: not even an audit entry). It is a 404
    naming it (CLI exit 1); a firing one resolves, and a retry of that resolve is the same
    202 although the alert no longer fires."""
    async with stack(infra) as s:
        code, out, err = await s.herald("alert", "resolve", "fp-nope")
        assert (code, out) == (1, ""), (code, out, err)
        assert "HTTP 404" in err
        assert "no firing alert fp-nope" in err
        assert "herald alert list" in err

        await s.fire("fp-stuck", "critical")
        opened = await s.next(IncidentOpened)
        assert isinstance(opened, IncidentOpened)
        # firing, but of another service than the one named: not held there
        code, _, err = await s.herald("alert", "resolve", "fp-stuck", "--service", "search")
        assert code == 1, err
        assert "no firing alert fp-stuck of search" in err
        async with httpx.AsyncClient(base_url=s.api) as http:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            unknown = await http.post("/api/v1/alerts/fp-nope/resolve", json={}, headers=auth)
            assert unknown.status_code == 404
            assert unknown.json()["fingerprint"] == "fp-nope"
            audit = await http.get("/api/v1/audit", headers=auth)
            assert audit.json()["audit"] == []  # nothing was stored

        code, first, err = await s.herald("alert", "resolve", "fp-stuck", key="stuck-1")
        assert code == 0, err
        resolved = await s.next(IncidentResolved)
        assert isinstance(resolved, IncidentResolved)
        assert resolved.incident.id == opened.incident.id
        code, again, err = await s.herald("alert", "resolve", "fp-stuck", key="stuck-1")
        assert (code, again) == (0, first), err  # the same command: the same answer
