"""`make run`: NATS + Redis (reused or started), the four services, prefixed logs, Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from devstack.infrastructure import InfrastructureError, provide
from devstack.processes import Stack, service_env

ROOT = Path(__file__).resolve().parent.parent


async def run(config: str) -> int:
    try:
        infra = provide(ROOT / ".run", dict(os.environ))
    except InfrastructureError as exc:
        print(f"[stack] {exc}", file=sys.stderr)
        return 2
    env = service_env(os.environ, infra.nats_url, infra.redis_url, config)
    admin_token = env.setdefault("HERALD_DEMO_ADMIN_TOKEN", "demo-admin-token")
    stack = Stack(env)
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
        token = os.environ.get("HERALD_DEMO_TOKEN") or "demo-token"
        ingest = stack.url("ingest")
        print(
            "\n[stack] Herald is running (Ctrl-C stops everything):\n"
            f"[stack]   status page   {stack.url('statuspage')}/\n"
            f"[stack]   JSON API      {stack.url('statuspage')}/api/v2/summary.json\n"
            f"[stack]   live events   {stack.url('statuspage')}/events\n"
            f"[stack]   webhook       {ingest}/hooks/inbound/<token>  (config: {config})\n"
            f"[stack]   try:          curl -XPOST {ingest}/hooks/inbound/{token} "
            "-H 'Content-Type: application/json' -d @examples/alerts/crashloop-firing.json\n"
            f"[stack]   admin API     {ingest}/api/v1  (docs/admin-openapi.yaml; token "
            "`demo` from HERALD_DEMO_ADMIN_TOKEN)\n"
            f"[stack]   try:          export HERALD_API_URL={ingest} "
            f"HERALD_API_TOKEN={admin_token}\n"
            "[stack]                 uv run herald incident open --service <id> --title "
            "'Checkout errors' && uv run herald incident list\n",
            flush=True,
        )
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
