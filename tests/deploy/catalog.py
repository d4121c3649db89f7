"""What the deployment files must agree on: the services, their ports (public, and internal for
the probes and metrics) and probe paths.

Written once here for the deploy tests; the values mirror DEVELOPERS.md ("Ports") and
herald.shared.probes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int

    @property
    def port_var(self) -> str:
        return f"HERALD_{self.name.upper()}_PORT"

    @property
    def internal_port(self) -> int:
        """Where the probes and metrics are (herald.shared.settings: the public port + 1000)."""
        return self.port + 1000

    @property
    def internal_port_var(self) -> str:
        return f"HERALD_{self.name.upper()}_INTERNAL_PORT"

    @property
    def package(self) -> str:
        return f"herald-{self.name}"

    @property
    def module(self) -> str:
        return f"herald.{self.name}"


SERVICES = {
    s.name: s
    for s in (
        ServiceSpec("statuspage", 8080),
        ServiceSpec("ingest", 8081),
        ServiceSpec("correlator", 8082),
        ServiceSpec("notifier", 8083),
    )
}


def workspace_services() -> set[str]:
    """The service packages present under services/ (each needs an image)."""
    return {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
