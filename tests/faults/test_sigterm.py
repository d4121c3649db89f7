"""Each service stopped with SIGTERM in the middle of a burst (once while the alerts fire, once
while they resolve) and started again: it exits cleanly after the work in flight finished (uvicorn
runs the lifespan's shutdown, then raises the SIGTERM it caught again: exit -15, within the
bound), and nothing was acknowledged that was not applied. For the correlator that is checked
on the stopped process's own traces: every ALERTS message it had fetched was acked (none left
for JetStream to redeliver after `ack_wait`), and every alert event it acked is in Redis."""

from __future__ import annotations

import json
import signal

import nats
import pytest
import redis.asyncio as aioredis

from devstack.processes import Stack
from herald.shared.events import ALERT_STREAM_ADAPTER, AlertReceived, AlertState
from herald.shared.keys import service_key
from herald.shared.subjects import ALERTS_STREAM, CORRELATOR_DURABLE
from tests.faults import signals, storm
from tests.faults.conftest import SERVICES
from tests.infra import Infra
from tests.receiver import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

PER_SERVICE = 12


async def assert_acked_means_applied(infra: Infra) -> int:
    """With the correlator stopped: nothing it fetched is unacked, and every alert event up to
    its durable's ack floor is in its service's state (a resolve as resolved). Returns how many
    alert events were checked."""
    nc = await nats.connect(infra.nats_url)
    r = aioredis.from_url(infra.redis_url)
    try:
        js = nc.jetstream()
        info = await js.consumer_info(ALERTS_STREAM, CORRELATOR_DURABLE)
        assert info.num_ack_pending == 0, f"fetched and left unacked by a graceful stop: {info}"
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        checked = 0
        for seq in range(1, (floor or 0) + 1):
            event = ALERT_STREAM_ADAPTER.validate_json((await js.get_msg(ALERTS_STREAM, seq)).data)
            if not isinstance(event, AlertReceived):
                continue  # a group report: it adds nothing the drill's alerts do not say
            service = event.labels["service"]
            raw = await r.hget(service_key(service, "alerts"), event.fingerprint)
            assert raw is not None, f"acked but not applied: message {seq} {event}"
            if event.status is AlertState.RESOLVED:
                status = json.loads(raw)["status"]
                assert status == AlertState.RESOLVED.value, f"message {seq}: {status} {event}"
            checked += 1
        return checked
    finally:
        await r.aclose()
        await nc.close()


@pytest.mark.parametrize("victim", ["ingest", "correlator", "notifier", "statuspage"])
async def test_a_service_stopped_mid_burst_finishes_its_work_first(
    own_infra: Infra, stack: Stack, pager: Receiver, sender: storm.Sender, victim: str
) -> None:
    batch = storm.alerts(SERVICES, PER_SERVICE)
    pages = storm.Pages(pager)
    checked: list[int] = []

    async def terminate() -> None:
        code = await signals.stop(stack, victim, signal.SIGTERM)
        assert code == -signal.SIGTERM, f"{victim} exit code"
        if victim == "correlator":
            checked.append(await assert_acked_means_applied(own_infra))
        await signals.restart(stack, victim)

    await signals.interrupted(sender, storm.webhooks(batch, "firing"), 1, terminate)
    await pages.until("incident.opened", SERVICES)
    await storm.page_until(
        stack.url("statuspage"), "major_outage", SERVICES, internal=stack.internal_url("statuspage")
    )
    await signals.interrupted(sender, storm.webhooks(batch, "resolved"), 1, terminate)
    await pages.until("incident.resolved", SERVICES)
    after = await storm.page_until(
        stack.url("statuspage"), "operational", SERVICES, internal=stack.internal_url("statuspage")
    )
    assert after["incidents"] == []
    await storm.drained(own_infra.nats_url)
    storm.assert_one_incident_each(pages, SERVICES, PER_SERVICE)
    if victim == "correlator":
        assert len(checked) == 2
        assert checked[1] > 0, "the correlator had acked no alert event when it was stopped"
    for name, proc in stack.procs.items():
        assert proc.returncode is None, f"{name} exited"
