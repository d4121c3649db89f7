"""Real NATS (JetStream) and Redis servers for the tests.

Order of preference (see README, "Tests"):
1. start our own `nats-server -js` / `redis-server` on free loopback ports (clean, isolated,
   and fault tests can stop them);
2. else use NATS_URL / REDIS_URL;
3. else testcontainers when a Docker engine answers;
4. else fail, saying what to install.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from devstack.infrastructure import find_binary, nats_argv, redis_argv, wait_listening
from devstack.processes import INTERNAL_PORTS, SERVICES, service_env
from herald.shared.settings import Settings

INSTALL_HINT = (
    "Integration tests need real NATS JetStream and Redis. Install the servers "
    "(Debian/Ubuntu: `sudo apt-get install nats-server redis-server`), or set NATS_URL and "
    "REDIS_URL to running ones, or run a Docker engine for testcontainers."
)


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now, and never one this process was given before: the kernel may give a
    closed port again at once, and two of a stack's ports were once the same (a correlator's
    public and internal port: it refused to start)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


@dataclass
class ServerProcess:
    """A server we started; `stop()`/`start()` let fault tests take it away and bring it back."""

    argv: list[str]
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> None:
        log = (self.workdir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        wait_listening(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def nats_process(workdir: Path) -> ServerProcess | None:
    binary = find_binary("nats-server")
    if binary is None:
        return None
    port = free_port()
    store = workdir / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    return ServerProcess(argv=nats_argv(binary, port, store), port=port, workdir=workdir)


def redis_process(workdir: Path) -> ServerProcess | None:
    binary = find_binary("redis-server")
    if binary is None:
        return None
    port = free_port()
    argv = redis_argv(binary, port, workdir, persist=False)
    return ServerProcess(argv=argv, port=port, workdir=workdir)


@dataclass
class Infra:
    nats_url: str
    redis_url: str
    nats: ServerProcess | None = None
    redis: ServerProcess | None = None

    def settings(self, log_format: str = "text") -> Settings:
        """A service's settings pointing at these servers (port 0: tests bind their own)."""
        return Settings(
            nats_url=self.nats_url,
            redis_url=self.redis_url,
            config_path="",
            host="127.0.0.1",
            port=0,
            log_level="INFO",
            log_format=log_format,
        )

    def stack_env(self, config: str | Path, **extra: str) -> dict[str, str]:
        """Environment for devstack's Stack: these servers, `config`, every port free."""
        env = service_env(os.environ, self.nats_url, self.redis_url, str(config))
        for _, var, _ in (*SERVICES, *INTERNAL_PORTS):
            env[var] = str(free_port())
        env.update(extra)
        return env

    @property
    def owned(self) -> bool:
        """True when both servers are ours, so tests may wipe and stop them."""
        return self.nats is not None and self.redis is not None


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-not-found]

        docker.from_env().ping()
        return True
    except Exception:
        return False


@contextmanager
def real_infra() -> Iterator[Infra]:
    """Yield running NATS + Redis following the order of preference above."""
    with tempfile.TemporaryDirectory(prefix="herald-test-") as tmp:
        root = Path(tmp)
        (root / "nats").mkdir()
        (root / "redis").mkdir()
        nats = nats_process(root / "nats")
        redis = redis_process(root / "redis")
        if nats is not None and redis is not None:
            nats.start()
            try:
                redis.start()
            except Exception:
                nats.stop()
                raise
            try:
                yield Infra(
                    f"nats://127.0.0.1:{nats.port}",
                    f"redis://127.0.0.1:{redis.port}/0",
                    nats,
                    redis,
                )
            finally:
                nats.stop()
                redis.stop()
            return
        env_nats, env_redis = os.environ.get("NATS_URL"), os.environ.get("REDIS_URL")
        if env_nats and env_redis:
            yield Infra(env_nats, env_redis)
            return
        if _docker_available():
            with _containers() as infra:
                yield infra
            return
        raise RuntimeError(INSTALL_HINT)


@contextmanager
def _containers() -> Iterator[Infra]:  # pragma: no cover - only where a Docker engine exists
    from testcontainers.core.container import DockerContainer  # type: ignore[import-not-found]
    from testcontainers.redis import RedisContainer  # type: ignore[import-not-found]

    with (
        DockerContainer("nats:2.10").with_command("-js").with_exposed_ports(4222) as n,
        RedisContainer("redis:7") as r,
    ):
        nurl = f"nats://{n.get_container_host_ip()}:{n.get_exposed_port(4222)}"
        rurl = f"redis://{r.get_container_host_ip()}:{r.get_exposed_port(6379)}/0"
        with suppress(Exception):
            wait_listening(int(n.get_exposed_port(4222)), None)
        yield Infra(nurl, rurl)
