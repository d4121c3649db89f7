"""Routing: which status-page service an alert belongs to. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping

from herald.shared.config import HeraldConfig
from herald.shared.matchers import matches_all


def route(labels: Mapping[str, str], config: HeraldConfig) -> str | None:
    """The first service, in config order, whose matchers all match `labels`; None when unrouted.

    A service without `matchers` matches `service="<id>"`.
    """
    plain = dict(labels)
    for service_id in config.services:
        if matches_all(config.service_matchers(service_id), plain):
            return service_id
    return None
