"""Redis key names. Every key of one service shares the hash tag `{service}` so that one
atomic step (MULTI/EXEC or a Lua script) over them works on Redis Cluster too."""

from __future__ import annotations

PREFIX = "herald"


def service_key(service: str, part: str) -> str:
    """`herald:{payments-api}:part`."""
    return f"{PREFIX}:{{{service}}}:{part}"


def status_key(service: str) -> str:
    """The public ServiceStatus projection of one service (JSON), read by the status page."""
    return service_key(service, "status")


UNROUTED = "_unrouted"
"""Pseudo-service under which alerts that match no configured service are kept."""


def component_created_key(service: str) -> str:
    """When the service's component first appeared on a status page (ISO 8601, set once with
    SET NX by the status page: the Statuspage `created_at` of the component)."""
    return service_key(service, "component_created_at")
