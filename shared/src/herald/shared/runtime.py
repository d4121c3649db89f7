"""One way to run a service: its clock, its NATS connection (with JetStream), its Redis client,
the loop that keeps something in place, and the durable pull consumer.

Every service opens what it depends on through this module, so the reconnect policy, the
timeouts and the recovery from a JetStream that lost its state are the same everywhere:

- `utc_now`: the one clock (pure code takes `now` as a parameter; services pass this).
- `NatsConnection`: one nats-py client and its JetStream context; reconnects forever, tells its
  listeners after every reconnect (the server may have lost its streams).
- `open_redis`: a client with connect and socket timeouts, so a hung Redis fails a step (which
  is retried) instead of hanging it for ever; one server, the master Sentinels name, or a Redis
  Cluster, as REDIS_URL says (`RedisTarget`). `run_scripts`: Lua scripts in one pipelined
  round trip, on any of the three.
- `Recheck`: runs a check at an interval, at once when woken, sooner after a failure.
- `DurableKeeper`: puts a durable consumer (and the streams) back when JetStream lost them.
- `PullConsumer`: a durable pull consumer that hands over what has arrived, up to a batch, at
  once: a lone message is handled as soon as it is stored, a burst in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, Header
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from herald.shared.batch_budget import BatchBudget
from herald.shared.replication import NotReplicated, Replication
from herald.shared.settings import RedisTarget
from herald.shared.streams import CHECK_SECONDS, RETRY_SECONDS, ensure_streams

log = logging.getLogger("herald.shared.runtime")

Clock = Callable[[], datetime]
"""Where a service reads the time; tests pass a fixed or stepping one."""


def utc_now() -> datetime:
    """The one clock: now, timezone-aware, in UTC."""
    return datetime.now(UTC)


CONNECT_TIMEOUT_SECONDS = 2.0
"""How long one attempt to reach NATS or Redis may take."""
RECONNECT_WAIT_SECONDS = 2.0
"""Seconds between two attempts to reach NATS again."""
REQUEST_TIMEOUT_SECONDS = 5.0
"""How long a JetStream request (a publish's ack, stream info) may take."""
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
"""How long one Redis command may take before it fails (and its step is retried)."""

Listener = Callable[[], None]
"""Told that the server may have lost its state; must return at once (e.g. wake a Recheck)."""


class NatsConnection:
    """A service's NATS client and its JetStream context, with the one reconnect policy:
    reconnect for ever (a NATS outage of any length is waited out), every
    RECONNECT_WAIT_SECONDS, and tell every listener once reconnected."""

    def __init__(
        self,
        url: str,
        name: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        reconnect_wait: float = RECONNECT_WAIT_SECONDS,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.name = name
        self.connect_timeout = connect_timeout
        self.reconnect_wait = reconnect_wait
        self.nc = NATS()
        self.js: JetStreamContext = self.nc.jetstream(timeout=request_timeout)
        self.connected = asyncio.Event()
        """Set while connected."""
        self.disconnected = asyncio.Event()
        """Set while a connection that was up is lost (until reconnected)."""
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def is_connected(self) -> bool:
        return bool(self.nc.is_connected)

    def on_reconnected(self, listener: Listener) -> None:
        """Call `listener` after every reconnect, and whenever `report_lost` is called: the
        server may have lost its streams or durables (a fresh volume, an operator)."""
        self._listeners.append(listener)

    def report_lost(self) -> None:
        """A publish or fetch found no stream or durable: tell the listeners now."""
        self._tell_listeners()

    async def connect(self) -> None:
        """Connect, trying again for ever until NATS answers."""
        await self.nc.connect(
            servers=nats_servers(self.url),
            name=self.name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self.reconnect_wait,  # type: ignore[arg-type]
            connect_timeout=self.connect_timeout,  # type: ignore[arg-type]
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self.connected.set()
        log.info("connected to NATS", extra={"client": self.name})

    def connect_in_background(self) -> None:
        """Start connecting and return at once (a service that must answer while NATS is down)."""
        self._task = asyncio.create_task(self.connect(), name=f"{self.name}-connect")

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.nc.close()
        self.connected.clear()

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS connection error", extra={"error": str(exc) or type(exc).__name__})

    async def _on_disconnected(self) -> None:
        if self.connected.is_set():
            log.warning("disconnected from NATS", extra={"client": self.name})
        self.connected.clear()
        self.disconnected.set()

    async def _on_reconnected(self) -> None:
        self.disconnected.clear()
        self.connected.set()
        log.info("reconnected to NATS", extra={"client": self.name})
        self._tell_listeners()

    def _tell_listeners(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception as exc:  # one listener failing must not keep the others from running
                log.warning("reconnect listener failed", extra={"error": repr(exc)})


def nats_servers(url: str) -> list[str]:
    """NATS_URL's servers: one URL, or several separated by commas (the nodes of a cluster; the
    client also learns the others from the one it reaches)."""
    return [u.strip() for u in url.split(",") if u.strip()]


RedisClient = Redis | RedisCluster
"""What `open_redis` returns: a client of one server (also the master Sentinels name), or of a
Redis Cluster. Both take the same commands; on a Cluster every multi-key command, script and
transaction must keep to keys of one hash tag (herald.shared.keys), and a pipeline without a
transaction is split per node."""


def open_redis(
    url: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    socket_timeout: float = REDIS_SOCKET_TIMEOUT_SECONDS,
) -> RedisClient:
    """A Redis client (bytes responses) whose commands fail instead of hanging on a hung server:
    of the server at `url`, of the master the Sentinels at `redis+sentinel://...` name (a
    failover moves it: the next command reaches the new master), or of the Redis Cluster at
    `redis+cluster://...` (a failover moves slots: the client follows the cluster's redirects
    and reads its slots again). The forms: `RedisTarget`."""
    target = RedisTarget.parse(url)
    if target.mode == "cluster":
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            username=target.username,
            password=target.password,
            ssl=target.tls,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            health_check_interval=30,
        )
    if target.mode == "sentinel":
        sentinels = Sentinel(  # type: ignore[no-untyped-call]
            list(target.nodes),
            sentinel_kwargs={
                "socket_connect_timeout": connect_timeout,
                "socket_timeout": socket_timeout,
                "password": target.sentinel_password,
            },
        )
        master: Redis = sentinels.master_for(
            target.master,
            db=target.db,
            username=target.username,
            password=target.password,
            ssl=target.tls,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            health_check_interval=30,
        )
        return master
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )
    return client


ScriptCall = tuple[AsyncScript, Sequence[str], Sequence[str | int | float]]
"""A registered script, its keys and its arguments."""


async def run_scripts(
    client: RedisClient, calls: Sequence[ScriptCall], *, replication: Replication | None = None
) -> list[Any]:
    """Run scripts in one pipelined round trip (without a transaction: each script is atomic on
    its own, and on a Cluster they run on the nodes of their keys); per call, its reply or its
    error. A server that does not know a script yet (a fresh one, a restarted one, a promoted
    replica) answers NOSCRIPT, meaning the script did not run: it is loaded (on a Cluster, on
    every master) and those calls run again.

    `replication`: the scripts write, and each call counts as done only once enough replicas
    hold its writes (a WAIT on each server after them, herald.shared.replication); a call whose
    writes they do not confirm gets `NotReplicated` as its reply (it ran: redo it)."""
    replies: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for attempt in range(2):
        async with client.pipeline(transaction=False) as pipe:
            for i in todo:
                script, keys, args = calls[i]
                # EVALSHA as a plain command: a Cluster pipeline refuses `script(client=pipe)`
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            waits = None
            if replication is not None:
                waits = await replication.add(client, pipe, [calls[i][1][0] for i in todo])
            results = await pipe.execute(raise_on_error=False)
        if waits is not None and replication is not None:
            unconfirmed = replication.check(client, waits, results[waits.first :])
            results = results[: waits.first]
            for n in unconfirmed:
                if not isinstance(results[n], BaseException):
                    results[n] = NotReplicated(
                        f"no replica acknowledged the write within {replication.timeout_ms} ms"
                    )
        missing = []
        for i, result in zip(todo, results, strict=True):
            replies[i] = result
            if isinstance(result, NoScriptError):
                missing.append(i)
        if not missing or attempt:
            break
        for script in {id(calls[i][0]): calls[i][0] for i in missing}.values():
            await client.script_load(script.script)  # on a Cluster: on every master
        todo = missing
    return replies


class Recheck:
    """Runs `check` every `interval` seconds, at once when woken, and after RETRY_SECONDS when it
    failed (NATS or Redis not answering yet). The one loop behind every "keep it in place"."""

    def __init__(
        self,
        name: str,
        check: Callable[[], Awaitable[object]],
        *,
        interval: float = CHECK_SECONDS,
        retry: float = RETRY_SECONDS,
    ) -> None:
        self.name = name
        self.check = check
        self.interval = interval
        self.retry = min(retry, interval)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Check now rather than at the next interval."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"recheck-{self.name}")

    async def stop(self) -> None:
        """Stop the loop. A flag as well as a cancel: the Redis client may turn a cancel inside a
        command into a connection error, which the loop would log and go on from for ever."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = self.interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                await self.check()
            except Exception as exc:
                if self._stopping:
                    return
                log.warning(
                    "check %s failed; trying again soon",
                    self.name,
                    extra={"check": self.name, "error": repr(exc) or type(exc).__name__},
                )
                delay = self.retry
            else:
                delay = self.interval


class DurableKeeper:
    """Keeps a durable consumer in place while its service runs.

    JetStream may lose a durable under a running subscriber: a single-node NATS restarted on an
    empty volume, an operator deleting and re-creating a stream. A pull subscriber keeps asking a
    consumer that no longer exists and never re-creates it. The keeper checks at start, after
    every reconnect, when woken (e.g. after a publish or fetch found no stream or consumer) and
    every `interval` seconds; it re-creates the missing streams and the durable, with the config
    the durable had when last seen. The pull subscription's next fetch reads from the re-created
    durable (same stream and name)."""

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        durable: str,
        *,
        replicas: int = 1,
        interval: float = CHECK_SECONDS,
    ) -> None:
        self.js = js
        self.stream = stream
        self.durable = durable
        self.replicas = replicas
        self.config: ConsumerConfig | None = None
        """The durable's config as last seen (what a re-created durable gets)."""
        self.ack_floor: int = 0
        """The stream sequence up to which the durable had acknowledged everything, as last
        seen: a re-created durable resumes after it."""
        self.recheck = Recheck(f"durable-{durable}", self.check, interval=interval)

    async def check(self) -> bool:
        """Make sure the streams and the durable exist; True when the durable was re-created."""
        await ensure_streams(self.js, self.replicas)
        try:
            info = await self.js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            if self.config is None:
                log.error(
                    "durable %s of %s is missing and was never seen", self.durable, self.stream
                )
                return False
            await self.js.add_consumer(self.stream, config=await self.resume_config(self.config))
            log.warning(
                "durable %s of %s was missing (JetStream lost it): re-created",
                self.durable,
                self.stream,
                extra={"stream": self.stream, "durable": self.durable},
            )
            return True
        self.config = info.config
        if info.ack_floor is not None and info.ack_floor.stream_seq:
            self.ack_floor = max(self.ack_floor, int(info.ack_floor.stream_seq))
        return False

    async def resume_config(self, seen: ConsumerConfig) -> ConsumerConfig:
        """The config of a re-created durable: from where it was (the message after its ack
        floor) while the stream still holds that, never from its original start time (that
        would replay days of the stream); from the stream's start when the stream itself was
        re-created (its sequences began again below the floor: all of it is new)."""
        info = await self.js.stream_info(self.stream)
        last = int(info.state.last_seq or 0)
        if self.ack_floor and last >= self.ack_floor:
            return seen.evolve(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self.ack_floor + 1,
                opt_start_time=None,
            )
        return seen.evolve(
            deliver_policy=DeliverPolicy.ALL, opt_start_seq=None, opt_start_time=None
        )

    def wake(self) -> None:
        self.recheck.wake()

    async def start(self) -> None:
        """Remember the durable's config (its subscriber has created it) and keep it from now on."""
        await self.check()
        self.recheck.start()

    async def stop(self) -> None:
        await self.recheck.stop()


Handler = Callable[[Sequence[Msg]], Awaitable[None]]
"""Handles a batch of messages; acks, naks or terminates each one itself."""

Observer = Callable[[str, float], None]
"""Told how long the consumer spent in a phase of its own: "room" (waiting for free places
while its batches are in hand), "fetch" (a fetch that returned messages)."""

FETCH_TIMEOUT_SECONDS = 1.0
"""How long one fetch waits for a first message when nothing is pending (an idle poll)."""


class PullConsumer:
    """A durable pull consumer of one stream, kept in place by a DurableKeeper.

    It fetches what has arrived, up to `batch` messages, and hands the batch to `handle` at once:
    a fetch returns as soon as one message is there, so a lone message is never held back to fill
    a batch, and a burst is handled in batches (one store step per service and batch in the
    correlator). At most `concurrency` messages are in the hands of `handle` at a time; the next
    fetch asks only for the free places, so a slow batch holds back no more than its own."""

    def __init__(
        self,
        nats: NatsConnection,
        *,
        stream: str,
        subjects: str,
        config: ConsumerConfig,
        handle: Handler,
        batch: int = 1,
        concurrency: int = 1,
        replicas: int = 1,
        fetch_timeout: float = FETCH_TIMEOUT_SECONDS,
        observe: Observer | None = None,
        max_batches: int | None = None,
        budget: BatchBudget | None = None,
    ) -> None:
        if config.durable_name is None:
            raise ValueError("a durable consumer needs config.durable_name")
        if not 1 <= batch <= concurrency:
            raise ValueError("need 1 <= batch <= concurrency")
        if budget is not None and budget.most > concurrency:
            raise ValueError("need budget.most <= concurrency")
        self.nats = nats
        self.stream = stream
        self.subjects = subjects
        self.config = config
        self.handle = handle
        self.batch = batch
        self.concurrency = concurrency
        self.replicas = replicas
        self.fetch_timeout = fetch_timeout
        self.observe = observe
        self.max_batches = max_batches
        self.budget = budget
        """When given, the size of the next fetch (instead of `batch`), told how long each
        batch took to handle."""
        """At most this many batches in the hands of `handle` at a time (None: as many as the
        free places allow). 1: what arrives while a batch is in hand waits and comes as one
        batch, instead of as several small ones competing for the same work."""
        self._batches = 0
        self.keeper = DurableKeeper(nats.js, stream, config.durable_name, replicas=replicas)
        nats.on_reconnected(self.keeper.wake)
        self._free = concurrency
        self._room = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Create the streams and the durable when missing, subscribe, and start fetching."""
        js = self.nats.js
        await ensure_streams(js, self.replicas)
        sub = await js.pull_subscribe(
            self.subjects,
            durable=self.config.durable_name,
            stream=self.stream,
            config=self.config,
        )
        await self.keeper.start()
        self._loop = asyncio.create_task(self._run(sub), name=f"pull-{self.config.durable_name}")

    async def stop(self, grace: float = 30.0) -> None:
        """Stop fetching, let the batches in hand finish (at most `grace` seconds), then stop.

        The fetch under way is let finish (it waits `fetch_timeout` at most) and what it brings
        is handled like any batch in hand: cancelled, the messages the server had already handed
        to it would be dropped unacked, and redelivered only after `ack_wait` (found by the
        fault suite's SIGTERM drill, docs/reliability.md)."""
        self._stopping = True
        if self._loop is not None:
            async with self._room:
                self._room.notify_all()  # a loop waiting for room stops waiting
            done, _ = await asyncio.wait({self._loop}, timeout=self.fetch_timeout + grace)
            if not done:
                self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:  # unacked: JetStream redelivers them to another replica
                task.cancel()
        await self.keeper.stop()

    async def _run(self, sub: JetStreamContext.PullSubscription) -> None:
        clock = asyncio.get_running_loop().time
        while not self._stopping:
            waited = clock()
            async with self._room:
                await self._room.wait_for(lambda: self._has_room() or self._stopping)
                if self._stopping:
                    return
                size = self.batch if self.budget is None else self.budget.size()
                want = min(size, self._free)
            fetched = clock()
            try:
                msgs = await sub.fetch(want, timeout=self.fetch_timeout)
            except TimeoutError:  # nothing arrived (nats-py raises both kinds of TimeoutError)
                continue
            except ConnectionClosedError:
                return
            except Exception as exc:  # NATS down, the durable lost: the keeper puts it back
                log.warning(
                    "fetch from %s failed",
                    self.config.durable_name,
                    extra={"error": repr(exc) or type(exc).__name__},
                )
                self.nats.report_lost()
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if not msgs:
                continue
            if self.observe is not None:
                self.observe("room", fetched - waited)
                self.observe("fetch", clock() - fetched)
            self._free -= len(msgs)
            self._batches += 1
            task = asyncio.create_task(self._handle(msgs))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, msgs: Sequence[Msg]) -> None:
        clock = asyncio.get_running_loop().time
        started = clock()
        try:
            await self.handle(msgs)
        except Exception:  # a handler acks or naks itself; left unacked, JetStream redelivers
            log.exception("handling %d messages failed", len(msgs))
        finally:
            if self.budget is not None:
                self.budget.observe(len(msgs), clock() - started)
            async with self._room:
                self._free += len(msgs)
                self._batches -= 1
                self._room.notify_all()

    def _has_room(self) -> bool:
        return self._free > 0 and (self.max_batches is None or self._batches < self.max_batches)


# -- JetStream publishes whose acks are awaited together (ingest, correlator) ------------------

# JetStream publishes whose acks are awaited together (the "publish async" pattern).
#
# `JetStreamContext.publish` is a request per message: a fresh random reply token (a system call
# for its random bytes), a timer and a `wait_for` per message, the ack parsed into a dataclass.
# At 100 alerts per webhook that was a third of ingest's time. Here one wildcard inbox
# subscription on the service's connection receives every ack; a message's reply subject ends
# with a counter, its future is resolved by the subscription's callback, and a whole batch shares
# one timeout. What an ack says is read as `JetStreamContext.publish` reads it: a 503 status (no
# stream listens) is `NoStreamResponseError`, an `error` document an `APIError`, otherwise the
# `duplicate` flag.
#
# The promise is the same: `publish_all` returns only when JetStream acknowledged every message.

NO_RESPONDERS_STATUS = "503"


@dataclass(frozen=True)
class Outgoing:
    subject: str
    payload: bytes
    headers: dict[str, str]


class _Batch:
    """The acks of one `publish_all` call, filled in by the inbox's callback in message order;
    `done` resolves when the last one arrived (one future per batch, not one per message)."""

    __slots__ = ("acks", "done", "left")

    def __init__(self, size: int, done: asyncio.Future[None]) -> None:
        self.acks: list[Msg | None] = [None] * size
        self.left = size
        self.done = done

    def receive(self, index: int, msg: Msg) -> None:
        if self.acks[index] is None:
            self.acks[index] = msg
            self.left -= 1
            if self.left <= 0 and not self.done.done():
                self.done.set_result(None)


class AckInbox:
    """Publishes on `nc` with replies to one inbox subscription of its own (made on first use;
    nats-py re-subscribes it after a reconnect)."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = ""
        self._pending: dict[str, tuple[_Batch, int]] = {}
        self._counter = 0
        self._lock = asyncio.Lock()

    async def _subscribe(self) -> str:
        async with self._lock:
            if not self._prefix:
                inbox = self._nc.new_inbox()
                await self._nc.subscribe(f"{inbox}.*", cb=self._on_reply)
                self._prefix = f"{inbox}."
        return self._prefix

    async def _on_reply(self, msg: Msg) -> None:
        waiting = self._pending.pop(msg.subject[len(self._prefix) :], None)
        if waiting is not None:
            waiting[0].receive(waiting[1], msg)

    async def publish_all(
        self, messages: Sequence[Outgoing], timeout: float
    ) -> list[bool | BaseException]:
        """Publish every message, in order, then await all their acks (at most `timeout`
        seconds in all). Per message: True when JetStream reports it a duplicate, False when
        newly stored, or the exception saying why it was not stored."""
        prefix = self._prefix or await self._subscribe()
        loop = asyncio.get_running_loop()
        batch = _Batch(len(messages), loop.create_future())
        pending = self._pending
        publish = self._nc.publish
        tokens: list[str] = []
        refused: BaseException | None = None
        try:
            for index, message in enumerate(messages):
                self._counter += 1
                token = str(self._counter)
                pending[token] = (batch, index)
                tokens.append(token)
                try:
                    await publish(
                        message.subject,
                        message.payload,
                        reply=prefix + token,
                        headers=message.headers,
                    )
                except Exception as exc:  # closed, buffer full: this one and the rest not stored
                    refused = exc
                    pending.pop(token, None)
                    tokens.pop()
                    break
            sent = len(tokens)
            batch.left -= len(messages) - sent  # those never sent: no ack to wait for
            if sent and batch.left > 0 and not batch.done.done():
                expiry = loop.call_later(timeout, _expire, batch.done)
                try:
                    await batch.done
                finally:
                    expiry.cancel()
        finally:
            for token in tokens:
                pending.pop(token, None)
        results: list[bool | BaseException] = []
        for index, ack in enumerate(batch.acks):
            if ack is not None:
                results.append(_read_ack(ack))
            elif index < sent:
                results.append(NatsTimeoutError())
            else:
                results.append(refused or NatsTimeoutError())
        return results


def _expire(done: asyncio.Future[None]) -> None:
    """A batch's timeout: stop waiting (the acks that have not arrived are timeouts)."""
    if not done.done():
        done.set_result(None)


_ACK_START = b'{"stream":"'


def _read_ack(msg: Msg) -> bool | BaseException:
    data = msg.data
    if (
        not msg.headers
        and data.startswith(_ACK_START)
        and b'"error"' not in data
        and b'"duplicate"' not in data
    ):
        # the common ack, newly stored (`{"stream":"ALERTS", "seq":7}`): no JSON parse needed
        # (a quoted stream name cannot hide either key); errors and duplicates are parsed
        return False
    if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
        return NoStreamResponseError()
    try:
        doc = json.loads(msg.data)
    except ValueError as exc:
        return exc
    if not isinstance(doc, dict):
        return ValueError("not a JetStream publish ack")
    if "error" in doc:
        try:
            APIError.from_error(doc["error"])  # raises the error's own class
        except Exception as exc:  # it is the result
            return exc
        return APIError(description=str(doc["error"]))
    return bool(doc.get("duplicate", False))
