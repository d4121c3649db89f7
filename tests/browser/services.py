"""The four Herald services as processes for the browser tests (as `make run` and tests/e2e run
them), with what these tests do to them: post Alertmanager webhooks, stop and restart one."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from devstack.processes import Stack
from tests.infra import Infra

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "alerts"
TOKEN = "browser-token"


def stack_for(infra: Infra) -> Stack:
    """The stack on free ports, with the example config and its webhook token set to TOKEN."""
    env = infra.stack_env(ROOT / "examples" / "herald.yaml", HERALD_DEMO_TOKEN=TOKEN)
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
