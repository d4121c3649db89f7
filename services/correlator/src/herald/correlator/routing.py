"""Routing: which status-page service an alert belongs to. Pure: no I/O.

`route()` evaluates the configuration. `sticky_route()` makes that decision stick to an
alert instance: once an alert (integration, fingerprint) that started at some startsAt went
to a service, every later event of that instance (duplicates, stale replays, its resolved)
goes to the same service, even after herald.yaml changed. Only a newer instance (a re-fire,
newer startsAt) is routed by the configuration again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from herald.shared.config import HeraldConfig
from herald.shared.events import AlertReceived, AlertState
from herald.shared.matchers import Matcher, matches_all


def route(labels: Mapping[str, str], config: HeraldConfig) -> str | None:
    """The first service, in config order, whose matchers all match `labels`; None when unrouted.

    A service without `matchers` matches `service="<id>"`.
    """
    plain = dict(labels)
    table = _table(config)
    candidates = list(table.always)
    for name, services in table.by_label.items():
        found = services.get(plain.get(name, ""))
        if found is not None:
            candidates.extend(found)
    for i in sorted(candidates):
        service_id, matchers = table.services[i]
        if matches_all(matchers, plain):
            return service_id
    return None


@dataclass(frozen=True)
class _Table:
    """The services with their parsed matchers, in config order, and an index that narrows
    which of them an alert can match: a service with an equality matcher `name="v"` matches
    only alerts whose label `name` is "v" (a missing label is ""), so it is looked up by its
    first such matcher; the others (`always`) are checked for every alert. The candidates are
    then checked in config order: the first that matches wins, as over the whole list."""

    services: tuple[tuple[str, tuple[Matcher, ...]], ...]
    always: tuple[int, ...]
    by_label: dict[str, dict[str, tuple[int, ...]]]

    @classmethod
    def of(cls, config: HeraldConfig) -> _Table:
        services = tuple((s, config.service_matchers(s)) for s in config.services)
        always: list[int] = []
        by_label: dict[str, dict[str, list[int]]] = {}
        for i, (_, matchers) in enumerate(services):
            key = next((m for m in matchers if m.op == "="), None)
            if key is None:
                always.append(i)
            else:
                by_label.setdefault(key.name, {}).setdefault(key.value, []).append(i)
        return cls(
            services,
            tuple(always),
            {name: {v: tuple(ix) for v, ix in values.items()} for name, values in by_label.items()},
        )


_TABLES: dict[int, tuple[HeraldConfig, _Table]] = {}


def _table(config: HeraldConfig) -> _Table:
    """The routing table of a config (built once per config: a storm routes thousands of alerts
    per second over hundreds of services, and a linear scan of every service's matchers per
    alert was a fifth of the correlator's time with 500 services)."""
    cached = _TABLES.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_TABLES) > 16:
            _TABLES.clear()
        _TABLES[id(config)] = cached = (config, _Table.of(config))
    return cached[1]


@dataclass(frozen=True)
class Route:
    """Where the instance of an alert that started at `starts_at` was sent."""

    service: str
    starts_at: datetime


@dataclass(frozen=True)
class RouteDecision:
    service: str | None
    """Where the event goes; None when it is unrouted."""
    remember: Route | None
    """The route to store (before applying the event) for the alert; None: store nothing."""
    retire: Route | None
    """The previous instance of the alert, in a service the alert has now left: it ended when
    the new one started, so it must be resolved there (see `retirement`)."""


def sticky_route(
    remembered: Route | None, starts_at: datetime, configured: str | None
) -> RouteDecision:
    """Where an alert event whose instance started at `starts_at` goes, given the alert's
    remembered route and the service the current configuration routes it to.

    An event of the remembered instance or an older one goes where the alert lives; a newer
    instance (or an alert never seen) goes where the configuration says."""
    if remembered is not None and starts_at <= remembered.starts_at:
        return RouteDecision(remembered.service, remembered, None)
    moved = remembered is not None and remembered.service != configured
    return RouteDecision(
        configured,
        None if configured is None else Route(configured, starts_at),
        remembered if moved else None,
    )


def retirement(event: AlertReceived, previous: Route) -> AlertReceived:
    """The alert event that closes the previous instance (`previous`) of `event`'s alert in the
    service it left: a resolved for the previous startsAt, ended when the new instance started
    (one alert of one integration cannot fire twice at once, and Alertmanager may never send
    the old instance's resolved once the new one replaced it)."""
    return event.model_copy(
        update={
            "event_id": f"{event.event_id}:retired",
            "status": AlertState.RESOLVED,
            "starts_at": previous.starts_at,
            "ends_at": event.starts_at,
            "occurred_at": event.starts_at,
        }
    )
