"""Run the four Herald services as separate processes with prefixed logs."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

SERVICES: tuple[tuple[str, str, int], ...] = (
    ("statuspage", "HERALD_STATUSPAGE_PORT", 8080),
    ("ingest", "HERALD_INGEST_PORT", 8081),
    ("correlator", "HERALD_CORRELATOR_PORT", 8082),
    ("notifier", "HERALD_NOTIFIER_PORT", 8083),
)

INTERNAL_PORTS: tuple[tuple[str, str, int], ...] = (
    ("statuspage", "HERALD_STATUSPAGE_INTERNAL_PORT", 9080),
    ("ingest", "HERALD_INGEST_INTERNAL_PORT", 9081),
    ("correlator", "HERALD_CORRELATOR_INTERNAL_PORT", 9082),
    ("notifier", "HERALD_NOTIFIER_INTERNAL_PORT", 9083),
)
"""Each service's internal port: `/healthz`, `/readyz` and `/metrics` (never on the public
port)."""


def ports_from(env: Mapping[str, str]) -> dict[str, int]:
    return {name: int(env.get(var) or default) for name, var, default in SERVICES}


def internal_ports_from(env: Mapping[str, str]) -> dict[str, int]:
    return {name: int(env.get(var) or default) for name, var, default in INTERNAL_PORTS}


def unused_port() -> int:
    """A loopback port nothing listens on now (for an extra replica's internal port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def replica_name(service: str, index: int) -> str:
    """The instance name of a service's replica: `correlator`, then `correlator-2`, ..."""
    return service if index == 1 else f"{service}-{index}"


@dataclass
class Stack:
    """The running services. `start()` then `wait_ready()`; `stop()` sends SIGTERM and waits.

    One process per service, plus `extra_replicas`: more replicas of a service, given by the
    port each extra one listens on (`{"correlator": [port]}` runs `correlator` and
    `correlator-2`). Every replica gets the stack's environment with its own port, and its
    own internal port (probes and metrics: `internal_url`), chosen free."""

    env: dict[str, str]
    out: TextIO = sys.stdout
    extra_replicas: Mapping[str, Sequence[int]] = field(default_factory=dict)
    only: Sequence[str] = ()
    """Run only these services (every one when empty): a test of one service's processes."""
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    """Filled by `stop()`."""
    _pumps: list[asyncio.Task[None]] = field(default_factory=list)
    _extra_internal: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for service, extra in self.extra_replicas.items():
            for index in range(2, len(extra) + 2):
                self._extra_internal[replica_name(service, index)] = unused_port()

    async def __aenter__(self) -> Stack:
        """Start every service and wait until all are ready; stops them if one is not."""
        await self.start()
        try:
            await self.wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def ports(self) -> dict[str, int]:
        """Port of every instance, by instance name (a service's name for its first replica)."""
        ports = ports_from(self.env)
        for service, extra in self.extra_replicas.items():
            for index, port in enumerate(extra, start=2):
                ports[replica_name(service, index)] = port
        return ports

    @property
    def internal_ports(self) -> dict[str, int]:
        """Internal port (probes, metrics) of every instance, by instance name."""
        return {**internal_ports_from(self.env), **self._extra_internal}

    def instances(self) -> list[tuple[str, str]]:
        """(instance name, service) of every process the stack runs, in start order."""
        out: list[tuple[str, str]] = []
        for service, _, _ in SERVICES:
            if self.only and service not in self.only:
                continue
            count = 1 + len(self.extra_replicas.get(service, ()))
            out.extend((replica_name(service, i), service) for i in range(1, count + 1))
        return out

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def internal_url(self, service: str) -> str:
        """Where an instance serves `/healthz`, `/readyz` and `/metrics`."""
        return f"http://127.0.0.1:{self.internal_ports[service]}"

    async def start(self) -> None:
        for name, _ in self.instances():
            await self.start_service(name)

    async def start_service(self, name: str) -> None:
        """Start (or restart, after it stopped) one instance with the stack's environment
        (an extra replica with its own port)."""
        services = dict(self.instances())
        service = services[name]
        env = self.env
        if name != service:
            var = next(v for n, v, _ in SERVICES if n == service)
            internal_var = next(v for n, v, _ in INTERNAL_PORTS if n == service)
            env = {
                **self.env,
                var: str(self.ports[name]),
                internal_var: str(self.internal_ports[name]),
            }
        width = max(len(n) for n in services)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"herald.{service}",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.procs[name] = proc
        self._pumps.append(asyncio.create_task(self._pump(name.ljust(width), proc)))

    async def _pump(self, prefix: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            self.out.write(f"{prefix} | {line.decode(errors='replace')}")
            self.out.flush()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll each service's /readyz until it answers 200 (start-up, not a test assertion)."""
        import httpx

        async with httpx.AsyncClient(timeout=1.0) as client:
            for name in self.procs:
                url = f"{self.internal_url(name)}/readyz"
                deadline = asyncio.get_running_loop().time() + timeout
                while True:
                    proc = self.procs[name]
                    if proc.returncode is not None:
                        raise RuntimeError(f"{name} exited with code {proc.returncode}")
                    try:
                        if (await client.get(url)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if asyncio.get_running_loop().time() > deadline:
                        raise RuntimeError(f"{name} not ready at {url} after {timeout}s")
                    await asyncio.sleep(0.1)

    async def kill(self, name: str) -> None:
        """SIGKILL one instance (as the kernel's OOM killer or a lost node would) and reap it;
        `start_service(name)` starts it again."""
        proc = self.procs[name]
        if proc.returncode is None:
            proc.kill()
        await proc.wait()

    async def stop(self, timeout: float = 15.0) -> dict[str, int | None]:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                codes[name] = await proc.wait()
        for pump in self._pumps:
            pump.cancel()
        self.exit_codes = codes
        return codes


def service_env(
    base: Mapping[str, str], nats_url: str, redis_url: str, config: str
) -> dict[str, str]:
    env = dict(base)
    env.update(NATS_URL=nats_url, REDIS_URL=redis_url, HERALD_CONFIG=config, PYTHONUNBUFFERED="1")
    env.setdefault("HERALD_LOG_FORMAT", "text")
    return env


__all__ = [
    "INTERNAL_PORTS",
    "SERVICES",
    "Stack",
    "internal_ports_from",
    "ports_from",
    "replica_name",
    "service_env",
]
