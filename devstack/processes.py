"""Run the four Herald services as separate processes with prefixed logs."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

SERVICES: tuple[tuple[str, str, int], ...] = (
    ("statuspage", "HERALD_STATUSPAGE_PORT", 8080),
    ("ingest", "HERALD_INGEST_PORT", 8081),
    ("correlator", "HERALD_CORRELATOR_PORT", 8082),
    ("notifier", "HERALD_NOTIFIER_PORT", 8083),
)


def ports_from(env: Mapping[str, str]) -> dict[str, int]:
    return {name: int(env.get(var) or default) for name, var, default in SERVICES}


@dataclass
class Stack:
    """The running services. `start()` then `wait_ready()`; `stop()` sends SIGTERM and waits."""

    env: dict[str, str]
    out: TextIO = sys.stdout
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    """Filled by `stop()`."""
    _pumps: list[asyncio.Task[None]] = field(default_factory=list)

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
        return ports_from(self.env)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    async def start(self) -> None:
        for name, _, _ in SERVICES:
            await self.start_service(name)

    async def start_service(self, name: str) -> None:
        """Start (or restart, after it stopped) one service with the stack's environment."""
        width = max(len(n) for n, _, _ in SERVICES)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"herald.{name}",
            env=self.env,
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
                url = f"{self.url(name)}/readyz"
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


__all__ = ["SERVICES", "Stack", "ports_from", "service_env"]
