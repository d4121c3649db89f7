"""Who is told about a service's incidents: its on-call target and that target's channels (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from herald.shared.config import HeraldConfig


@dataclass(frozen=True)
class Target:
    """An on-call target of the configuration, resolved."""

    id: str
    name: str
    channels: tuple[str, ...]
    """Channel ids, in configuration order, without repeats."""


def resolve_target(config: HeraldConfig, service_id: str) -> Target | None:
    """The on-call target paged for `service_id`; None when the service is unknown or has none."""
    svc = config.services.get(service_id)
    if svc is None or svc.oncall is None:
        return None
    oncall = config.oncall.get(svc.oncall)
    if oncall is None:  # the config validator forbids this; stay total anyway
        return None
    return Target(
        id=svc.oncall,
        name=oncall.name or svc.oncall,
        channels=tuple(dict.fromkeys(oncall.channels)),
    )
