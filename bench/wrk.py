"""The load generator when `wrk` is installed (Debian's `wrk` package): C, one thread, N
keep-alive connections, so it takes little of the CPU the servers under test need.

Each request gets a new body through a Lua `request()` (the template of bench.webhook_bodies
joined with a fresh id), and `done()` prints the summary as one JSON line, so nothing parses
wrk's human output.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path

from bench.load_result import LoadResult
from bench.webhook_bodies import ID_DIGITS, Bodies

SUMMARY_PREFIX = "BENCH-SUMMARY "


def available() -> str | None:
    return shutil.which("wrk")


def _lua_string(data: bytes) -> str:
    """`data` as a Lua long-bracket literal whose level it does not contain."""
    text = data.decode()
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    # A long bracket drops a newline right after the opening: JSON bodies have none to lose.
    return f"[{eq}[{text}]{eq}]"


def script(bodies: Bodies, path: str) -> str:
    """The Lua script: POST `path`, each request the next body, a JSON summary at the end."""
    parts = ", ".join(_lua_string(p) for p in bodies.parts)
    return f"""
local parts = {{{parts}}}
local tag = {_lua_string(bodies.tag.encode())}
local counter = 0
local headers = {{["Content-Type"] = "application/json"}}
request = function()
  counter = counter + 1
  local id = tag .. string.format("%0{ID_DIGITS}x", counter)
  return wrk.format("POST", {_lua_string(path.encode())}, headers, table.concat(parts, id))
end
done = function(summary, latency, requests)
  io.write(string.format(
    '{SUMMARY_PREFIX}{{"requests": %d, "seconds": %f, "errors": %d, "non_2xx": %d}}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    summary.errors.status))
end
"""


async def run(url: str, path: str, bodies: Bodies, connections: int, seconds: float) -> LoadResult:
    """wrk for `seconds` against `url` + `path`."""
    wrk = available()
    if wrk is None:
        raise RuntimeError("wrk is not installed")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        lua = Path(tmp) / "post.lua"
        lua.write_text(script(bodies, path), encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    for line in out.decode().splitlines():
        if line.startswith(SUMMARY_PREFIX):
            doc = json.loads(line[len(SUMMARY_PREFIX) :])
            return LoadResult(
                requests=int(doc["requests"]),
                seconds=float(doc["seconds"]),
                errors=int(doc["errors"]),
                non_2xx=int(doc["non_2xx"]),
                tool="wrk",
            )
    raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}): {err.decode()[-500:]}")
