"""NATS JetStream and Redis for `make run`: reuse running ones, else start local servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

APT_PACKAGES = {"nats-server": "nats-server", "redis-server": "redis-server"}


class InfrastructureError(RuntimeError):
    """Cannot get NATS or Redis; the message says what to install or set."""


def answers(url: str, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at the URL's host:port (the first of a
    list: `nats://a:4222,nats://b:4222`, `redis+cluster://a:6379,b:6379`)."""
    first = url.split(",")[0]
    parsed = urlparse(first)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or (4222 if parsed.scheme == "nats" else 6379)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"):
        candidate = Path(d) / name
        if candidate.exists():
            return str(candidate)
    return None


def install_binary(name: str) -> str:
    """Find `name`, installing its Debian package when we can (root + apt-get)."""
    found = find_binary(name)
    if found:
        return found
    package = APT_PACKAGES[name]
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"[stack] {name} is missing: installing the Debian package {package}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False, env=env)
        found = find_binary(name)
        if found:
            return found
    raise InfrastructureError(
        f"{name} is not installed. Install it (Debian/Ubuntu: sudo apt-get install {package}), "
        f"or point {'NATS_URL' if 'nats' in name else 'REDIS_URL'} at a running server, "
        "or use `docker compose up`."
    )


def wait_listening(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """Block until something accepts on 127.0.0.1:port (start-up of a server we launched)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise InfrastructureError(f"server exited with code {proc.returncode}; see its log")
        if answers(f"tcp://127.0.0.1:{port}"):
            return
        time.sleep(0.05)
    raise InfrastructureError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Infrastructure:
    nats_url: str
    redis_url: str
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def nats_argv(binary: str, port: int, store: Path) -> list[str]:
    """`nats-server` with JetStream on loopback, its data under `store`."""
    return [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]


def redis_argv(binary: str, port: int, store: Path, *, persist: bool) -> list[str]:
    """`redis-server` on loopback; `persist` keeps an append-only file under `store`."""
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(store)]
    if persist:
        return [*argv, "--appendonly", "yes"]
    return [*argv, "--save", "", "--appendonly", "no"]


def _start_local(name: str, url: str, data_dir: Path, default_port: int) -> subprocess.Popen[bytes]:
    port = urlparse(url).port or default_port
    store = data_dir / name
    store.mkdir(parents=True, exist_ok=True)
    binary = install_binary(f"{name}-server")
    argv = (
        nats_argv(binary, port, store)
        if name == "nats"
        else redis_argv(binary, port, store, persist=True)
    )
    log = (data_dir / f"{name}.log").open("ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, proc)
    except BaseException:
        proc.kill()
        raise
    print(f"[stack] started {name}-server on {url} (data in {store})", flush=True)
    return proc


def provide(data_dir: Path, env: dict[str, str]) -> Infrastructure:
    """NATS/Redis at NATS_URL/REDIS_URL (or the defaults) when they answer, else local servers."""
    infra = Infrastructure(
        env.get("NATS_URL") or "nats://127.0.0.1:4222",
        env.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
    )
    try:
        for name, url, default_port in (
            ("nats", infra.nats_url, 4222),
            ("redis", infra.redis_url, 6379),
        ):
            if answers(url):
                print(f"[stack] using {name} at {url}", flush=True)
            else:
                infra.started.append(_start_local(name, url, data_dir, default_port))
    except BaseException:
        infra.stop()
        raise
    return infra
