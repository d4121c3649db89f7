"""The load generator when wrk is not installed: N keep-alive HTTP/1.1 connections on raw
asyncio sockets (uvloop when available), each sending its next request as soon as the previous
response arrived, as wrk does. It runs as a process of its own, so it does not share the event
loop, nor a CPU it can avoid, with the servers under test.

    python -m bench.http_load URL PATH ALERTS TAG CONNECTIONS SECONDS   # prints one JSON line
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict
from urllib.parse import urlsplit

from bench.load_result import LoadResult
from bench.webhook_bodies import Bodies


class Counter:
    def __init__(self) -> None:
        self.next = 0
        self.requests = 0
        self.non_2xx = 0
        self.errors = 0


async def _connection(
    host: str, port: int, path: str, bodies: Bodies, counter: Counter, until: float
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    try:
        while time.perf_counter() < until:
            counter.next += 1
            body = bodies.body(counter.next)
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            parts = status_line.split()
            counter.requests += 1
            if len(parts) < 2 or not parts[1].startswith(b"2"):
                counter.non_2xx += 1
    except (OSError, asyncio.IncompleteReadError):
        counter.errors += 1
    finally:
        writer.close()


async def run_load(
    url: str, path: str, bodies: Bodies, connections: int, seconds: float
) -> LoadResult:
    split = urlsplit(url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    counter = Counter()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_connection(host, port, path, bodies, counter, until) for _ in range(connections))
    )
    return LoadResult(
        counter.requests,
        time.perf_counter() - started,
        counter.errors,
        counter.non_2xx,
        tool="python",
    )


async def run(url: str, path: str, bodies: Bodies, connections: int, seconds: float) -> LoadResult:
    """This module as a process (see the module's docstring), its result."""
    alerts = len(bodies.parts) - 1
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.http_load",
        url,
        path,
        str(alerts),
        bodies.tag,
        str(connections),
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench.http_load failed: {err.decode()[-500:]}")
    return LoadResult(**json.loads(out.decode().strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    url, path, alerts, tag, connections, seconds = argv
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(
        run_load(url, path, Bodies.of(int(alerts), tag), int(connections), float(seconds))
    )
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
