"""Distributed NATS and Redis on loopback, as real processes on free ports: a JetStream cluster of
nats-server nodes joined by routes, a Redis Cluster (masters with one replica each, formed by
`redis-cli --cluster create`), and Redis Sentinel (a master, a replica, Sentinels: the
`redis-server --sentinel` mode of Debian's redis-server, so no other package is needed)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import redis
import redis.asyncio as aioredis
from nats.js.errors import APIError, ServiceUnavailableError

from devstack.infrastructure import find_binary
from tests.infra import ServerProcess, free_port

READY_SECONDS = 30.0
"""Bound on how long a cluster may take to form (start-up, not a test assertion)."""


def binary(name: str) -> str:
    found = find_binary(name)
    if found is None:
        raise RuntimeError(f"the cluster tests need {name} (Debian/Ubuntu: apt-get install {name})")
    return found


@dataclass
class NatsNode:
    name: str
    process: ServerProcess

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.process.port}"

    def kill(self) -> None:
        """SIGKILL: the node is gone at once, nothing flushed."""
        proc = self.process.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self.process.proc = None


@dataclass
class NatsCluster:
    nodes: list[NatsNode]

    @property
    def url(self) -> str:
        """NATS_URL for every node (comma-separated)."""
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> NatsNode:
        return next(n for n in self.nodes if n.name == name)

    def alive(self) -> NatsNode:
        return next(n for n in self.nodes if n.process.proc is not None)

    async def leader_of(self, stream: str) -> str:
        """The name of the node leading `stream`'s replicas."""
        nc = await nats.connect(self.alive().url)
        try:
            info = await nc.jetstream().stream_info(stream)
            assert info.cluster is not None, info
            assert info.cluster.leader is not None, info
            return info.cluster.leader
        finally:
            await nc.close()

    async def wait_jetstream(self) -> None:
        """Until the cluster has elected its JetStream meta leader (an R3 stream can be made)."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            nc = await nats.connect(self.alive().url)
            try:
                await nc.jetstream().account_info()
                return
            except (APIError, ServiceUnavailableError, nats.errors.TimeoutError):
                if time.monotonic() > deadline:
                    raise
            finally:
                await nc.close()
            await asyncio.sleep(0.2)


@contextlib.contextmanager
def nats_cluster(root: Path, size: int = 3) -> Iterator[NatsCluster]:
    """`size` nats-server nodes with JetStream, each routed to every other one."""
    server = binary("nats-server")
    ports = [(free_port(), free_port()) for _ in range(size)]
    routes = ",".join(f"nats://127.0.0.1:{route}" for _, route in ports)
    nodes = []
    for i, (client, route) in enumerate(ports):
        name = f"n{i + 1}"
        work = root / name
        (work / "jetstream").mkdir(parents=True)
        argv = [
            server,
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(client),
            "-sd",
            str(work / "jetstream"),
            "-n",
            name,
            "--cluster_name",
            "herald",
            "--cluster",
            f"nats://127.0.0.1:{route}",
            "--routes",
            routes,
        ]
        nodes.append(NatsNode(name, ServerProcess(argv, client, work)))
    try:
        for node in nodes:
            node.process.start()
        yield NatsCluster(nodes)
    finally:
        for node in nodes:
            node.process.stop()


@dataclass
class RedisCluster:
    nodes: list[ServerProcess]

    @property
    def url(self) -> str:
        """REDIS_URL for the cluster, every node a seed."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def _client(self, port: int | None = None) -> redis.Redis:
        """A client of the node at `port`, else of a node that runs."""
        if port is None:
            port = next(n.port for n in self.nodes if n.proc is not None)
        return redis.Redis(port=port, socket_timeout=5, decode_responses=True)

    def roles(self) -> list[dict[str, str]]:
        """CLUSTER NODES, parsed: id, port, role (master/replica), master id."""
        with self._client() as client:
            text = client.execute_command("CLUSTER NODES")
        if isinstance(text, dict):  # redis-py may parse it into a dict keyed by address
            rows = [
                {
                    "id": v["node_id"],
                    "port": k.rsplit(":", 1)[1].split("@")[0],
                    "role": "master" if "master" in v["flags"] else "replica",
                    "master": v.get("master_id", "-"),
                    "connected": str(v.get("connected", True)),
                }
                for k, v in text.items()
            ]
            return rows
        rows = []
        for line in str(text).splitlines():
            node_id, addr, flags, master = line.split()[:4]
            rows.append(
                {
                    "id": node_id,
                    "port": addr.split("@")[0].rsplit(":", 1)[1],
                    "role": "master" if "master" in flags else "replica",
                    "master": master,
                    "connected": "True",
                }
            )
        return rows

    def master_of(self, key: str) -> int:
        """The port of the master serving `key`'s slot."""
        with self._client() as client:
            slot = int(client.execute_command("CLUSTER KEYSLOT", key))
            for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(master[1])
        raise AssertionError(f"no master for slot of {key}")

    def fail_over(self, master_port: int) -> int:
        """Promote a replica of the master at `master_port` (CLUSTER FAILOVER on the replica: it
        catches up with the master, then takes its slots); return the new master's port once
        every node agrees."""
        rows = self.roles()
        master_id = next(r["id"] for r in rows if r["port"] == str(master_port))
        replica = next(int(r["port"]) for r in rows if r["master"] == master_id)
        deadline = time.monotonic() + 2 * READY_SECONDS
        with self._client(replica) as client:
            while time.monotonic() < deadline:
                # a manual failover is given up (silently) when the replica cannot catch up in
                # time, e.g. still in its first sync on a loaded machine: ask again until done
                if client.info("replication").get("master_link_status") == "up":
                    client.execute_command("CLUSTER FAILOVER")
                tried = time.monotonic()
                while time.monotonic() < min(deadline, tried + 10):
                    rows = self.roles()
                    if any(r["port"] == str(replica) and r["role"] == "master" for r in rows):
                        return replica
                    time.sleep(0.1)
        raise AssertionError(f"replica {replica} of {master_port} was not promoted")

    def kill_master(self, master_port: int) -> int:
        """SIGKILL the master at `master_port` and wait until the cluster has promoted one of its
        replicas (after the node timeout) and serves every slot again; return its port."""
        rows = self.roles()
        master_id = next(r["id"] for r in rows if r["port"] == str(master_port))
        replicas = {r["port"] for r in rows if r["master"] == master_id}
        node = next(n for n in self.nodes if n.port == master_port)
        assert node.proc is not None
        node.proc.kill()
        node.proc.wait()
        node.proc = None
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            promoted = [
                r["port"] for r in self.roles() if r["port"] in replicas and r["role"] == "master"
            ]
            if promoted:
                self.wait_ok()
                return int(promoted[0])
            time.sleep(0.1)
        raise AssertionError(f"no replica of {master_port} was promoted")

    def wait_formed(self, masters: int, replicas: int) -> None:
        """Until the node we ask sees every master with its replicas (gossip may lag behind
        `redis-cli --cluster create`)."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            rows = self.roles()
            ids = [r["id"] for r in rows if r["role"] == "master"]
            attached = [sum(1 for r in rows if r["master"] == i) for i in ids]
            if len(ids) == masters and attached == [replicas] * masters:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Redis Cluster did not form: {rows}")
            time.sleep(0.1)

    def wait_replicas_online(self) -> None:
        """Until every master lists a replica that is online (its first sync done: the master
        waits `repl-diskless-sync-delay`, 5 s, before it starts one)."""
        deadline = time.monotonic() + READY_SECONDS
        for row in self.roles():
            if row["role"] != "master":
                continue
            with self._client(int(row["port"])) as client:
                while not client.execute_command("ROLE")[2]:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"master {row['port']} has no replica online")
                    time.sleep(0.1)

    def wait_ok(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            states = []
            for node in (n for n in self.nodes if n.proc is not None):
                with self._client(node.port) as client:
                    info = client.execute_command("CLUSTER INFO")
                text = info if isinstance(info, str) else str(info)
                states.append("cluster_state:ok" in text or "'cluster_state': 'ok'" in text)
            if all(states):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)


@contextlib.contextmanager
def redis_cluster(root: Path, masters: int = 3, replicas: int = 1) -> Iterator[RedisCluster]:
    """`masters` redis-server masters with `replicas` replicas each (append-only files), formed
    into one Redis Cluster; a node unseen for 2 s counts as failed."""
    server, cli = binary("redis-server"), binary("redis-cli")
    nodes = []
    for _ in range(masters * (1 + replicas)):
        port = free_port()
        work = root / f"redis-{port}"
        work.mkdir(parents=True)
        argv = [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(work),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",  # the bus port (port + 10000 by default: past 65535 for some)
            str(free_port()),
            "--cluster-node-timeout",
            "2000",
            "--appendonly",
            "yes",
            "--save",
            "",
        ]
        nodes.append(ServerProcess(argv, port, work))
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in nodes),
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=READY_SECONDS,
        )
        cluster = RedisCluster(nodes)
        cluster.wait_ok()
        cluster.wait_formed(masters, replicas)
        yield cluster
    finally:
        for node in nodes:
            node.stop()


@dataclass
class RedisSentinel:
    master: ServerProcess
    replica: ServerProcess
    sentinels: list[ServerProcess]
    name: str = "herald"

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.name}/0"

    async def master_port(self) -> int:
        client = aioredis.Redis(port=self.sentinels[0].port, decode_responses=True)
        try:
            _, port = await client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
            return int(port)
        finally:
            await client.aclose()


@contextlib.contextmanager
def redis_sentinel(root: Path, sentinels: int = 3) -> Iterator[RedisSentinel]:
    """A master, its replica, and `sentinels` Sentinels watching it (quorum 2; a master unseen
    for 1 s is down)."""
    server = binary("redis-server")
    procs = []
    mport, rport = free_port(), free_port()
    for port, extra in ((mport, []), (rport, ["--replicaof", "127.0.0.1", str(mport)])):
        work = root / f"redis-{port}"
        work.mkdir(parents=True)
        argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work)]
        procs.append(ServerProcess([*argv, "--save", "", *extra], port, work))
    watchers = []
    for _ in range(sentinels):
        port = free_port()
        work = root / f"sentinel-{port}"
        work.mkdir(parents=True)
        conf = work / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {work}\n"
            f"sentinel monitor herald 127.0.0.1 {mport} 2\n"
            "sentinel down-after-milliseconds herald 1000\n"
            "sentinel failover-timeout herald 5000\n"
        )
        watchers.append(ServerProcess([server, str(conf), "--sentinel"], port, work))
    try:
        for proc in [*procs, *watchers]:
            proc.start()
        yield RedisSentinel(procs[0], procs[1], watchers)
    finally:
        for proc in [*watchers, *procs]:
            proc.stop()
