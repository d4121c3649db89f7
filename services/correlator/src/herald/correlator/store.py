"""Redis storage of the correlator: per-service state, public status and outbox.

Keys of one service share the hash tag `{service}` (herald.shared.keys), so the atomic
step below works on Redis Cluster too:
- `herald:{svc}:state`  the ServiceState (JSON);
- `herald:{svc}:status` the public ServiceStatus projection (JSON), read by the status page;
- `herald:{svc}:outbox` incident events (JSON) stored but not yet acknowledged by JetStream.

Outside the services, `herald:{_routes}:<fingerprint>` (a hash: service,
starts_at) remembers where each alert went (routing.sticky_route). It is written before the
alert's state step, expires RESOLVED_RETENTION after the alert's last event, and only ever
moves to a newer alert instance (a Lua script), so two replicas cannot send one alert
instance to two services.

One alert is one atomic step: WATCH state, GET, pure `apply`, MULTI SET state, SET status,
RPUSH outbox, EXEC (retried on WatchError). Publishing happens after, from the outbox, and an
event leaves the outbox only once JetStream has acknowledged it; a crash in between means the
next flush republishes it with the same Nats-Msg-Id, which JetStream de-duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import WatchError

from herald.correlator.incident import (
    RESOLVED_RETENTION,
    ServiceState,
    alert_key,
    apply,
    expire,
    group_of,
    initial_state,
    listed_again,
    no_longer_reported,
    projection,
)
from herald.correlator.routing import Route
from herald.shared.config import HeraldConfig
from herald.shared.events import (
    INCIDENT_EVENT_ADAPTER,
    AlertReceived,
    AlertState,
    GroupReported,
    IncidentEvent,
)
from herald.shared.keys import UNROUTED, service_key, status_key

UNROUTED_LIMIT = 500
"""How many unrouted fingerprints are kept (the oldest are dropped)."""

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


# Store the route unless the stored one is for the same or a newer alert instance; refresh
# its expiry either way. Returns the route in force: {service, starts_at}.
_REMEMBER_ROUTE = """
local stored = redis.call('HMGET', KEYS[1], 'service', 'starts_at')
if stored[1] and stored[2] and tonumber(stored[2]) >= tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return stored
end
redis.call('HSET', KEYS[1], 'service', ARGV[1], 'starts_at', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {ARGV[1], ARGV[2]}
"""

GROUPS = "_groups"
"""Pseudo-service (hash tag) of the aggregation groups' members: `herald:{_groups}:<group id>`
(a hash fingerprint -> service), what a group report is compared with."""

_ENDED = "\x1fended"
"""Suffix of a group member that is not firing (resolved, or no longer listed)."""

Fold = Callable[[ServiceState], tuple[ServiceState, list[IncidentEvent]]]
"""A pure change of one service's state (incident.apply and the like)."""

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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def state_key(service: str) -> str:
    return service_key(service, "state")


def outbox_key(service: str) -> str:
    return service_key(service, "outbox")


def unrouted_key() -> str:
    return service_key(UNROUTED, "alerts")


def group_index_key(group: str) -> str:
    return service_key(GROUPS, group)


def route_key(fingerprint: str) -> str:
    return service_key(ROUTES, alert_key(fingerprint))


class CorrelatorStore:
    """The correlator's state in Redis (a client with `decode_responses=False`)."""

    def __init__(self, redis: Redis, config: HeraldConfig) -> None:
        self.redis = redis
        self.config = config
        self._pop_published = redis.register_script(_POP_PUBLISHED)
        self._remember_route = redis.register_script(_REMEMBER_ROUTE)

    async def route(self, fingerprint: str) -> Route | None:
        """The remembered route of an alert, if any."""
        service, starts_at = await self.redis.hmget(
            route_key(fingerprint), ["service", "starts_at"]
        )
        if service is None or starts_at is None:
            return None
        return Route(_text(service), _EPOCH + int(starts_at) * _MICROSECOND)

    async def remember_route(self, fingerprint: str, route: Route) -> Route:
        """Store `route` for the alert unless a route for the same or a newer instance is
        stored; return the route in force (`route` or that other one)."""
        ttl_ms = int(ROUTE_TTL / timedelta(milliseconds=1))
        service, starts_at = await self._remember_route(
            keys=[route_key(fingerprint)],
            args=[route.service, _micros(route.starts_at), ttl_ms],
        )
        if _text(service) == route.service and int(starts_at) == _micros(route.starts_at):
            return route
        return Route(_text(service), _EPOCH + int(starts_at) * _MICROSECOND)

    async def outbox_services(self) -> list[str]:
        """Services with pending events in their outbox (configured or not any more)."""
        pattern = service_key("*", "outbox")
        services = []
        async for key in self.redis.scan_iter(match=pattern, count=1000):
            name = _text(key)
            services.append(name[name.index("{") + 1 : name.rindex("}")])
        return sorted(set(services))

    async def load(self, service: str, now: datetime) -> ServiceState:
        raw = await self.redis.get(state_key(service))
        if raw is None:
            return initial_state(service, now)
        return ServiceState.model_validate_json(raw)

    async def apply(self, service: str, event: AlertReceived, now: datetime) -> list[IncidentEvent]:
        """Fold `event` into the service's state atomically; return the events it produced
        (also appended to the outbox). An event that changes nothing writes nothing. The alert's
        group (the notification's groupKey) remembers it, firing or ended, for group reports."""
        state, events = await self.step(
            service, now, lambda state: apply(state, event, service, self.config, now)
        )
        if group := group_of(event):
            record = state.alerts.get(alert_key(event.fingerprint))
            fires = record is not None and record.status is AlertState.FIRING
            await self.index_group(group, event.fingerprint, service, ended=not fires)
        return events

    async def absent(
        self, service: str, fingerprint: str, group: str, reported_at: datetime, now: datetime
    ) -> bool:
        """Apply `no_longer_reported` for one alert atomically (events to the outbox); True
        while the alert still fires afterwards (it was listed later than `reported_at`)."""
        state, _ = await self.step(
            service,
            now,
            lambda state: no_longer_reported(
                state, fingerprint, group, reported_at, service, self.config, now
            ),
        )
        record = state.alerts.get(alert_key(fingerprint))
        return record is not None and record.status is AlertState.FIRING

    async def step(
        self, service: str, now: datetime, fold: Fold
    ) -> tuple[ServiceState, list[IncidentEvent]]:
        """One atomic step on the service's state: WATCH, read, `fold`, MULTI write state,
        status and outbox, EXEC (again on a conflict). Returns the state after it and the events
        it produced; writes nothing when `fold` changed nothing."""
        skey = state_key(service)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(skey)
                    raw = await pipe.get(skey)
                    state = (
                        initial_state(service, now)
                        if raw is None
                        else ServiceState.model_validate_json(raw)
                    )
                    new_state, events = fold(state)
                    if new_state == state:
                        return state, []  # leaving the block resets the pipeline (UNWATCH)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(skey, new_state.model_dump_json())
                    pipe.set(status_key(service), projection(new_state).model_dump_json())
                    if events:
                        pipe.rpush(outbox_key(service), *(e.model_dump_json() for e in events))
                    await pipe.execute()
                    return new_state, events
                except WatchError:
                    continue

    async def expire(self, service: str, now: datetime) -> list[IncidentEvent]:
        """Apply `expire` (alerts.stale_after) to the service atomically."""
        _, events = await self.step(
            service, now, lambda state: expire(state, service, self.config, now)
        )
        return events

    async def relisted(
        self, service: str, fingerprint: str, report: GroupReported, now: datetime
    ) -> bool:
        """Apply `listed_again` for one alert atomically; True when the alert fires afterwards."""
        state, _ = await self.step(
            service,
            now,
            lambda state: listed_again(state, fingerprint, report, service, self.config, now),
        )
        record = state.alerts.get(alert_key(fingerprint))
        return record is not None and record.status is AlertState.FIRING

    async def index_group(
        self, group: str, fingerprint: str, service: str, *, ended: bool = False
    ) -> None:
        """Remember that `group` listed the alert, which lives in `service` (and has `ended`)."""
        key = group_index_key(group)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, fingerprint, f"{service}{_ENDED if ended else ''}")
            pipe.pexpire(key, int(ROUTE_TTL / timedelta(milliseconds=1)))
            await pipe.execute()

    async def group_members(self, group: str) -> dict[str, tuple[str, bool]]:
        """fingerprint -> (service, ended) of the alerts `group` listed."""
        raw = await self.redis.hgetall(group_index_key(group))
        members: dict[str, tuple[str, bool]] = {}
        for fp, value in raw.items():
            text = _text(value)
            members[_text(fp)] = (text.removesuffix(_ENDED), text.endswith(_ENDED))
        return members

    async def pending(self, service: str) -> list[IncidentEvent]:
        raw = await self.redis.lrange(outbox_key(service), 0, -1)
        return [INCIDENT_EVENT_ADAPTER.validate_json(item) for item in raw]

    async def published(self, service: str, events: list[IncidentEvent]) -> None:
        """`events` (the head of the outbox, as `pending` returned them) are stored by JetStream:
        drop them from the outbox."""
        raw = [e.model_dump_json() for e in events]
        await self._pop_published(keys=[outbox_key(service)], args=raw)

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
