"""The notifier's escalation records count as stored only once a Redis replica holds them
(docs/reliability.md, bug 8), as the correlator's steps do: on a master with a replica (through
Sentinel, as REDIS_URL names it), an INCIDENTS message whose escalation write no replica
acknowledged within the wait is redelivered, not acknowledged; its redelivery, which finds the
write made on the master, confirms it (it does not write again at the old revision, which would
be refused as a conflict) and is acknowledged once the replica is back; the page and its resolve
go out once each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace

import nats
import pytest
import redis.asyncio as aioredis
from nats.js import JetStreamContext

from herald.notifier.app import create_app
from herald.notifier.escalation import EscalationState
from herald.notifier.escalation_store import EscalationStore, PendingNotice
from herald.notifier.escalator import StepRun
from herald.notifier.pager import Handled
from herald.notifier.redelivery import RetryPolicy, Verdict
from herald.shared.events import INCIDENT_EVENT_NAMES, IncidentEvent
from herald.shared.replication import NotReplicated, Replication
from herald.shared.runtime import RedisClient, open_redis
from herald.shared.subjects import incident_subject
from services.notifier.tests.events import T0, incident, opened, resolved
from services.notifier.tests.test_escalation_app import config_for
from tests.asgi import in_process
from tests.cluster.servers import READY_SECONDS, RedisSentinel
from tests.cluster.test_replication import WAIT_MS, stopped
from tests.infra import Infra
from tests.receiver import WAIT, Receiver

pytestmark = pytest.mark.integration

INCIDENT = "payments-api-inc-1"

QUICK = RetryPolicy(max_deliver=30, base_delay=0.1, max_delay=1.0)
"""Redeliveries a tenth of a second apart at first, so the test does not wait on the delay."""


@pytest.fixture
async def client(redis_sentinel: RedisSentinel) -> AsyncIterator[RedisClient]:
    redis = open_redis(redis_sentinel.url)
    deadline = asyncio.get_running_loop().time() + READY_SECONDS
    await redis.set("herald:{test}:synced", "1")
    while await redis.execute_command("WAIT", 1, 500) != 1:  # the replica's first sync is done
        assert asyncio.get_running_loop().time() < deadline, "the replica never synced"
    yield redis
    await redis.aclose()


class Handlings:
    """Every handled delivery, by event id, as the app settles it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Handled] = asyncio.Queue()

    async def next(self, event_id: str) -> Handled:
        while True:
            handled = await asyncio.wait_for(self.queue.get(), WAIT)
            if handled.event_id == event_id:
                return handled


async def publish(js: JetStreamContext, event: IncidentEvent) -> None:
    subject = incident_subject(event.service, INCIDENT_EVENT_NAMES[event.kind])
    await js.publish(
        subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
    )


async def test_an_escalation_no_replica_confirmed_is_redelivered_and_paged_once(
    infra: Infra, redis_sentinel: RedisSentinel, client: RedisClient, pager: Receiver
) -> None:
    handlings = Handlings()
    steps: asyncio.Queue[StepRun] = asyncio.Queue()
    settings = replace(infra.settings(), redis_url=redis_sentinel.url, redis_wait_ms=WAIT_MS)
    app = create_app(
        config_for(pager),
        settings,
        environ={},
        retry=QUICK,
        observe=handlings.queue.put_nowait,
        on_step=steps.put_nowait,
        lease_seconds=1.0,
    )
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    store = EscalationStore(client)
    try:
        async with in_process(app, "http://notifier"):
            with stopped(redis_sentinel.replica):
                await publish(js, opened())
                first = await handlings.next("ev-open-1")
                assert first.decision.verdict is Verdict.RETRY, first  # nak'd, not acked
                assert first.reason == "replica"
                # redelivered with the replica still away: it finds the record the master kept
                # and must not take it as stored (nor write it again at revision 0: refused)
                again = await handlings.next("ev-open-1")
                assert again.decision.verdict is Verdict.RETRY, again
                assert again.reason == "replica"
            done = await handlings.next("ev-open-1")  # the replica back: confirmed, acked
            assert done.decision.verdict is Verdict.ACK, done

            page = await pager.next("/alice")
            assert page.body["type"] == "incident.opened"
            run = await asyncio.wait_for(steps.get(), WAIT)
            assert run.committed
            rec = await store.get("payments-api", INCIDENT)
            assert rec is not None
            assert rec.state.notified_step == 0

            with stopped(redis_sentinel.replica):
                await publish(js, resolved())
                first = await handlings.next("ev-resolve-1")
                assert first.decision.verdict is Verdict.RETRY, first
                again = await handlings.next("ev-resolve-1")  # finds it resolved: not stored
                assert again.decision.verdict is Verdict.RETRY, again
            done = await handlings.next("ev-resolve-1")
            assert done.decision.verdict is Verdict.ACK, done
            told = await pager.next("/alice")
            assert told.body["type"] == "incident.resolved"
        assert pager.count("/alice") == 2  # the page and its resolve, once each
        assert pager.count("/bob") == 0
    finally:
        await nc.close()


async def test_an_acknowledgement_no_replica_confirmed_answers_try_again(
    infra: Infra, redis_sentinel: RedisSentinel, client: RedisClient, pager: Receiver
) -> None:
    settings = replace(infra.settings(), redis_url=redis_sentinel.url, redis_wait_ms=WAIT_MS)
    steps: asyncio.Queue[StepRun] = asyncio.Queue()
    app = create_app(
        config_for(pager), settings, environ={}, on_step=steps.put_nowait, lease_seconds=1.0
    )
    nc = await nats.connect(infra.nats_url)
    try:
        async with in_process(app, "http://notifier") as http:
            await publish(nc.jetstream(), opened())
            page = await pager.next("/alice")
            assert (await asyncio.wait_for(steps.get(), WAIT)).committed
            path = str(page.body["ack_url"]).removeprefix("http://notifier")
            with stopped(redis_sentinel.replica):
                refused = await http.post(path)
                assert refused.status_code == 503  # not known to be kept: try again
            answer = await http.post(path)
            assert answer.status_code == 200
            assert "acknowledged" in answer.text
        rec = await EscalationStore(client).get("payments-api", INCIDENT)
        assert rec is not None
        assert rec.state.acked_at is not None
        assert rec.state.due_at is None  # no further step: bob is never paged
    finally:
        await nc.close()


async def test_a_write_a_replica_acknowledged_takes_one_round_trip_on_one_connection(
    client: RedisClient, redis_sentinel: RedisSentinel
) -> None:
    """The script, its WAIT and the ROLE go in one pipeline: one connection, in order, nothing
    else in between (WAIT counts the writes of its own connection)."""
    store = EscalationStore(client, replication=Replication(WAIT_MS))
    state = EscalationState(policy="backend", started_at=T0, due_at=T0)
    assert await store.write("payments-api", "payments-api-inc-0", 0, state, incident())  # loads

    master = aioredis.Redis(port=redis_sentinel.master.port, decode_responses=True)
    try:
        async with master.monitor() as monitor:
            written = asyncio.ensure_future(
                store.write("payments-api", INCIDENT, 0, state, incident())
            )
            seen: list[tuple[str, str]] = []
            while not seen or seen[-1][1] != "ROLE":
                cmd = await asyncio.wait_for(monitor.next_command(), WAIT)
                name = str(cmd["command"]).split(" ", 1)[0].upper()
                if name in {"EVAL", "EVALSHA", "SCRIPT", "WAIT", "ROLE"}:
                    seen.append((f"{cmd['client_address']}:{cmd['client_port']}", name))
            assert await written  # confirmed (else NotReplicated)
    finally:
        await master.aclose()
    assert [name for _, name in seen] == ["EVALSHA", "WAIT", "ROLE"]
    assert len({conn for conn, _ in seen}) == 1, seen


async def test_a_redelivery_confirms_what_the_master_kept_instead_of_writing_it_again(
    client: RedisClient, redis_sentinel: RedisSentinel
) -> None:
    """At the store: a write no replica confirmed was applied on the master (so writing it again
    at the same revision is a conflict); a redelivery reads it and confirms it (`confirm`, and
    `queue` of a notice queued already), each here on a connection of its own, as another
    notifier replica would (a connection that wrote nothing has nothing of its own to WAIT for)."""
    store = EscalationStore(client, replication=Replication(WAIT_MS))
    state = EscalationState(policy="backend", started_at=T0, due_at=T0)
    notice = PendingNotice("payments-api", INCIDENT, "incident.resolved", "ev-r", incident())
    async with AsyncExitStack() as stack:

        async def another() -> EscalationStore:
            other = open_redis(redis_sentinel.url)
            stack.push_async_callback(other.aclose)
            return EscalationStore(other, replication=Replication(WAIT_MS))

        with stopped(redis_sentinel.replica):
            with pytest.raises(NotReplicated):
                await store.write("payments-api", INCIDENT, 0, state, incident())
            found = await another()
            assert await found.get("payments-api", INCIDENT) is not None  # on the master
            with pytest.raises(NotReplicated):
                await found.confirm("payments-api")
            with pytest.raises(NotReplicated):
                await store.write(
                    "payments-api", INCIDENT, 1, state, incident(), notice=notice, now=T0
                )
            with pytest.raises(NotReplicated):  # queued already: found, not taken as stored
                await (await another()).queue(notice, T0)
        later = await another()
        assert not await later.write("payments-api", INCIDENT, 0, state, incident())  # conflict
        await later.confirm("payments-api")  # the replica holds it now
        assert not await (await another()).queue(notice, T0)  # queued already, and confirmed
