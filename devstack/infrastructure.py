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
    """True when something accepts TCP connections at the URL's host:port."""
    parsed = urlparse(url)
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


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
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


def provide(data_dir: Path, env: dict[str, str]) -> Infrastructure:
    """NATS/Redis at NATS_URL/REDIS_URL (or the defaults) when they answer, else local servers."""
    nats_url = env.get("NATS_URL") or "nats://127.0.0.1:4222"
    redis_url = env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    infra = Infrastructure(nats_url, redis_url)
    try:
        if answers(nats_url):
            print(f"[stack] using NATS at {nats_url}", flush=True)
        else:
            port = urlparse(nats_url).port or 4222
            store = data_dir / "nats"
            store.mkdir(parents=True, exist_ok=True)
            argv = [
                install_binary("nats-server"),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(port),
                "-sd",
                str(store),
            ]
            log = (data_dir / "nats.log").open("ab")
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            infra.started.append(proc)
            wait_listening(port, proc)
            print(f"[stack] started nats-server -js on {nats_url} (data in {store})", flush=True)
        if answers(redis_url):
            print(f"[stack] using Redis at {redis_url}", flush=True)
        else:
            port = urlparse(redis_url).port or 6379
            store = data_dir / "redis"
            store.mkdir(parents=True, exist_ok=True)
            argv = [
                install_binary("redis-server"),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(store),
                "--appendonly",
                "yes",
            ]
            log = (data_dir / "redis.log").open("ab")
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            infra.started.append(proc)
            wait_listening(port, proc)
            print(f"[stack] started redis-server on {redis_url} (data in {store})", flush=True)
    except BaseException:
        infra.stop()
        raise
    return infra
