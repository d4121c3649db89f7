"""The page's history in Redis (what history.py says an event leaves), written by every replica
from the INCIDENTS events it folds, and read back for the uptime bars and the history page.

Every replica reads every event, so every write is idempotent: a status change is a sorted-set
member named by the service's version (the same event written twice, or by two replicas, is one
member), and an archived incident replaces the stored one only when its version is higher (one
Lua script). Keys are the service's own (`herald:{svc}:history:...`), so each script touches one
Cluster slot. Storage is bounded: every write trims what is older than the retention
(`page.history_days`) and beyond the caps (`page.history_changes`, `page.history_incidents`);
an archived incident's hash expires with the retention. Sizes: docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from herald.shared.config import HeraldConfig
from herald.shared.events import INCIDENT_EVENT_ADAPTER, Incident, ServiceStatus
from herald.shared.keys import archived_incident_key, incident_history_key, status_history_key
from herald.shared.runtime import RedisClient, ScriptCall, run_scripts
from herald.statuspage import history
from herald.statuspage.history import StatusChange

log = logging.getLogger("herald.statuspage")

# KEYS[1] the changes; ARGV: score, member, cutoff score, most.
# The last change before the cutoff stays: it is the status the retained period starts with.
RECORD_CHANGE = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local before = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[3], '-inf',
  'WITHSCORES', 'LIMIT', 0, 1)
if #before > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. before[2])
end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if extra > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
end
return 1
"""

# KEYS[1] the incident's hash, KEYS[2] the index; ARGV: version, doc, score (started at), id,
# seconds to live, cutoff score, most.
RECORD_INCIDENT = """
local held = redis.call('HGET', KEYS[1], 'version')
if held and tonumber(held) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'doc', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[6])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if extra > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
return 1
"""

MAX_ID = 200
"""Longer incident ids are none of ours (a permalink lookup never sends them to Redis)."""

SLACK = timedelta(days=1)
"""An archived incident's hash outlives its place in the index by this much (never the other way
round: the index names nothing that has expired while it is listed)."""


async def read_changes(
    client: RedisClient, services: Iterable[str]
) -> dict[str, list[StatusChange]]:
    """Each service's stored status changes, oldest first (one read per key: keys live in
    different slots)."""
    found: dict[str, list[StatusChange]] = {}
    for service in services:
        rows: list[Any] = await client.zrange(status_history_key(service), 0, -1, withscores=True)
        parsed = (StatusChange.parse(member, float(score)) for member, score in rows)
        found[service] = sorted(c for c in parsed if c is not None)
    return found


class Archive:
    """The history of every configured service, in Redis."""

    def __init__(self, redis: RedisClient, config: HeraldConfig) -> None:
        self.redis = redis
        self.config = config
        self.days = config.page.history_days
        self.most_changes = config.page.history_changes
        self.most_incidents = config.page.history_incidents
        self._change = redis.register_script(RECORD_CHANGE)
        self._incident = redis.register_script(RECORD_INCIDENT)

    async def record(self, data: bytes, now: datetime) -> None:
        """What one INCIDENTS message leaves in the history (nothing for an invalid one or one
        of a service the page does not show)."""
        await self.write(self.message_calls(data, now))

    async def record_snapshots(self, snapshots: Iterable[ServiceStatus], now: datetime) -> None:
        """The status each snapshot shows (a replica starting: no gap before what it folds)."""
        await self.write(self.snapshot_calls(snapshots, now))

    async def record_change(self, service: str, change: StatusChange, now: datetime) -> None:
        await self.write([self.change_call(service, change, now)])

    async def record_incident(self, incident: Incident, version: int, now: datetime) -> None:
        await self.write([self.incident_call(incident, version, now)])

    async def write(self, calls: Sequence[ScriptCall]) -> None:
        """Run the history's script calls in one round trip (on a Cluster, one per node); the
        first that failed raises (RedisError) once all have run."""
        if not calls:
            return
        for reply in await run_scripts(self.redis, calls):
            if isinstance(reply, Exception):
                raise reply

    def message_calls(self, data: bytes, now: datetime) -> list[ScriptCall]:
        """The writes one INCIDENTS message leaves in the history (none for an invalid one or
        one of a service the page does not show)."""
        try:
            event = INCIDENT_EVENT_ADAPTER.validate_json(data)
        except ValidationError:
            return []  # the board counts and logs it
        if event.service not in self.config.services:
            return []
        calls = []
        change = history.status_change(event)
        if change is not None:
            calls.append(self.change_call(event.service, change, now))
        incident = history.archived(event)
        if incident is not None:
            calls.append(self.incident_call(incident, event.version, now))
        return calls

    def snapshot_calls(self, snapshots: Iterable[ServiceStatus], now: datetime) -> list[ScriptCall]:
        """The writes of the status each snapshot shows and of its resolved public incidents."""
        calls = []
        for state in snapshots:
            if state.service not in self.config.services:
                continue
            change = history.snapshot_change(state)
            if change is not None:
                calls.append(self.change_call(state.service, change, now))
            for incident in state.recent:
                if incident.public:
                    calls.append(self.incident_call(incident, state.version, now))
        return calls

    def change_call(self, service: str, change: StatusChange, now: datetime) -> ScriptCall:
        cutoff = history.cutoff(now, self.days).timestamp()
        return (
            self._change,
            [status_history_key(service)],
            [change.at.timestamp(), change.member(), cutoff, self.most_changes],
        )

    def incident_call(self, incident: Incident, version: int, now: datetime) -> ScriptCall:
        started = incident.started_at.timestamp()
        # Relative to `now` (the page's clock), not Redis's: the same moment for both.
        ttl = incident.started_at + timedelta(days=self.days) + SLACK - now
        key = archived_incident_key(incident.service, incident.id)
        return (
            self._incident,
            [key, incident_history_key(incident.service)],
            [
                version,
                incident.model_dump_json(),
                started,
                incident.id,
                max(int(ttl.total_seconds()), 60),
                history.cutoff(now, self.days).timestamp(),
                self.most_incidents,
            ],
        )

    async def incidents(
        self, services: Iterable[str], start: datetime, end: datetime
    ) -> list[Incident]:
        """The archived incidents of these services that started in [start, end)."""
        found: list[Incident] = []
        for service in services:
            ids = await self.redis.zrangebyscore(
                incident_history_key(service), start.timestamp(), f"({end.timestamp()}"
            )
            if not ids:
                continue
            found.extend(await self._docs(service, ids))
        return found

    async def _docs(self, service: str, ids: Iterable[Any]) -> list[Incident]:
        """The archived incidents of `service` named by `ids` (index members), in that order;
        an expired or unreadable one is left out."""
        ids = list(ids)
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for raw in ids:
                incident_id = raw.decode() if isinstance(raw, bytes) else str(raw)
                pipe.hget(archived_incident_key(service, incident_id), "doc")
            docs = await pipe.execute()
        found: list[Incident] = []
        for doc in docs:
            if doc is None:
                continue  # expired or trimmed meanwhile
            try:
                found.append(Incident.model_validate_json(doc))
            except ValidationError:
                log.warning(
                    "ignoring an unreadable archived incident", extra={"service_id": service}
                )
        return found

    async def incident(self, incident_id: str) -> Incident | None:
        """The archived incident `incident_id` while the history lists it (its permalink keeps
        working for the retention); None otherwise. Ids are `<service>-<version>`: that
        service is asked, else (an id of another form) every configured one, in one round
        trip, then the one that lists it."""
        if not incident_id or len(incident_id) > MAX_ID:
            return None
        prefix = incident_id.rsplit("-", 1)[0]
        services = [prefix] if prefix in self.config.services else list(self.config.services)
        async with self.redis.pipeline(transaction=False) as pipe:
            for service in services:
                pipe.zscore(incident_history_key(service), incident_id)
            scores = await pipe.execute()
        for service, score in zip(services, scores, strict=True):
            if score is None:
                continue
            doc = await self.redis.hget(archived_incident_key(service, incident_id), "doc")
            if doc is None:
                return None  # expired meanwhile
            try:
                found = Incident.model_validate_json(doc)
            except ValidationError:
                log.warning(
                    "ignoring an unreadable archived incident", extra={"service_id": service}
                )
                return None
            return found if found.public and found.service == service else None
        return None

    async def latest(self, services: Iterable[str], limit: int) -> list[Incident]:
        """The `limit` archived incidents of these services that started last, newest first
        (the feeds and incidents.json: beyond what the projection holds)."""
        found: list[Incident] = []
        for service in services:
            ids = await self.redis.zrevrange(incident_history_key(service), 0, limit - 1)
            found.extend(await self._docs(service, ids))
        found.sort(key=lambda i: i.started_at, reverse=True)
        return found[:limit]


HISTORY_BACKLOG = 10_000
"""Most history writes waiting (Redis slow or down); past it a write is skipped (the other
replicas write it too, and a restarted replica writes its snapshots again)."""
T = TypeVar("T")

WRITES_PER_ROUND_TRIP = 256
"""Most waiting writes sent together."""
DRAIN_SECONDS = 2.0
"""At shutdown, how long the writes still waiting may take."""


class HistoryWrites(Generic[T]):
    """The history writes of what the page folds, run in order by one task of their own, off
    the fold: an INCIDENTS event reaches open browsers without waiting for the Redis round
    trips of the events before it (under load, those queued up behind each other). What is
    waiting when the task gets to it goes in one call of `run` (at most WRITES_PER_ROUND_TRIP,
    in order: for the app, one pipelined round trip), so a storm's events cost Redis round trips
    by the batch, not by the event; `run` handles its own errors."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[None]],
        limit: int = HISTORY_BACKLOG,
        per_round_trip: int = WRITES_PER_ROUND_TRIP,
    ) -> None:
        self._write = run
        self._queue: asyncio.Queue[T] = asyncio.Queue(limit)
        self._per_round_trip = max(per_round_trip, 1)
        self._task: asyncio.Task[None] | None = None
        self.skipped = 0
        """Writes skipped because too many were waiting."""

    def add(self, write: T) -> None:
        """Queue `write` behind the ones before it."""
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            self.skipped += 1
            if self.skipped == 1 or self.skipped % 1000 == 0:
                log.warning(
                    "history writes are falling behind: skipped", extra={"skipped": self.skipped}
                )

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._per_round_trip and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="statuspage-history")

    async def stop(self) -> None:
        """Let the waiting writes finish (at most DRAIN_SECONDS), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), DRAIN_SECONDS)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
