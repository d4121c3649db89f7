"""Durable escalation timers: every incident's escalation in Redis, due times in a sorted set.

Keys, under the service's hash tag (so every script below touches one slot, Redis Cluster too):

- `esc:<incident id>`: the record, JSON `{"rev": n, "state": EscalationState, "incident":
  Incident}`; `rev` grows on every write (compare-and-set).
- `esc:due`: sorted set, member the incident id, score its due time (Unix ms).
- `esc:<incident id>:lease`: the token of the replica running its due step (expires).
- `esc:<incident id>:paged`: set of the destinations paged for it (`channel|address|user`),
  told about its acknowledgement and its resolve.
- `esc:notice:<incident id>:<kind>:<event id>`: a notice to tell (an acknowledgement, a resolve,
  a worsening: `PendingNotice`), in the same `esc:due` set (member `notice:...`, due at once)
  until it was sent: the outbox of the escalation. It is stored in the same script as the
  escalation change it tells of (`write(..., notice=)`), claimed, leased and renewed like a
  due step, and deleted (`done`) once every destination's send ended; a notice held by a
  replica that died is claimed again once its lease ends.

A due step fires once, by one replica: `claim` reads what is due and claims each step with a
script that, if it is still due, moves its score to the end of a short lease (`LEASE_SECONDS`),
so no other replica sees it due while it runs; the runner renews the lease while it sends, and `commit` stores the
advanced state only if the record was not changed meanwhile (an acknowledgement wins). A replica
that dies mid-step leaves the record as it was: its lease runs out, another replica claims the
step and runs it again; the sends are deduplicated by the ledger (one run id per step run), so
each destination is paged once. Notices follow the same path (their sends are deduplicated by
the ledger under the notice's event id).

Writes after which a message is acknowledged (an escalation started, a resolve or a worsening
with its notice, an acknowledgement with its notice, a notice queued) count as stored only once a
replica holds them, where the store is given a `Replication` (REDIS_URL names a Sentinel or a
Cluster: docs/reliability.md, bug 8): the script and its `WAIT`/`ROLE` go in one pipeline, on one
connection (on a Cluster, the node of the service's slot), and a write no replica confirmed in
time raises `NotReplicated` (it ran on the master: the message behind it is redelivered and its
handling, which reads the record again, redoes or confirms it). A handling that finds its change
made already (a redelivery of such a write) `confirm`s it: a touch of the service's slot and its
WAIT (the replication stream is in order, so the replica then holds the record too).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from herald.notifier.escalation import EscalationState
from herald.notifier.notice import NoticeType
from herald.shared.events import Incident
from herald.shared.keys import service_key
from herald.shared.replication import TOUCH_MS, TOUCH_SCRIPT, Replication
from herald.shared.runtime import RedisClient, ScriptCall, run_scripts

LEASE_SECONDS = 5.0
"""How long a claimed step is hidden from the other replicas without a renewal: a step held by
a replica that died is run by another one at most this long after."""

RECORD_TTL_SECONDS = 30 * 24 * 3600
"""A record outlives its incident's escalation by this much (acks of old links still answer)."""

CLAIM_LIMIT = 100
"""Due steps taken per service and claim."""

# KEYS: due set, record, lease. ARGV: incident id, now ms, lease ms, token. Claims one step if it
# is still due (another replica may have claimed it since it was read): hides it for the lease and
# returns the record; a step whose record is gone is dropped.
_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then
  return false
end
local rec = redis.call('GET', KEYS[2])
if not rec then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[3])
return rec
"""

_RENEW = """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

# KEYS: record, due set, lease[, notice record]. ARGV: incident id, expected rev, new record,
# due ms or '', ttl[, notice member, notice record, now ms]: the notice is queued in the same
# step (once: a notice already queued stays as it is).
_COMMIT = """
local rec = redis.call('GET', KEYS[1])
local rev = 0
if rec then
  rev = cjson.decode(rec)['rev']
end
if rev ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[5])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
redis.call('DEL', KEYS[3])
if #KEYS > 3 and redis.call('SET', KEYS[4], ARGV[7], 'NX', 'EX', ARGV[5]) then
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[6])
end
return 1
"""

# KEYS: notice record, due set. ARGV: member, record, now ms, ttl.
_QUEUE = """
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[4]) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  return 1
end
return 0
"""

# KEYS: notice record, due set, lease. ARGV: member, our token. Done unless another replica
# holds the notice now (ours ran out and it claimed it: it finishes it).
_DONE = """
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Record:
    """One incident's escalation as stored."""

    service: str
    incident_id: str
    rev: int
    state: EscalationState
    incident: Incident


@dataclass(frozen=True)
class Destination:
    """Someone paged for an incident (what its ack and resolve are told to)."""

    channel: str
    address: str | None
    user: str | None

    def key(self) -> str:
        return "|".join((self.channel, self.address or "", self.user or ""))

    @classmethod
    def from_key(cls, key: str) -> Destination:
        channel, address, user = [*key.split("|", 2), "", ""][:3]
        return cls(channel, address or None, user or None)


NOTICE_MEMBER = "notice:"
"""How a notice's member of `esc:due` starts (an incident id never does: `<service>-<n>`)."""


@dataclass(frozen=True)
class PendingNotice:
    """A notice about an escalated incident, stored until it was told: its acknowledgement or
    its resolve (to everyone paged for it, as known when it is sent) or its worsening (to its
    holders, with acknowledge links)."""

    service: str
    incident_id: str
    kind: NoticeType
    event_id: str
    """The event it tells of: the ledger deduplicates its sends under it."""
    incident: Incident
    dests: tuple[Destination, ...] | None = None
    """None: whoever was paged for the incident when the notice is sent."""
    links: bool = False
    """With acknowledge links (and its destinations recorded as paged)."""

    @property
    def member(self) -> str:
        return f"{NOTICE_MEMBER}{self.incident_id}:{self.kind}:{self.event_id}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "incident_id": self.incident_id,
                "kind": self.kind,
                "event_id": self.event_id,
                "incident": self.incident.model_dump(mode="json"),
                "dests": None if self.dests is None else [d.key() for d in self.dests],
                "links": self.links,
            }
        )

    @classmethod
    def from_json(cls, service: str, raw: bytes | str) -> PendingNotice:
        data: dict[str, Any] = json.loads(raw)
        dests = data["dests"]
        return cls(
            service=service,
            incident_id=data["incident_id"],
            kind=data["kind"],
            event_id=data["event_id"],
            incident=Incident.model_validate(data["incident"]),
            dests=None if dests is None else tuple(Destination.from_key(k) for k in dests),
            links=bool(data["links"]),
        )


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _decode(service: str, incident_id: str, raw: bytes | str) -> Record:
    data: dict[str, Any] = json.loads(raw)
    return Record(
        service=service,
        incident_id=incident_id,
        rev=int(data["rev"]),
        state=EscalationState.from_json(data["state"]),
        incident=Incident.model_validate(data["incident"]),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Lease:
    """A claimed due step: the record as it was when claimed, and our lease token."""

    record: Record
    token: str

    @property
    def service(self) -> str:
        return self.record.service

    @property
    def member(self) -> str:
        return self.record.incident_id


@dataclass(frozen=True)
class NoticeLease:
    """A claimed notice and our lease token."""

    notice: PendingNotice
    token: str

    @property
    def service(self) -> str:
        return self.notice.service

    @property
    def member(self) -> str:
        return self.notice.member


class EscalationStore:
    def __init__(
        self,
        redis: RedisClient,
        *,
        lease_seconds: float = LEASE_SECONDS,
        replication: Replication | None = None,
    ) -> None:
        """`replication`: the writes a message is acknowledged after wait for a replica
        (herald.shared.replication); None (one server): they are not waited for."""
        self.redis = redis
        self.lease_ms = int(lease_seconds * 1000)
        self.replication = replication
        self._claim = redis.register_script(_CLAIM)
        self._commit = redis.register_script(_COMMIT)
        self._queue = redis.register_script(_QUEUE)
        self._touch = redis.register_script(TOUCH_SCRIPT)

    @staticmethod
    def touch_key(service: str) -> str:
        """Written when a handling finds its change made already and must know that a replica
        holds it (`confirm`)."""
        return service_key(service, "esc:touched")

    async def _stored(self, calls: list[ScriptCall], *, confirm: bool) -> Any:
        """Run `calls` (keys of one slot) and return the first one's reply. `confirm` and a
        replication: in one pipeline with the WAIT and ROLE after them; `NotReplicated` when no
        replica acknowledged them in time (they ran on the master). Else (one server) each
        script as it always was, one EVAL, no other command."""
        if self.replication is None or not confirm:
            replies = [
                await self.redis.eval(cast("str", script.script), len(keys), *keys, *args)
                for script, keys, args in calls
            ]
            return replies[0]
        replies = await run_scripts(self.redis, calls, replication=self.replication)
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return replies[0]

    @staticmethod
    def record_key(service: str, incident_id: str) -> str:
        return service_key(service, f"esc:{incident_id}")

    @staticmethod
    def due_key(service: str) -> str:
        return service_key(service, "esc:due")

    async def get(self, service: str, incident_id: str) -> Record | None:
        raw = await self.redis.get(self.record_key(service, incident_id))
        return None if raw is None else _decode(service, incident_id, raw)

    async def write(
        self,
        service: str,
        incident_id: str,
        expected_rev: int,
        state: EscalationState,
        incident: Incident,
        *,
        notice: PendingNotice | None = None,
        now: datetime | None = None,
        confirm: bool = True,
    ) -> bool:
        """Store `state` if the record is still at `expected_rev` (0: it must not exist);
        schedule (or unschedule) its due time in the same step, and queue `notice` (due at
        `now`) with it: the change and its notice are stored together or not at all.

        `confirm` (the default: a message or an answer is given after it): with a replication,
        `NotReplicated` when no replica acknowledged the write in time. The write may then be
        on the master: whoever redoes it reads the record again first (a write at the old
        `expected_rev` would be refused as a conflict)."""
        key = self.record_key(service, incident_id)
        body = json.dumps(
            {
                "rev": expected_rev + 1,
                "state": state.to_json(),
                "incident": incident.model_dump(mode="json"),
            }
        )
        due = "" if state.due_at is None else str(_ms(state.due_at))
        keys = [key, self.due_key(service), key + ":lease"]
        args: list[str | int] = [incident_id, expected_rev, body, due, RECORD_TTL_SECONDS]
        if notice is not None:
            keys.append(self.notice_key(notice))
            args += [notice.member, notice.to_json(), _ms(now or state.started_at)]
        done = await self._stored([(self._commit, keys, args)], confirm=confirm)
        return bool(done)

    @staticmethod
    def notice_key(notice: PendingNotice) -> str:
        return service_key(notice.service, f"esc:{notice.member}")

    async def queue(self, notice: PendingNotice, now: datetime) -> bool:
        """Queue `notice`, due at `now`; False when it is queued already. With a replication,
        `NotReplicated` unless a replica holds it (queued now or before: a touch goes with it,
        so a notice queued by an unconfirmed write is confirmed too)."""
        calls: list[ScriptCall] = [
            (
                self._queue,
                [self.notice_key(notice), self.due_key(notice.service)],
                [notice.member, notice.to_json(), _ms(now), RECORD_TTL_SECONDS],
            )
        ]
        if self.replication is not None:
            calls.append((self._touch, [self.touch_key(notice.service)], [TOUCH_MS]))
        done = await self._stored(calls, confirm=True)
        return bool(done)

    async def confirm(self, service: str) -> None:
        """Make sure a replica holds every write of `service`'s escalations so far (a handling
        that found its change made, maybe by a write no replica confirmed): `NotReplicated`
        when none acknowledges in time. Nothing to do (no command) without a replication."""
        if self.replication is not None:
            await self._stored([(self._touch, [self.touch_key(service)], [TOUCH_MS])], confirm=True)

    async def done(self, lease: NoticeLease) -> bool:
        """The notice was told: forget it (unless another replica holds it now)."""
        key = self.notice_key(lease.notice)
        done = await self.redis.eval(
            _DONE,
            3,
            key,
            self.due_key(lease.service),
            key + ":lease",
            lease.member,
            lease.token,
        )
        return bool(done)

    async def claim(
        self, service: str, now: datetime, limit: int = CLAIM_LIMIT
    ) -> list[Lease | NoticeLease]:
        """Take every step and notice of `service` due at `now`, hidden from other replicas for
        a lease: the due members read, then each claimed by a script on its own keys (every key
        a script touches is one of its KEYS, so it runs on Redis Cluster), all in one round
        trip."""
        token = secrets.token_hex(8)
        due = self.due_key(service)
        at = _ms(now)
        found = await self.redis.zrangebyscore(due, "-inf", at, start=0, num=limit)
        ids = [_text(cast("bytes", i)) for i in found]
        if not ids:
            return []
        replies = await run_scripts(
            self.redis,
            [
                (
                    self._claim,
                    [due, service_key(service, f"esc:{m}"), service_key(service, f"esc:{m}:lease")],
                    [m, at, self.lease_ms, token],
                )
                for m in ids
            ],
        )
        leases: list[Lease | NoticeLease] = []
        for member, raw in zip(ids, replies, strict=True):
            if isinstance(raw, Exception):
                raise raw
            if raw is None:
                continue
            if member.startswith(NOTICE_MEMBER):
                leases.append(NoticeLease(PendingNotice.from_json(service, raw), token))
            else:
                leases.append(Lease(_decode(service, member, raw), token))
        return leases

    async def renew(self, lease: Lease | NoticeLease, now: datetime) -> bool:
        """Keep our claim hidden for another lease (while its sends run)."""
        key = service_key(lease.service, f"esc:{lease.member}")
        until = _ms(now) + self.lease_ms
        done = await self.redis.eval(
            _RENEW,
            2,
            self.due_key(lease.service),
            key + ":lease",
            lease.member,
            lease.token,
            until,
            self.lease_ms,
        )
        return bool(done)

    async def later(self, lease: Lease | NoticeLease, now: datetime, seconds: float) -> bool:
        """Keep our claim only `seconds` more: it is run again then (a send of it was held by
        another replica's claim, which ends about when that replica's lease does)."""
        key = service_key(lease.service, f"esc:{lease.member}")
        ms = max(int(seconds * 1000), 1)
        done = await self.redis.eval(
            _RENEW,
            2,
            self.due_key(lease.service),
            key + ":lease",
            lease.member,
            lease.token,
            _ms(now) + ms,
            ms,
        )
        return bool(done)

    async def next_due(self, services: Iterable[str]) -> datetime | None:
        """The earliest due time (leases included) over `services`."""
        best: float | None = None
        async with self.redis.pipeline(transaction=False) as pipe:
            for service in services:
                pipe.zrange(self.due_key(service), 0, 0, withscores=True)
            results = await pipe.execute()
        for rows in results:
            for _, score in rows:
                best = score if best is None else min(best, score)
        return None if best is None else datetime.fromtimestamp(best / 1000, UTC)

    async def add_paged(self, service: str, incident_id: str, dest: Destination) -> None:
        key = self.record_key(service, incident_id) + ":paged"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, dest.key())
            pipe.expire(key, RECORD_TTL_SECONDS)
            await pipe.execute()

    async def paged(self, service: str, incident_id: str) -> list[Destination]:
        members = await self.redis.smembers(self.record_key(service, incident_id) + ":paged")
        return sorted((Destination.from_key(_text(m)) for m in members), key=Destination.key)
