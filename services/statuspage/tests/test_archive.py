"""Against real Redis (and NATS): the history each replica writes from the events it folds is
the same whoever writes it and however often, stays within its retention, and is what a page
started later shows (uptime bars, history page) beyond what its projection holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import nats
import pytest
import redis.asyncio as aioredis

import herald.statuspage.app as app_module
from herald.shared.events import INCIDENT_EVENT_NAMES, ComponentStatus
from herald.shared.keys import archived_incident_key, incident_history_key, status_history_key
from herald.shared.streams import ensure_streams
from herald.shared.subjects import INCIDENTS_STREAM, incident_subject
from herald.statuspage.archive import Archive, read_changes
from herald.statuspage.history import StatusChange
from tests.asgi import in_process

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
MAJOR = ComponentStatus.MAJOR_OUTAGE
OK = ComponentStatus.OPERATIONAL


@asynccontextmanager
async def history_writes(r: aioredis.Redis, service: str) -> AsyncIterator[Any]:
    """Redis's own notifications of every write to a service's history keys (keyspace events),
    subscribed before the writers start: what a test awaits instead of sleeping."""
    await r.config_set("notify-keyspace-events", "Kz")
    pubsub = r.pubsub()
    await pubsub.psubscribe(f"__keyspace@*__:herald:{{{service}}}:history:*")
    try:
        yield pubsub
    finally:
        await pubsub.aclose()


async def until(pubsub: Any, check: Callable[[], Awaitable[bool]]) -> None:
    """Check again after every write Redis reports, until `check` holds (bounded: a failure,
    not a timing)."""
    async with asyncio.timeout(TIMEOUT):
        while not await check():
            await pubsub.get_message(ignore_subscribe_messages=True, timeout=TIMEOUT)


async def test_two_replicas_writing_the_same_events_store_them_once(infra, make):
    r = aioredis.from_url(infra.redis_url)
    config = make.config()
    one, two = Archive(r, config), Archive(r, config)
    now = make.t0 + timedelta(hours=1)
    events = [
        make.opened(1, make.incident(component_status=MAJOR)),
        make.component(2, MAJOR),
        make.resolved(3, make.resolved_incident(component_status=MAJOR)),
        make.component(4, OK, at=make.t0 + timedelta(minutes=30)),
    ]
    for replica in (one, two, one):
        for event in events:
            await replica.record(event.model_dump_json().encode(), now)
    changes = (await read_changes(r, ["api"]))["api"]
    assert changes == [
        StatusChange(make.t0, 1, MAJOR),
        StatusChange(make.t0, 2, MAJOR),
        StatusChange(make.t0 + timedelta(minutes=30), 4, OK),
    ]
    assert await r.zrange(incident_history_key("api"), 0, -1) == [b"inc-1"]
    # An older version of the incident never replaces a newer one.
    stale = make.resolved_incident(title="stale")
    await one.record_incident(stale, 2, now)
    found = await one.incidents(["api"], make.t0 - timedelta(days=1), now)
    assert [i.title for i in found] == ["Payments failing"]
    assert await r.ttl(archived_incident_key("api", "inc-1")) > 0
    await r.aclose()


async def test_the_history_is_trimmed_to_its_retention(infra, make):
    r = aioredis.from_url(infra.redis_url)
    config = make.config()
    archive = Archive(r, config)
    now = make.t0
    for days, version in ((120, 1), (100, 2), (95, 3)):
        at = now - timedelta(days=days)
        await archive.record_change("api", StatusChange(at, version, MAJOR), now)
        old = make.resolved_incident(id=f"inc-{version}", started_at=at)
        await archive.record_incident(old, version, now)
    await archive.record_change("api", StatusChange(now, 4, OK), now)
    changes = (await read_changes(r, ["api"]))["api"]
    # 95 days ago is the status the 90 retained days start with; older ones are gone.
    assert [c.version for c in changes] == [3, 4]
    ids = await r.zrange(incident_history_key("api"), 0, -1)
    assert ids == []  # every incident started before the retention
    assert await r.zcard(status_history_key("api")) == 2
    await r.aclose()


async def publish(js: Any, event: Any) -> int:
    ack = await js.publish(
        incident_subject(event.service, INCIDENT_EVENT_NAMES[event.kind]),
        event.model_dump_json().encode(),
        stream=INCIDENTS_STREAM,
        headers={"Nats-Msg-Id": event.event_id},
    )
    return int(ack.seq)


async def test_a_page_started_later_shows_the_whole_history(infra, make):
    """Five incidents over two months (the config's `history_size` is 3): a page folds them and
    writes the history; a page started later with nothing to replay shows all five on the
    history page and the outage days on the uptime bars."""
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    version = 0
    starts = [make.t0 - timedelta(days=12 * n) for n in range(5)][::-1]
    for n, start in enumerate(starts):
        end = start + timedelta(hours=2)
        incident = make.incident(id=f"inc-{n}", started_at=start, component_status=MAJOR)
        resolved = make.incident(
            id=f"inc-{n}", started_at=start, component_status=MAJOR, resolved_at=end
        )
        for event in (
            make.opened(version + 1, incident),
            make.component(version + 2, MAJOR, at=start),
            make.resolved(version + 3, resolved),
            make.component(version + 4, OK, previous=MAJOR, at=end),
        ):
            await publish(js, event)
        version += 4
    await nc.close()
    now = make.t0 + timedelta(hours=1)
    config = make.config()
    r = aioredis.from_url(infra.redis_url)

    async def written() -> bool:
        return await r.zcard(incident_history_key("api")) == 5 and (
            await r.zcard(status_history_key("api")) == 15  # opened, two changes
        )

    first = app_module.create_app(config, infra.settings(), clock=lambda: now)
    async with history_writes(r, "api") as writes, in_process(first):
        await until(writes, written)

    later = app_module.create_app(config, infra.settings(), clock=lambda: now, replay=0)
    async with in_process(later) as http:
        page = (await http.get("/history")).text
        older = (await http.get("/history?page=1")).text
        index = (await http.get("/")).text
        # Beyond what the projection holds (history_size 3): the permalink, the feeds, the API.
        oldest = await http.get("/incidents/inc-0")
        missing = await http.get("/incidents/inc-99")
        atom = (await http.get("/feed.atom")).text
        rss = (await http.get("/feed.rss")).text
        api = (await http.get("/api/v2/incidents.json")).json()
    await r.aclose()

    assert oldest.status_code == 200
    assert 'data-incident="inc-0"' in oldest.text
    assert "Payments failing" in oldest.text
    assert missing.status_code == 404
    every = {f"inc-{n}" for n in range(5)}
    assert {i for i in every if f"urn:herald:incident:{i}<" in atom} == every
    assert {i for i in every if f"/incidents/{i}<" in rss} == every
    assert {i["id"] for i in api["incidents"]} == every
    assert [i["id"] for i in api["incidents"]] == [f"inc-{n}" for n in range(4, -1, -1)]

    listed = {f"inc-{n}" for n in range(5) if f'href="/incidents/inc-{n}"' in page + older}
    assert listed == {f"inc-{n}" for n in range(5)}
    outage_days = {s.date().isoformat() for s in starts}
    for day in outage_days:
        assert f"{day}: Major Outage" in index
    quiet = (starts[0] + timedelta(days=1)).date().isoformat()
    assert f"{quiet}: Operational" in index  # known from the history, not "no data"


async def test_an_archived_incident_is_found_by_its_id(infra, make):
    r = aioredis.from_url(infra.redis_url)
    archive = Archive(r, make.config())
    now = make.t0 + timedelta(hours=1)
    await archive.record_incident(make.resolved_incident(id="api-5"), 2, now)
    await archive.record_incident(make.resolved_incident("nodes", id="n-7"), 3, now)

    found = await archive.incident("api-5")  # `<service>-<version>`: that service is asked
    other = await archive.incident("n-7")  # another form: every service is
    assert found is not None
    assert (found.id, found.service) == ("api-5", "api")
    assert other is not None
    assert other.service == "nodes"
    assert await archive.incident("api-6") is None
    assert await archive.incident("x" * 300) is None
    assert [i.id for i in await archive.latest(["api", "nodes"], 1)] == ["api-5"]
    await r.aclose()


async def test_incidents_json_lists_the_50_most_recent_of_the_projection_and_the_history(
    infra, make
):
    """50 resolved incidents in the stored history and one open in the projection: 51 known,
    the 50 most recent listed (Atlassian's incidents.json), the open one first and the oldest
    of the history left out."""
    r = aioredis.from_url(infra.redis_url)
    config = make.config()
    now = make.t0 + timedelta(hours=1)
    archive = Archive(r, config)
    for n in range(1, 51):
        started = make.t0 - timedelta(hours=51 - n)  # api-50 the newest
        old = make.incident(id=f"api-{n}", started_at=started, resolved_at=started)
        await archive.record_incident(old, n, now)
    app = app_module.create_app(config, infra.settings(), clock=lambda: now, replay=0)
    async with in_process(app) as http:
        app.state.board.projection.apply(make.opened(51, make.incident(id="api-51")))
        listed = (await http.get("/api/v2/incidents.json")).json()["incidents"]
    await r.aclose()

    assert [i["id"] for i in listed] == ["api-51", *(f"api-{n}" for n in range(50, 1, -1))]
