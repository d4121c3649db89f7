"""`make run`: NATS + Redis (reused or started), the four services, prefixed logs, Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from devstack.infrastructure import InfrastructureError, provide
from devstack.processes import Stack, service_env

ROOT = Path(__file__).resolve().parent.parent


DEMO_ADMIN_TOKEN_VAR = "HERALD_DEMO_ADMIN_TOKEN"  # noqa: S105 (a variable name)
DEMO_ADMIN_TOKEN = "demo-admin-token"  # noqa: S105 (the documented demo value)
"""The admin token `make run` gives ingest (as the token named `demo`) unless
HERALD_DEMO_ADMIN_TOKEN says otherwise."""


def demo_env(base: Mapping[str, str], nats_url: str, redis_url: str, config: str) -> dict[str, str]:
    """The services' environment under `make run`: with a demo admin token, so that the admin API
    and the `herald` CLI work out of the box (an empty HERALD_DEMO_ADMIN_TOKEN counts as unset)."""
    env = service_env(base, nats_url, redis_url, config)
    env[DEMO_ADMIN_TOKEN_VAR] = env.get(DEMO_ADMIN_TOKEN_VAR) or DEMO_ADMIN_TOKEN
    return env


def banner(stack: Stack, config: str) -> str:
    """What `make run` prints once the stack is ready: where everything is and how to call it."""
    token = stack.env.get("HERALD_DEMO_TOKEN") or "demo-token"
    ingest, page = stack.url("ingest"), stack.url("statuspage")
    return (
        "\n[stack] Herald is running (Ctrl-C stops everything):\n"
        f"[stack]   status page   {page}/\n"
        f"[stack]   JSON API      {page}/api/v2/summary.json\n"
        f"[stack]   live events   {page}/events\n"
        f"[stack]   webhook       {ingest}/hooks/inbound/<token>  (config: {config})\n"
        f"[stack]   try:          curl -XPOST {ingest}/hooks/inbound/{token} "
        "-H 'Content-Type: application/json' -d @examples/alerts/crashloop-firing.json\n"
        f"[stack]   admin API     {ingest}/api/v1  (docs/admin-openapi.yaml; token "
        f"`demo` from {DEMO_ADMIN_TOKEN_VAR})\n"
        f"[stack]   try:          export HERALD_API_URL={ingest} "
        f"HERALD_API_TOKEN={stack.env[DEMO_ADMIN_TOKEN_VAR]}\n"
        "[stack]                 uv run herald incident open --service <id> --title "
        "'Checkout errors' && uv run herald incident list\n"
        "[stack]   probes, metrics (internal ports): "
        + "  ".join(f"{n} {stack.internal_url(n)}/metrics" for n, _ in stack.instances())
        + "\n"
    )


async def run(config: str) -> int:
    try:
        infra = provide(ROOT / ".run", dict(os.environ))
    except InfrastructureError as exc:
        print(f"[stack] {exc}", file=sys.stderr)
        return 2
    stack = Stack(demo_env(os.environ, infra.nats_url, infra.redis_url, config))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
        try:
            await stack.wait_ready()
        except RuntimeError as exc:
            print(f"[stack] {exc}", file=sys.stderr)
            return 1
        print(banner(stack, config), flush=True)
        exited = [asyncio.create_task(p.wait()) for p in stack.procs.values()]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *exited], return_when=asyncio.FIRST_COMPLETED)
        if stopper not in done:
            print("[stack] a service exited; stopping the others", file=sys.stderr)
        for task in [stopper, *exited]:
            task.cancel()
        return 0 if stopper in done else 1
    finally:
        print("[stack] stopping services...", flush=True)
        await stack.stop()
        infra.stop()
        print("[stack] stopped", flush=True)


def main() -> None:
    config = str(
        Path(os.environ.get("HERALD_CONFIG") or ROOT / "examples" / "herald.yaml").resolve()
    )
    sys.exit(asyncio.run(run(config)))


if __name__ == "__main__":
    main()
