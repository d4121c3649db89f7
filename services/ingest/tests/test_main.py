"""`python -m herald.ingest` as a process: config errors exit 2; SIGTERM shuts down cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devstack.infrastructure import wait_listening
from tests.infra import Infra, free_port

from .payloads import alert, message

CONFIG = """
integrations:
  am:
    token: {env: INGEST_TEST_TOKEN}
"""


def run_ingest(env: dict[str, str]) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HERALD_", "NATS_"))}
    full.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "herald.ingest"],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HERALD_CONFIG": "/nonexistent/herald.yaml"}, "/nonexistent/herald.yaml"),
        ({"HERALD_INGEST_MAX_BODY": "big"}, "HERALD_INGEST_MAX_BODY"),
        ({"HERALD_INGEST_PORT": "99999"}, "HERALD_INGEST_PORT"),
    ],
)
def test_configuration_errors_exit_2(env: dict[str, str], expected: str) -> None:
    proc = run_ingest(env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert expected in err.decode()


def test_unresolvable_token_exits_2_naming_where(tmp_path: Path) -> None:
    cfg = tmp_path / "herald.yaml"
    cfg.write_text(CONFIG)
    proc = run_ingest({"HERALD_CONFIG": str(cfg)})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "integrations.am" in err.decode()
    assert "INGEST_TEST_TOKEN" in err.decode()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll the internal port's /readyz until 200 (NATS connected): start-up, not an assertion
    on time. Both sockets listen before the lifespan has run, so listening is not ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"ingest not ready at {url} (exit code {proc.poll()})")


@pytest.mark.integration
def test_serves_and_stops_cleanly_on_sigterm(infra: Infra, tmp_path: Path) -> None:
    cfg = tmp_path / "herald.yaml"
    cfg.write_text(CONFIG)
    port, internal = free_port(), free_port()
    proc = run_ingest(
        {
            "HERALD_CONFIG": str(cfg),
            "INGEST_TEST_TOKEN": "process-token",
            "NATS_URL": infra.nats_url,
            "HERALD_INGEST_PORT": str(port),
            "HERALD_INGEST_INTERNAL_PORT": str(internal),
        }
    )
    try:
        wait_listening(port, None)
        wait_ready(f"http://127.0.0.1:{internal}/readyz", proc)
        resp = httpx.post(
            f"http://127.0.0.1:{port}/hooks/inbound/process-token",
            json=message(alert()),
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["alerts"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    # uvicorn shuts down gracefully (lifespan included), then re-raises the signal it caught.
    assert proc.returncode in (0, -signal.SIGTERM)
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    messages = [line["msg"] for line in lines]
    assert "webhook stored" in messages
    assert "ingest stopped" in messages
    assert "process-token" not in err.decode()
