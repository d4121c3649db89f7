"""The four Herald services as processes for the browser tests (as `make run` and tests/e2e run
them), with what these tests do to them: post Alertmanager webhooks, stop and restart one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from devstack.processes import Stack
from tests.infra import Infra

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "alerts"
TOKEN = "browser-token"
ADMIN_TOKEN = "browser-admin-token"


def stack_for(infra: Infra, **extra: str) -> Stack:
    """The stack on free ports, with the example config and its webhook token set to TOKEN
    (`extra`: more environment, e.g. the status page's options)."""
    env = infra.stack_env(
        ROOT / "examples" / "herald.yaml",
        HERALD_DEMO_TOKEN=TOKEN,
        HERALD_DEMO_ADMIN_TOKEN=ADMIN_TOKEN,
        **extra,
    )
    env.pop("HERALD_DEMO_PAGER_URL", None)
    return Stack(env, out=sys.stderr)


def example_alert(name: str) -> dict[str, Any]:
    """An Alertmanager webhook payload from examples/alerts/."""
    payload: dict[str, Any] = json.loads((ALERTS / name).read_text())
    return payload


async def post_alert(stack: Stack, payload: dict[str, Any]) -> None:
    """POST a webhook to ingest; a 200 means JetStream stored every alert in it."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(f"{stack.url('ingest')}/hooks/inbound/{TOKEN}", json=payload)
    assert response.status_code == 200, response.text


def alert_now(name: str, starts_at: datetime, ends_at: datetime | None = None) -> dict[str, Any]:
    """An example webhook (examples/alerts/) whose alerts start at `starts_at` (and end at
    `ends_at`): today's uptime bar and the reopen window go by event time."""
    payload = example_alert(name)
    for alert in payload["alerts"]:
        alert["startsAt"] = starts_at.isoformat().replace("+00:00", "Z")
        if ends_at is not None:
            alert["endsAt"] = ends_at.isoformat().replace("+00:00", "Z")
    return payload


async def herald(stack: Stack, *args: str) -> str:
    """Run the `herald` CLI (a process, as an operator does) against the stack's admin API with
    the demo admin token; its output (it must succeed)."""
    env = dict(os.environ, HERALD_API_URL=stack.url("ingest"), HERALD_API_TOKEN=ADMIN_TOKEN)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"herald {' '.join(args)}: {err.decode()}"
    return out.decode()


async def stop_service(stack: Stack, name: str) -> None:
    proc = stack.procs[name]
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(proc.wait(), 15)
    assert code in (0, -signal.SIGTERM), f"{name} exited with {code}"


async def start_service(stack: Stack, name: str) -> None:
    """Start `name` again on its port; `stack.stop()` stops it (its output goes to the test's
    captured output)."""
    await stack.start_service(name)
    await stack.wait_ready()
