"""The stack as processes (as `make run` runs it), with the example config and a stand-in pager;
or with the configuration the shipped Alertmanager routing sends to, behind a real Alertmanager."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.processes import Stack
from herald.shared.config import HeraldConfig
from tests.e2e.prometheus import integrations, routing, servers
from tests.e2e.prometheus.relay import WebhookRelay
from tests.infra import Infra
from tests.receiver import Receiver

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "herald.yaml"
WEBHOOK_TOKEN = "e2e-token"
"""The example integration's token in these tests (HERALD_DEMO_TOKEN)."""


@pytest.fixture
async def pager() -> AsyncIterator[Receiver]:
    """A real HTTP endpoint the example's webhook channel pages (HERALD_DEMO_PAGER_URL)."""
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def stack(infra: Infra, pager: Receiver) -> AsyncIterator[Stack]:
    env = infra.stack_env(
        EXAMPLE_CONFIG, HERALD_DEMO_TOKEN=WEBHOOK_TOKEN, HERALD_DEMO_PAGER_URL=pager.url
    )
    async with Stack(env, out=sys.stderr) as running:
        yield running


# --- Herald behind a real Alertmanager with the shipped routing (test_prometheus.py,
# test_alert_lifecycle.py) ------------------------------------------------------------------


@pytest.fixture
def binaries() -> None:
    """Fail (never skip) before starting anything when a binary is missing."""
    try:
        servers.binary("prometheus")
        servers.binary("promtool")
        servers.binary("prometheus-alertmanager", "alertmanager")
        servers.binary("amtool")
    except servers.MissingBinary as exc:
        pytest.fail(str(exc))


@pytest.fixture
def herald_config(tmp_path: Path) -> tuple[Path, HeraldConfig]:
    """examples/herald.yaml with the two integrations deploy/alertmanager routes to."""
    return integrations.write_config(tmp_path)


@pytest.fixture
async def routed_stack(
    binaries: None, infra: Infra, pager: Receiver, herald_config: tuple[Path, HeraldConfig]
) -> AsyncIterator[Stack]:
    """The stack as `herald_config` configures it (the `stack` fixture runs the example)."""
    env = infra.stack_env(herald_config[0], **integrations.secrets_env(pager.url))
    async with Stack(env, out=sys.stderr) as running:
        yield running


@pytest.fixture
async def relay(routed_stack: Stack) -> AsyncIterator[WebhookRelay]:
    async with WebhookRelay(routed_stack.url("ingest")) as r:
        yield r


@pytest.fixture
async def alertmanager(relay: WebhookRelay, tmp_path: Path) -> AsyncIterator[servers.Monitor]:
    """Alertmanager with deploy/alertmanager/alertmanager.yml, group_wait/group_interval 1s,
    sending to Herald's ingest through the relay."""
    workdir = tmp_path / "alertmanager"
    workdir.mkdir()
    adapted = routing.adapt(
        routing.load_routing(integrations.ROUTING),
        relay_url=relay.url,
        tokens=integrations.TOKENS,
        secrets_dir=workdir / "secrets",
        credentials=integrations.BEARER,
    )
    monitor = servers.alertmanager(routing.dump(adapted, workdir / "alertmanager.yml"), workdir)
    await monitor.start()
    try:
        yield monitor
    finally:
        monitor.stop()
        print(f"--- alertmanager log (tail)\n{servers.log_tail(workdir)}", file=sys.stderr)
