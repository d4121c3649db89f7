"""`make run` (devstack/__main__.py) gives ingest a demo admin token and prints how to call the
admin API with it: checked without starting the stack (no NATS, Redis or service processes),
then by following what it prints with the real `herald` CLI against ingest (in process, on the
port the banner names, with `make run`'s environment)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import uvicorn

from devstack.__main__ import DEMO_ADMIN_TOKEN, banner, demo_env
from devstack.processes import Stack
from herald.ingest.app import create_app as ingest_app
from herald.shared.config import load_config
from herald.shared.events import Command, OpenIncident
from herald.shared.settings import Settings
from services.ingest.tests.memory_publisher import MemoryPublisher
from tests.loopback import listening_socket, serving

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "examples" / "herald.yaml")
NATS, REDIS = "nats://127.0.0.1:4222", "redis://127.0.0.1:6379/0"
WAIT = 20.0
"""Upper bound for the CLI process (a failure, never a timing)."""

CALL = re.compile(r"export HERALD_API_URL=(\S+) HERALD_API_TOKEN=(\S+)")


def clean_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    return env | extra


def test_the_demo_admin_token_defaults_and_can_be_chosen() -> None:
    assert demo_env(clean_environ(), NATS, REDIS, CONFIG)["HERALD_DEMO_ADMIN_TOKEN"] == (
        "demo-admin-token"
    )
    assert DEMO_ADMIN_TOKEN == "demo-admin-token"
    chosen = clean_environ(HERALD_DEMO_ADMIN_TOKEN="my-token")
    assert demo_env(chosen, NATS, REDIS, CONFIG)["HERALD_DEMO_ADMIN_TOKEN"] == "my-token"
    empty = clean_environ(HERALD_DEMO_ADMIN_TOKEN="")
    assert demo_env(empty, NATS, REDIS, CONFIG)["HERALD_DEMO_ADMIN_TOKEN"] == "demo-admin-token"


def test_the_banner_says_how_to_call_the_admin_api() -> None:
    env = demo_env(clean_environ(HERALD_INGEST_PORT="18081"), NATS, REDIS, CONFIG)
    text = banner(Stack(env), CONFIG)
    found = CALL.search(text)
    assert found is not None, text
    assert found.groups() == ("http://127.0.0.1:18081", "demo-admin-token")
    assert "uv run herald incident open --service <id>" in text
    assert "http://127.0.0.1:18081/api/v1" in text
    assert "HERALD_DEMO_ADMIN_TOKEN" in text
    chosen = demo_env(clean_environ(HERALD_DEMO_ADMIN_TOKEN="my-token"), NATS, REDIS, CONFIG)
    assert "HERALD_API_TOKEN=my-token" in banner(Stack(chosen), CONFIG)


class Commands:
    """What ingest would store on COMMANDS (kept here: the correlator is not the point)."""

    def __init__(self) -> None:
        self.stored: list[Command] = []

    async def publish(self, command: Command) -> None:
        self.stored.append(command)


async def test_what_the_banner_prints_works_with_the_herald_cli() -> None:
    sock = listening_socket()
    port = sock.getsockname()[1]
    env = demo_env(clean_environ(HERALD_INGEST_PORT=str(port)), NATS, REDIS, CONFIG)
    found = CALL.search(banner(Stack(env), CONFIG))
    assert found is not None
    url, token = found.groups()

    commands = Commands()
    # No correlator there (never its default port: another one may run on this machine).
    ingest_env = env | {"HERALD_CORRELATOR_URL": "http://127.0.0.1:9"}
    settings = Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env={})
    app = ingest_app(
        load_config(CONFIG),
        settings,
        publisher=MemoryPublisher(),
        commands=commands,  # type: ignore[arg-type]
        environ=ingest_env,
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    async with serving(server, sock):
        cli_env = clean_environ(HERALD_API_URL=url, HERALD_API_TOKEN=token)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "herald.cli",
            "incident",
            "open",
            "--service",
            "payments-api",
            "--title",
            "Checkout errors",
            env=cli_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, err.decode()
    assert "accepted: command cmd-" in out.decode()
    (command,) = commands.stored
    assert isinstance(command, OpenIncident)
    assert command.actor == "demo"
    assert (command.service, command.title) == ("payments-api", "Checkout errors")
