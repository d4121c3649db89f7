"""Writes that a replica holds before their messages are acknowledged (docs/reliability.md, bug 8).

Redis replicates asynchronously: a master answers a write before its replica has it, and a
master killed at that moment (SIGKILL, a lost machine) leaves the promoted replica without it.
A consumer that acknowledged the message behind that write has then lost it for good. So where
REDIS_URL names a Sentinel or a Cluster (replicas that may be promoted), the writes of a step
are followed, in the same pipeline, by `WAIT <replicas> <timeout>` and `ROLE` on every server
they went to, and the step counts as stored only when enough replicas acknowledged them
(`Replication.check`); else its messages are redelivered and the step, idempotent, is redone.

`WAIT` counts the replicas that acknowledged the connection's own last write (and so every
write the server took before it), so it has to ride on the connection of the writes: one
pipeline is one connection on one server, and a Cluster pipeline sends each node's commands on
one connection, in order (the WAIT and ROLE go to each node with `target_nodes`). A key whose
slot moved between the pipeline's routing and its reply is not confirmed (its write may have
gone elsewhere).

A master without a connected replica (its replica died and was not replaced, or it is still in
its first sync) has nobody to lose a write to by a promotion: its writes are taken as stored
(a warning says so) and, while it has none, it is asked `WAIT 0` (answered at once) rather than
made to wait the whole timeout on every step; the ROLE of the same pipeline says when a replica
is back. A replica that is connected but does not acknowledge within the timeout fails the step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster

log = logging.getLogger("herald.shared.replication")

SERVER = ""
"""The name under which the one server of a plain or Sentinel client is remembered."""

TOUCH_SCRIPT = """
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 0
"""
"""A write of a key's slot that changes nothing else (KEYS[1]: a touch key of the service,
ARGV[1]: its expiry in ms): a step or a handling that found its change made already sends it
with its WAIT, which then covers every earlier write of that master (the replication stream is
in order), so the change it found is known to be on a replica too."""

TOUCH_MS = 60_000
"""How long a touch key outlives its last write."""


class NotReplicated(Exception):
    """A write no replica acknowledged in time: its step is to be redone (redelivered)."""


@dataclass
class Waits:
    """The WAITs queued on one pipeline after its writes: per server, the writes it holds."""

    first: int
    """Index of the first WAIT among the pipeline's replies (the writes come before it)."""
    servers: list[tuple[str, list[int]]] = field(default_factory=list)
    """Per server (a Cluster node's name, or SERVER): the indexes of the writes it took."""
    keys: Sequence[str] = ()


@dataclass
class Replication:
    """How many replicas must hold a step's writes (`replicas`) and how long a step waits for
    them (`timeout_ms`) before it fails."""

    timeout_ms: int
    replicas: int = 1
    _connected: dict[str, int] = field(default_factory=dict, repr=False)
    """Replicas each server last said it has connected (ROLE)."""

    async def add(
        self, client: Redis | RedisCluster, pipe: Pipeline | ClusterPipeline, keys: Sequence[str]
    ) -> Waits:
        """Queue, after the writes already on `pipe` (the i-th of them on `keys[i]`'s slot), a
        WAIT and a ROLE on each server the writes go to."""
        waits = Waits(first=len(keys), keys=keys)
        if isinstance(client, RedisCluster):
            await client.initialize()  # the slots are known (a no-op once they are)
            nodes: dict[str, tuple[ClusterNode, list[int]]] = {}
            for i, key in enumerate(keys):
                node = client.get_node_from_key(key)
                if node is None:  # pragma: no cover - redis-py raises when a slot is uncovered
                    raise NotReplicated(f"no master serves {key}")
                nodes.setdefault(node.name, (node, []))[1].append(i)
            for name, (node, writes) in nodes.items():
                pipe.execute_command("WAIT", self.asked(name), self.timeout_ms, target_nodes=node)
                pipe.execute_command("ROLE", target_nodes=node)
                waits.servers.append((name, writes))
        elif keys:
            pipe.execute_command("WAIT", self.asked(SERVER), self.timeout_ms)
            pipe.execute_command("ROLE")
            waits.servers.append((SERVER, list(range(len(keys)))))
        return waits

    def asked(self, server: str) -> int:
        """Replicas to wait for: none while the server has none connected (WAIT answers at once;
        its ROLE says when one is back)."""
        return self.replicas if self._connected.get(server, self.replicas) > 0 else 0

    def check(self, client: Redis | RedisCluster, waits: Waits, replies: Sequence[Any]) -> set[int]:
        """The indexes of the writes that are not known to be on enough replicas, from the
        replies of the WAITs and ROLEs `add` queued (`replies`: those replies only, in order)."""
        unconfirmed: set[int] = set()
        for n, (server, writes) in enumerate(waits.servers):
            acked, role = replies[2 * n], replies[2 * n + 1]
            if not self._held(server, acked, role) or self._moved(client, server, waits, writes):
                unconfirmed.update(writes)
        return unconfirmed

    def _held(self, server: str, acked: Any, role: Any) -> bool:
        if isinstance(acked, BaseException) or isinstance(role, BaseException):
            return False
        if not isinstance(role, list | tuple) or len(role) < 3 or _text(role[0]) != "master":
            return False  # no longer a master: its writes may be gone with the failover
        connected = len(role[2])
        before = self._connected.get(server)
        self._connected[server] = connected
        if int(acked) >= self.replicas:
            return True
        if connected == 0:
            if before != 0:
                log.warning(
                    "Redis %s has no replica connected: its writes are not replicated",
                    server or "master",
                    extra={"server": server or "master"},
                )
            return True
        return False

    @staticmethod
    def _moved(client: Redis | RedisCluster, server: str, waits: Waits, writes: list[int]) -> bool:
        """Whether a write's slot is served by another node than the one WAITed on."""
        if not isinstance(client, RedisCluster):
            return False
        try:
            return any(
                (node := client.get_node_from_key(waits.keys[i])) is None or node.name != server
                for i in writes
            )
        except Exception:  # the slots were dropped (a failover being read): not known
            return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
