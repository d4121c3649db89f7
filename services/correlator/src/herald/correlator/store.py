"""The correlator's storage: the `Store` protocol its use case needs, and its Redis
implementation (the in-memory one, for unit tests, is herald.correlator.memory).

Keys of one service share the hash tag `{service}` (herald.shared.keys), so the atomic step
below works on Redis Cluster too:
- `herald:{svc}:head`    the ServiceHead (JSON): open incident, counters, status, version;
- `herald:{svc}:rev`     the head's revision (the step's compare-and-set token);
- `herald:{svc}:alerts`  a hash, one AlertRecord (JSON) per fingerprint;
- `herald:{svc}:firing`  sorted set of the open incident's firing alerts (score startsAt, µs);
- `herald:{svc}:ended`   sorted set of its resolved alerts (score endsAt, µs): with `firing`,
  the incident's most relevant alerts by rank (it shows at most 50);
- `herald:{svc}:expiry`  sorted set of resolved alerts by `AlertRecord.retained_from` (their
  last arrival), pruned past RESOLVED_RETENTION;
- `herald:{svc}:status`  the public ServiceStatus projection (JSON), read by the status page;
- `herald:{svc}:outbox`  incident events (JSON) stored but not yet acknowledged by JetStream;
- `herald:{svc}:control` what people set (commands.Control): override, maintenance windows,
  applied command ids, audit. Written by the same step as the head: a command and an alert of
  one service never interleave.

Outside the services, `herald:{_routes}:<fingerprint>` (a hash: service,
starts_at) remembers where each alert went (routing.sticky_route). It is written before the
alert's state step, expires RESOLVED_RETENTION after the alert's last event, and only ever
moves to a newer alert instance (a Lua script), so two replicas cannot send one alert
instance to two services.

A batch of alert events of one service is one atomic step whose cost is the batch's, not the
incident's: one Lua read (the head, the batch's records, the incident's most relevant alerts
and a few expired ones), the pure `incident.fold`, one Lua write that checks the revision it
read and sets the head, the changed records, the indexes, the status and appends the outbox
(on a conflict the step reads and folds again). Publishing happens after, from the outbox, and
an event leaves the outbox only once JetStream has acknowledged it; a crash in between means
the next flush republishes it with the same Nats-Msg-Id, which JetStream de-duplicates.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast

from redis.commands.core import AsyncScript

from herald.correlator.commands import (
    AuditEntry,
    Control,
    control_step,
    overlay,
    shown_projection,
)
from herald.correlator.incident import (
    MAX_INCIDENT_ALERTS,
    RESOLVED_RETENTION,
    AlertRecord,
    ServiceHead,
    ServiceState,
    alert_key,
    fold,
    initial_state,
    prunable,
)
from herald.correlator.memo import Memo
from herald.correlator.responses import Order
from herald.correlator.routing import Route
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    AlertReceived,
    AlertState,
    IncidentEvent,
    ResolveAlert,
    ServiceStatus,
)
from herald.shared.keys import UNROUTED, service_key, status_key
from herald.shared.replication import TOUCH_MS, TOUCH_SCRIPT, NotReplicated, Replication
from herald.shared.runtime import RedisClient, run_scripts

UNROUTED_LIMIT = 500
"""How many unrouted fingerprints are kept (the oldest are dropped)."""

RECORD_CACHE = 100_000
"""Parsed alert records kept by their stored bytes; past it the oldest quarter goes."""

TICK_READ = 1 << 30
"""A tick's read: the open incident's firing and resolved alerts, all of them."""

EVENT_JSON_CACHE = 10_000
"""Serialized incident events kept from their step's write to their `published` at most."""

PRUNE_BATCH = 64
"""Expired alert records looked at (and pruned) per step at most."""

# Pop the head of the list while it equals the published items, in order. An item that
# is not at the head any more was already removed by a concurrent flush.
_POP_PUBLISHED = """
local n = 0
for _, item in ipairs(ARGV) do
  if redis.call('LINDEX', KEYS[1], 0) ~= item then break end
  redis.call('LPOP', KEYS[1])
  n = n + 1
end
return n
"""


# For each route key KEYS[i], in order, with ARGV[2i] its service and ARGV[2i+1] its starts_at:
# store the route unless the stored one is for the same or a newer alert instance; refresh its
# expiry (ARGV[1] ms) either way. Returns the routes in force, flat: service, starts_at, ...
# (The keys share the hash tag {_routes}: one script for a whole batch works on a cluster too.)
_REMEMBER_ROUTES = """
local out = {}
for i, key in ipairs(KEYS) do
  local service, starts_at = ARGV[2 * i], ARGV[2 * i + 1]
  local stored = redis.call('HMGET', key, 'service', 'starts_at')
  if stored[1] and stored[2] and tonumber(stored[2]) >= tonumber(starts_at) then
    service, starts_at = stored[1], stored[2]
  else
    redis.call('HSET', key, 'service', service, 'starts_at', starts_at)
  end
  redis.call('PEXPIRE', key, ARGV[1])
  out[#out + 1] = service
  out[#out + 1] = starts_at
end
return out
"""

# The stored routes of KEYS, flat: service, starts_at (false when unknown), ...
_READ_ROUTES = """
local out = {}
for _, key in ipairs(KEYS) do
  local stored = redis.call('HMGET', key, 'service', 'starts_at')
  out[#out + 1] = stored[1]
  out[#out + 1] = stored[2]
end
return out
"""

# Lua's `unpack` takes about 8,000 values at once ("too many results to unpack"), and one
# service's step in a storm can hold more alerts than that (a batch is up to 16,384 messages):
# commands over a long list go in slices of 4,000 values (even: pairs stay whole), still inside the
# one script, so the step stays atomic.
_SLICED = """
local function sliced(command, key, list)
  local reply
  for i = 1, #list, 4000 do
    reply = redis.call(command, key, unpack(list, i, math.min(i + 3999, #list)))
  end
  return reply
end
local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, 4000 do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + 3999, #fields)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end
"""

# One step's read: the head and its revision, the outbox's length, the open incident's ARGV[1]
# most relevant firing and resolved alerts, at most ARGV[3] alerts resolved before ARGV[2],
# and the records of the batch's alerts (ARGV[4...]) and of all those.
_READ_STEP = (
    _SLICED
    + """
local n = tonumber(ARGV[1])
local firing = redis.call('ZREVRANGE', KEYS[3], 0, n - 1)
local ended = redis.call('ZREVRANGE', KEYS[4], 0, n - 1)
local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local want = {}
for i = 4, #ARGV do want[#want + 1] = ARGV[i] end
for _, k in ipairs(firing) do want[#want + 1] = k end
for _, k in ipairs(ended) do want[#want + 1] = k end
for _, k in ipairs(stale) do want[#want + 1] = k end
local values = {}
if #want > 0 then values = hmget(KEYS[2], want) end
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[7]), redis.call('LLEN', KEYS[6]),
        firing, ended, stale, values, redis.call('GET', KEYS[9])}
"""
)

# One step's write, if the revision is still the one read (else -1): the head, the status, the
# revision, the changed records and indexes, the outbox. Returns the outbox's length after.
_WRITE_STEP = (
    _SLICED
    + """
local rev = redis.call('GET', KEYS[7]) or ''
if rev ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[8], ARGV[3])
redis.call('SET', KEYS[7], ARGV[4])
if ARGV[5] == '1' then redis.call('DEL', KEYS[3], KEYS[4]) end
local i = 15
local function take(count)
  local out = {}
  for j = 1, count do out[j] = ARGV[i]; i = i + 1 end
  return out
end
local hset = take(2 * tonumber(ARGV[6]))
if #hset > 0 then sliced('HSET', KEYS[2], hset) end
local hdel = take(tonumber(ARGV[7]))
if #hdel > 0 then sliced('HDEL', KEYS[2], hdel) end
local sets = {KEYS[3], KEYS[4], KEYS[5]}
for s = 1, 3 do
  local add = take(2 * tonumber(ARGV[6 + 2 * s]))
  if #add > 0 then sliced('ZADD', sets[s], add) end
  local rem = take(tonumber(ARGV[7 + 2 * s]))
  if #rem > 0 then sliced('ZREM', sets[s], rem) end
end
local out = take(tonumber(ARGV[14]))
local control = ARGV[i]
if control and control ~= '' then redis.call('SET', KEYS[9], control) end
if #out > 0 then return sliced('RPUSH', KEYS[6], out) end
return redis.call('LLEN', KEYS[6])
"""
)

# Keep the latest heartbeat time (epoch µs) whatever the order replicas write in.
_BEAT = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > held then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""

HEARTBEAT_KEY = "herald:{_heartbeat}:at"
"""When the latest heartbeat alert (heartbeat.py) was received (epoch microseconds)."""

GROUPS = "_groups"
"""Pseudo-service (hash tag) of the aggregation groups' members: `herald:{_groups}:<group id>`
(a hash fingerprint -> service, with `_ENDED` appended once it no longer fires)."""

_ENDED = "\x1fended"

ROUTES = "_routes"
"""Pseudo-service (hash tag) of the alerts' remembered routes."""

ROUTE_TTL = RESOLVED_RETENTION
"""A route is forgotten this long after the last event of its alert (the ALERTS stream's max
age: no redelivery can come later; a firing alert is resent every repeat_interval)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(at: datetime) -> int:
    """Exact epoch microseconds (Alertmanager's startsAt has sub-millisecond precision)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def head_key(service: str) -> str:
    return service_key(service, "head")


def outbox_key(service: str) -> str:
    return service_key(service, "outbox")


def step_keys(service: str) -> list[str]:
    """The keys of one service's step, in the order the Lua scripts take them."""
    return [
        head_key(service),
        service_key(service, "alerts"),
        service_key(service, "firing"),
        service_key(service, "ended"),
        service_key(service, "expiry"),
        outbox_key(service),
        service_key(service, "rev"),
        status_key(service),
        control_key(service),
    ]


def touch_key(service: str) -> str:
    """Written by a step that changes nothing when its writes must reach a replica
    (`replication.TOUCH_SCRIPT`):
    the WAIT after it confirms what the step read is replicated too."""
    return service_key(service, "touched")


def control_key(service: str) -> str:
    """The service's Control (commands.py): override, maintenance windows, applied command ids
    and the audit (JSON)."""
    return service_key(service, "control")


def unrouted_key() -> str:
    return service_key(UNROUTED, "alerts")


def group_index_key(group: str) -> str:
    return service_key(GROUPS, group)


def route_key(fingerprint: str) -> str:
    return service_key(ROUTES, alert_key(fingerprint))


class Applied(NamedTuple):
    """What one atomic step of a service stored."""

    events: list[IncidentEvent]
    """The incident events it appended to the outbox, in order."""
    applied: list[bool]
    """Per alert event: whether it changed anything."""
    backlog: bool
    """The outbox holds events stored before these (publish `pending()`, not only `events`)."""
    due_at: datetime | None = None
    """The service's next due time after the step (ServiceHead.due_at): step it with
    `tick=True` then."""


class _Plan(NamedTuple):
    """A folded step waiting for its write: the script's keys and arguments, and what it
    stores if the revision still holds."""

    keys: list[str]
    args: list[str | int]
    applied: Applied


def _batch_keys(events: Sequence[AlertReceived]) -> list[str]:
    """The record keys of a batch's alerts, each once, in order."""
    return list(dict.fromkeys(alert_key(e.fingerprint) for e in events))


class CommandApplied(NamedTuple):
    """What one command step stored."""

    events: list[IncidentEvent]
    entry: AuditEntry | None
    """The command's audit entry (None for a tick)."""
    backlog: bool


def _control(raw: bytes | str | None) -> Control:
    return Control() if raw is None else Control.model_validate_json(raw)


class GroupMember(NamedTuple):
    """An alert as its aggregation group last listed it (for group reports)."""

    group: str
    fingerprint: str
    service: str
    ended: bool


class Store(Protocol):
    """The correlator's state: per-service heads and alert records, the outbox of incident
    events to publish, the alerts' remembered routes and the unrouted alerts. A step only
    records what is to be published; the correlator publishes it."""

    async def routes(self, fingerprints: Sequence[str]) -> list[Route | None]: ...

    async def remember_routes(self, routes: Sequence[tuple[str, Route]]) -> list[Route]: ...

    async def step(
        self,
        service: str,
        events: Sequence[AlertReceived],
        now: datetime,
        *,
        absent: bool = False,
        tick: bool = False,
    ) -> Applied:
        """Fold `events` in one atomic step. `tick`: then let time pass to `now`, with every
        firing record of the service read in the same step (`incident.fold`'s `tick`)."""
        ...

    async def step_many(
        self,
        batches: Sequence[tuple[str, Sequence[AlertReceived]]],
        now: datetime,
        *,
        absent: bool = False,
        tick: bool = False,
    ) -> list[Applied | Exception]:
        """`step` for several services (each at most once), each atomic on its own; per
        service, what it stored or the exception that failed it."""
        ...

    async def records(self, service: str, fingerprints: Sequence[str]) -> list[AlertRecord | None]:
        """The stored records of some of the service's alerts (None: unknown)."""
        ...

    async def firing(self, service: str) -> list[AlertRecord]:
        """The records of the service's firing alerts."""
        ...

    async def index_groups(self, members: Sequence[GroupMember]) -> None:
        """Remember which group listed which alert, where it lives, and whether it ended."""
        ...

    async def group_members(self, group: str) -> dict[str, tuple[str, bool]]:
        """fingerprint -> (service, ended) of the alerts `group` listed."""
        ...

    async def groups_members(self, groups: Sequence[str]) -> list[dict[str, tuple[str, bool]]]:
        """`group_members` of several groups (one round trip)."""
        ...

    async def load(self, service: str, now: datetime) -> ServiceState: ...

    async def pending(self, service: str) -> list[IncidentEvent]: ...

    async def published(self, service: str, events: list[IncidentEvent]) -> None: ...

    async def published_many(self, batches: Sequence[tuple[str, list[IncidentEvent]]]) -> None:
        """`published` for several services (one round trip)."""
        ...

    async def outbox_services(self) -> list[str]: ...

    async def record_unrouted(self, event: AlertReceived) -> None: ...

    async def command_step(
        self, service: str, command: Order | None, now: datetime
    ) -> CommandApplied: ...

    async def control(self, service: str) -> Control: ...

    async def beat(self, at: datetime) -> None:
        """A heartbeat alert was received at `at` (the latest is kept)."""
        ...

    async def last_beat(self) -> datetime | None: ...

    async def controls(self, services: Sequence[str]) -> list[Control]: ...

    async def statuses(self, services: Sequence[str]) -> list[ServiceStatus | None]: ...

    async def unrouted(self, limit: int = 100) -> list[AlertReceived]: ...


class CorrelatorStore:
    """The correlator's state in Redis (a client with `decode_responses=False`)."""

    def __init__(
        self, redis: RedisClient, config: HeraldConfig, replication: Replication | None = None
    ) -> None:
        """`replication`: a step's writes count as stored only once a replica holds them
        (herald.shared.replication; on where REDIS_URL names a Sentinel or a Cluster)."""
        self.redis = redis
        self.config = config
        self.replication = replication
        self._pop_published = redis.register_script(_POP_PUBLISHED)
        self._remember_routes = redis.register_script(_REMEMBER_ROUTES)
        self._read_routes = redis.register_script(_READ_ROUTES)
        self._read_step = redis.register_script(_READ_STEP)
        self._write_step = redis.register_script(_WRITE_STEP)
        self._beat = redis.register_script(_BEAT)
        self._touch = redis.register_script(TOUCH_SCRIPT)
        self._records: dict[bytes, AlertRecord] = {}
        self._heads: dict[str, tuple[bytes, ServiceHead]] = {}
        self.event_json: Memo[IncidentEvent, str] = Memo(_event_json, EVENT_JSON_CACHE)
        """The event as the outbox holds it, serialized once for its write and its `published`
        (forgotten then)."""

    def _record(self, raw: bytes) -> AlertRecord:
        """The record stored as `raw`: a step reads the incident's most relevant alerts every
        time, mostly unchanged, so parsed records are kept (they are immutable)."""
        record = self._records.get(raw)
        if record is None:
            record = self._keep(raw, AlertRecord.model_validate_json(raw))
        return record

    def _keep(self, raw: bytes, record: AlertRecord) -> AlertRecord:
        records = self._records
        if len(records) >= RECORD_CACHE:
            # the oldest first (a dict keeps insertion order): a record rewritten since has
            # new bytes, so what goes is mostly versions no longer stored
            for old in list(itertools.islice(records, RECORD_CACHE // 4)):
                del records[old]
        records[raw] = record
        return record

    def _record_json(self, record: AlertRecord) -> str:
        """`record` as a step writes it, kept parsed under those bytes: the next step of its
        service reads it back (it is among the incident's most relevant) without parsing."""
        text = record.model_dump_json()
        self._keep(text.encode(), record)
        return text

    def _head(self, service: str, raw: bytes | None, now: datetime) -> ServiceHead:
        """The head stored as `raw`. A step mostly reads the head its service's last step wrote
        (the same bytes), so the head written last per service is kept beside its JSON and
        reused while the stored bytes are those; any other bytes are parsed."""
        if raw is None:
            return initial_state(service, now)
        kept = self._heads.get(service)
        if kept is not None and kept[0] == raw:
            return kept[1]
        head = ServiceHead.model_validate_json(raw)
        self._heads[service] = (raw, head)
        return head

    def _head_json(self, head: ServiceHead) -> str:
        """`head` as written, remembered for `_head` (written or not: `_head` compares bytes)."""
        text = head.model_dump_json()
        self._heads[head.service] = (text.encode(), head)
        return text

    async def route(self, fingerprint: str) -> Route | None:
        """The remembered route of an alert, if any."""
        return (await self.routes([fingerprint]))[0]

    async def routes(self, fingerprints: Sequence[str]) -> list[Route | None]:
        """The remembered routes of alerts (one script call)."""
        if not fingerprints:
            return []
        flat = await self._read_routes(keys=[route_key(f) for f in fingerprints])
        return [
            None
            if service is None or starts_at is None
            else Route(_text(service), _EPOCH + int(starts_at) * _MICROSECOND)
            for service, starts_at in zip(flat[::2], flat[1::2], strict=True)
        ]

    async def remember_route(self, fingerprint: str, route: Route) -> Route:
        """Store `route` for the alert unless a route for the same or a newer instance is
        stored; return the route in force (`route` or that other one)."""
        return (await self.remember_routes([(fingerprint, route)]))[0]

    async def remember_routes(self, routes: Sequence[tuple[str, Route]]) -> list[Route]:
        """`remember_route` for several alerts, in order (one script call)."""
        if not routes:
            return []
        ttl_ms = int(ROUTE_TTL / timedelta(milliseconds=1))
        args: list[str | int] = [ttl_ms]
        for _, route in routes:
            args += [route.service, _micros(route.starts_at)]
        flat = await self._remember_routes(keys=[route_key(f) for f, _ in routes], args=args)
        out = []
        for (_, route), service, starts_at in zip(routes, flat[::2], flat[1::2], strict=True):
            if _text(service) == route.service and int(starts_at) == _micros(route.starts_at):
                out.append(route)
            else:
                out.append(Route(_text(service), _EPOCH + int(starts_at) * _MICROSECOND))
        return out

    async def outbox_services(self) -> list[str]:
        """Services with pending events in their outbox (configured or not any more)."""
        pattern = service_key("*", "outbox")
        services = []
        async for key in self.redis.scan_iter(match=pattern, count=1000):
            name = _text(key)
            services.append(name[name.index("{") + 1 : name.rindex("}")])
        return sorted(set(services))

    async def load(self, service: str, now: datetime) -> ServiceState:
        """The whole state of a service (every record: for tests and tools, never a step)."""
        raw = await self.redis.get(head_key(service))
        if raw is None:
            return initial_state(service, now)
        head = ServiceHead.model_validate_json(raw)
        records = await self.redis.hgetall(service_key(service, "alerts"))
        alerts = {_text(k): AlertRecord.model_validate_json(v) for k, v in records.items()}
        return ServiceState(**dict(head), alerts=alerts)

    async def apply(self, service: str, event: AlertReceived, now: datetime) -> list[IncidentEvent]:
        """Fold one event into the service's state atomically; return the events it produced
        (also appended to the outbox)."""
        return (await self.step(service, [event], now)).events

    async def records(self, service: str, fingerprints: Sequence[str]) -> list[AlertRecord | None]:
        if not fingerprints:
            return []
        raw = await self.redis.hmget(service_key(service, "alerts"), list(fingerprints))
        return [None if r is None else self._record(_bytes(r)) for r in raw]

    async def firing(self, service: str) -> list[AlertRecord]:
        found = await self.redis.zrange(service_key(service, "firing"), 0, -1)
        keys = [_text(cast("bytes", k)) for k in found]
        return [r for r in await self.records(service, keys) if r is not None]

    async def index_groups(self, members: Sequence[GroupMember]) -> None:
        ttl_ms = int(ROUTE_TTL / timedelta(milliseconds=1))
        by_group: dict[str, dict[str, str]] = {}
        for m in members:  # the last listing of an alert wins, as in order
            by_group.setdefault(m.group, {})[m.fingerprint] = (
                f"{m.service}{_ENDED if m.ended else ''}"
            )
        written: list[str] = []
        async with self.redis.pipeline(transaction=False) as pipe:
            for group, fields in by_group.items():
                key = group_index_key(group)
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                pipe.pexpire(key, ttl_ms)
                written += [key, key]
            waits = None
            if self.replication is not None:  # the batch's messages are acknowledged after
                waits = await self.replication.add(self.redis, pipe, written)
            replies = await pipe.execute()
        if (
            waits is not None
            and self.replication is not None
            and self.replication.check(self.redis, waits, replies[waits.first :])
        ):
            raise NotReplicated("no replica acknowledged the groups' members in time")

    async def group_members(self, group: str) -> dict[str, tuple[str, bool]]:
        (members,) = await self.groups_members([group])
        return members

    async def groups_members(self, groups: Sequence[str]) -> list[dict[str, tuple[str, bool]]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.hgetall(group_index_key(group))
            rows = await pipe.execute()
        out = []
        for raw in rows:
            members: dict[str, tuple[str, bool]] = {}
            for fp, value in raw.items():
                text = _text(value)
                members[_text(fp)] = (text.removesuffix(_ENDED), text.endswith(_ENDED))
            out.append(members)
        return out

    async def step(
        self,
        service: str,
        events: Sequence[AlertReceived],
        now: datetime,
        *,
        absent: bool = False,
        tick: bool = False,
    ) -> Applied:
        """Fold a batch of the service's alert events into its state in one atomic step; the
        events it produced are appended to the outbox. A batch that changes nothing writes
        nothing. `tick`: the read takes every alert of the open incident (its `firing` and
        `ended` indexes whole), so time passes over all its firing alerts; only sweeps at a
        due time do this."""
        (result,) = await self.step_many([(service, events)], now, absent=absent, tick=tick)
        if isinstance(result, Exception):
            raise result
        return result

    async def step_many(
        self,
        batches: Sequence[tuple[str, Sequence[AlertReceived]]],
        now: datetime,
        *,
        absent: bool = False,
        tick: bool = False,
    ) -> list[Applied | Exception]:
        """`step` for several services at once (each service at most once): every service's
        read script in one pipelined round trip, the folds, every write script in a second
        one; only the services whose compare-and-set failed (another replica stepped them
        meanwhile) read and fold again. Each service's step stays atomic on its own (its keys
        share its hash tag: on Redis Cluster the pipeline splits per node). Per service, in
        order: what it stored, or the exception that failed its step."""
        results: list[Applied | Exception | None] = [None] * len(batches)
        horizon = _micros(now - RESOLVED_RETENTION)
        todo = list(range(len(batches)))
        while todo:
            reads = await self._pipelined(
                (
                    self._read_step,
                    step_keys(batches[i][0]),
                    [
                        TICK_READ if tick else MAX_INCIDENT_ALERTS + len(batches[i][1]),
                        horizon,
                        PRUNE_BATCH,
                        *_batch_keys(batches[i][1]),
                    ],
                )
                for i in todo
            )
            plans: list[tuple[int, _Plan]] = []
            touched: list[int] = []
            for i, reply in zip(todo, reads, strict=True):
                if isinstance(reply, Exception):
                    results[i] = reply
                    continue
                service, events = batches[i]
                try:
                    planned = self._plan(service, events, reply, now, absent, tick)
                except Exception as exc:  # a record that no longer parses: this service only
                    results[i] = exc
                    continue
                if isinstance(planned, Applied):
                    results[i] = planned
                    if self.replication is not None:
                        # nothing to write, but what was read may be a write of a message
                        # redelivered because no replica had it yet: a replica must have it now
                        touched.append(i)
                else:
                    plans.append((i, planned))
            if not plans and not touched:
                break
            calls: list[tuple[AsyncScript, list[str], list[str | int]]] = [
                (self._write_step, plan.keys, plan.args) for _, plan in plans
            ]
            calls += [(self._touch, [touch_key(batches[i][0])], [TOUCH_MS]) for i in touched]
            writes = await self._pipelined(calls, writes=True)
            for i, written in zip(touched, writes[len(plans) :], strict=True):
                if isinstance(written, Exception):
                    results[i] = written
            writes = writes[: len(plans)]
            todo = []
            for (i, plan), written in zip(plans, writes, strict=True):
                if isinstance(written, Exception):
                    results[i] = written
                elif int(written) < 0:
                    todo.append(i)  # another replica stepped this service meanwhile: again
                else:
                    n = len(plan.applied.events)
                    results[i] = plan.applied._replace(backlog=int(written) > n)
        out: list[Applied | Exception] = []
        for r in results:
            assert r is not None
            out.append(r)
        return out

    async def _pipelined(
        self,
        calls: Iterable[tuple[AsyncScript, list[str], list[str | int]]],
        *,
        writes: bool = False,
    ) -> list[Any]:
        """Run scripts in one round trip (runtime.run_scripts: on a Cluster, per node); per call
        its reply or its error (a connection error is every call's). `writes`: a step's writes,
        whose messages are acknowledged after: each waits for a replica (`NotReplicated` when
        none acknowledged it in time)."""
        calls = list(calls)
        if not calls:
            return []
        try:
            return await run_scripts(
                self.redis, calls, replication=self.replication if writes else None
            )
        except Exception as exc:
            return [exc] * len(calls)

    def _plan(
        self,
        service: str,
        events: Sequence[AlertReceived],
        reply: list[Any],
        now: datetime,
        absent: bool,
        tick: bool,
    ) -> Applied | _Plan:
        """Fold what `_READ_STEP` returned: an Applied when nothing changes (nothing to write),
        else the write to try."""
        batch = _batch_keys(events)
        raw_head, rev, backlog, firing, ended, stale, values, raw_control = reply
        control = _control(raw_control)
        names = batch + [_text(k) for k in (*firing, *ended, *stale)]
        known = {k: self._record(v) for k, v in zip(names, values, strict=True) if v is not None}
        head = self._head(service, raw_head, now)
        ranked = names[len(batch) : len(names) - len(stale)]
        firing_records = [known[_text(k)] for k in firing if _text(k) in known]
        step = fold(
            head,
            {k: known[k] for k in batch if k in known},
            [known[k] for k in ranked if k in known],
            events,
            service,
            self.config,
            now,
            absent,
            tick=firing_records if tick else None,
        )
        if not step.changed:
            return Applied([], step.applied, int(backlog) > 0, head.due_at)
        new_head, shown = overlay(head, control, step.head, control, step.events, self.config, now)
        expired = [known[k] for k in names[len(names) - len(stale) :] if k in known]
        keys = step_keys(service)
        args = self._write_args(
            rev, head, new_head, control, None, step.records, expired, shown, now
        )
        return _Plan(keys, args, Applied(shown, step.applied, False, new_head.due_at))

    async def _write(
        self,
        keys: list[str],
        rev: bytes | str | None,
        before: ServiceHead,
        head: ServiceHead,
        control: Control,
        new_control: Control | None,
        records: dict[str, AlertRecord],
        expired: list[AlertRecord],
        events: list[IncidentEvent],
        now: datetime,
    ) -> int:
        """_WRITE_STEP: -1 when the revision moved, else the outbox's length after."""
        args = self._write_args(
            rev, before, head, control, new_control, records, expired, events, now
        )
        (written,) = await self._pipelined([(self._write_step, keys, args)], writes=True)
        if isinstance(written, Exception):
            raise written
        return int(written)

    def _write_args(
        self,
        rev: bytes | str | None,
        before: ServiceHead,
        head: ServiceHead,
        control: Control,
        new_control: Control | None,
        records: dict[str, AlertRecord],
        expired: list[AlertRecord],
        events: list[IncidentEvent],
        now: datetime,
    ) -> list[str | int]:
        """_WRITE_STEP's arguments."""
        revision = "" if rev is None else _text(rev)
        counts, data = _index_args(before, head, records, expired, now, self._record_json)
        shown = shown_projection(head, new_control or control, self.config, now)
        return [
            revision,
            self._head_json(head),
            shown.model_dump_json(),
            str(int(revision or 0) + 1),
            *counts,
            len(events),
            *data,
            *(self.event_json(e) for e in events),
            "" if new_control is None else new_control.model_dump_json(),
        ]

    async def beat(self, at: datetime) -> None:
        await self._beat(keys=[HEARTBEAT_KEY], args=[_micros(at)])

    async def last_beat(self) -> datetime | None:
        raw = await self.redis.get(HEARTBEAT_KEY)
        return None if raw is None else _EPOCH + int(raw) * _MICROSECOND

    async def control(self, service: str) -> Control:
        return _control(await self.redis.get(control_key(service)))

    async def controls(self, services: Sequence[str]) -> list[Control]:
        """Several services' controls (one round trip)."""
        return [_control(r) for r in await self._values([control_key(s) for s in services])]

    async def statuses(self, services: Sequence[str]) -> list[ServiceStatus | None]:
        """The stored ServiceStatus projections (None: never stepped)."""
        raw = await self._values([status_key(s) for s in services])
        return [None if r is None else ServiceStatus.model_validate_json(r) for r in raw]

    async def _values(self, keys: list[str]) -> list[Any]:
        """GET of keys of several services in one pipelined round trip (not one MGET: the keys
        hash to different Cluster slots; nothing needs them read atomically together)."""
        if not keys:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            return list(await pipe.execute())

    async def command_step(
        self, service: str, command: Order | None, now: datetime
    ) -> CommandApplied:
        """Fold one command (None: only what is due by `now`) into the service, atomically with
        its alert steps (the same revision): a ResolveAlert folds the alert's resolve first."""
        keys = step_keys(service)
        batch = [alert_key(command.fingerprint)] if isinstance(command, ResolveAlert) else []
        horizon = _micros(now - RESOLVED_RETENTION)
        while True:
            (
                raw_head,
                rev,
                backlog,
                firing,
                ended,
                stale,
                values,
                raw_control,
            ) = await self._read_step(
                keys=keys, args=[MAX_INCIDENT_ALERTS + 1, horizon, PRUNE_BATCH, *batch]
            )
            control = _control(raw_control)
            names = batch + [_text(k) for k in (*firing, *ended, *stale)]
            known = {
                k: self._record(v) for k, v in zip(names, values, strict=True) if v is not None
            }
            head = self._head(service, raw_head, now)
            ranked = [known[k] for k in names[len(batch) : len(names) - len(stale)] if k in known]
            records = {k: known[k] for k in batch if k in known}
            result = control_step(
                head, records, ranked, control, command, service, self.config, now
            )
            if result is None:
                entry = control.entry(command.event_id) if command is not None else None
                return CommandApplied([], entry, int(backlog) > 0)
            written = await self._write(
                keys,
                rev,
                head,
                result.head,
                control,
                result.control,
                result.records,
                [],
                result.events,
                now,
            )
            if written < 0:
                continue
            return CommandApplied(result.events, result.entry, written > len(result.events))

    async def pending(self, service: str) -> list[IncidentEvent]:
        raw = await self.redis.lrange(outbox_key(service), 0, -1)
        return [INCIDENT_EVENT_ADAPTER.validate_json(item) for item in raw]

    async def published(self, service: str, events: list[IncidentEvent]) -> None:
        """`events` (the head of the outbox, as `pending` returned them) are stored by JetStream:
        drop them from the outbox."""
        await self.published_many([(service, events)])

    async def published_many(self, batches: Sequence[tuple[str, list[IncidentEvent]]]) -> None:
        calls = []
        for service, events in batches:
            raw: list[str | int] = [self.event_json(e) for e in events]
            for e in events:
                self.event_json.forget(e)
            calls.append((self._pop_published, [outbox_key(service)], raw))
        for reply in await self._pipelined(calls):
            if isinstance(reply, Exception):
                raise reply

    async def record_unrouted(self, event: AlertReceived) -> None:
        """Keep the latest event per fingerprint of alerts that matched no service."""
        key = unrouted_key()
        await self.redis.hset(key, event.fingerprint, event.model_dump_json())
        if await self.redis.hlen(key) > UNROUTED_LIMIT:
            events = await self._unrouted_events()
            stale = [e.fingerprint for e in events[UNROUTED_LIMIT:]]
            if stale:
                await self.redis.hdel(key, *stale)

    async def unrouted(self, limit: int = 100) -> list[AlertReceived]:
        """The latest unrouted alert events, most recently received first."""
        return (await self._unrouted_events())[:limit]

    async def _unrouted_events(self) -> list[AlertReceived]:
        raw = await self.redis.hvals(unrouted_key())
        events = [AlertReceived.model_validate_json(item) for item in raw]
        events.sort(key=lambda e: e.received_at, reverse=True)
        return events


def _event_json(event: IncidentEvent) -> str:
    return event.model_dump_json()


def _index_args(
    before: ServiceHead,
    after: ServiceHead,
    records: dict[str, AlertRecord],
    expired: list[AlertRecord],
    now: datetime,
    encode: Callable[[AlertRecord], str],
) -> tuple[list[str | int], list[str | int]]:
    """_WRITE_STEP's ARGV[5] to ARGV[13], and their data: the changed records (as `encode`
    writes them), what they change in the indexes, and the expired records to prune."""
    open_id = after.incident.id if after.incident is not None else None
    reset = (before.incident.id if before.incident is not None else None) != open_id
    hset: list[str | int] = []
    hdel: list[str] = []
    fadd: list[str | int] = []
    frem: list[str] = []
    eadd: list[str | int] = []
    erem: list[str] = []
    xadd: list[str | int] = []
    xrem: list[str] = []
    for key, record in records.items():
        hset += [key, encode(record)]
        firing = record.status is AlertState.FIRING
        ended = _micros(record.ends_at or record.starts_at)
        if open_id is not None and record.incident == open_id:
            if firing:
                fadd += [_micros(record.starts_at), key]
                erem.append(key)
            else:
                eadd += [ended, key]
                frem.append(key)
        elif not reset:
            frem.append(key)
            erem.append(key)
        if firing:
            xrem.append(key)
        else:
            xadd += [_micros(record.retained_from), key]
    for record in expired:
        if record.key in records:
            continue
        if record.status is AlertState.FIRING:
            xrem.append(record.key)  # a stale entry: it fired again since
        elif prunable(record, after, now):
            hdel.append(record.key)
            xrem.append(record.key)
        elif record.retained_from >= now - RESOLVED_RETENTION:
            # scored by its endsAt (as before retained_from): put it where it belongs
            xadd += [_micros(record.retained_from), record.key]
    counts: list[str | int] = [
        "1" if reset else "0",
        len(hset) // 2,
        len(hdel),
        len(fadd) // 2,
        len(frem),
        len(eadd) // 2,
        len(erem),
        len(xadd) // 2,
        len(xrem),
    ]
    return counts, [
        *hset,
        *hdel,
        *fadd,
        *frem,
        *eadd,
        *erem,
        *xadd,
        *xrem,
    ]
