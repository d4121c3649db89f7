"""Notification channels: plan them from the configuration (secrets resolved), then open them.

A webhook whose URL is an `optional` secret that is unset is disabled: it is skipped, and said
so once at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from herald.notifier.channels.channel import (
    MAX_SEND_SECONDS,
    Channel,
    ChannelError,
    PermanentError,
    RetryableError,
)
from herald.notifier.channels.console import ConsoleChannel
from herald.notifier.channels.webhook import WebhookChannel, WebhookTarget
from herald.shared.config import ConfigError, HeraldConfig
from herald.shared.config import ConsoleChannel as ConsoleConfig

__all__ = [
    "MAX_SEND_SECONDS",
    "Channel",
    "ChannelError",
    "ChannelPlan",
    "ConsoleChannel",
    "PermanentError",
    "RetryableError",
    "WebhookChannel",
    "WebhookTarget",
    "open_channels",
    "plan_channels",
]


@dataclass(frozen=True)
class ChannelPlan:
    """The configured channels, ready to open."""

    console: tuple[str, ...] = ()
    webhooks: Mapping[str, WebhookTarget] = field(default_factory=dict)
    disabled: Mapping[str, str] = field(default_factory=dict)
    """Channel id -> why it is disabled (safe to log)."""


def plan_channels(config: HeraldConfig, environ: Mapping[str, str] | None = None) -> ChannelPlan:
    """Resolve every channel's secrets; ConfigError names each one that cannot be resolved."""
    env = dict(os.environ if environ is None else environ)
    console: list[str] = []
    webhooks: dict[str, WebhookTarget] = {}
    disabled: dict[str, str] = {}
    problems: list[str] = []
    for cid, ch in config.channels.items():
        if isinstance(ch, ConsoleConfig):
            console.append(cid)
            continue
        try:
            url = ch.url.resolve(env)
            headers = {name: ref.resolve(env) for name, ref in ch.headers.items()}
        except ValueError as exc:
            problems.append(f"channels.{cid}: {exc}")
            continue
        if url is None:
            disabled[cid] = f"url from {ch.url.describe()} is not set"
            continue
        webhooks[cid] = WebhookTarget(
            url=url,
            headers={name: value for name, value in headers.items() if value is not None},
            timeout_seconds=ch.timeout_seconds,
        )
    if problems:
        raise ConfigError("cannot resolve channel secrets:\n  " + "\n  ".join(problems))
    return ChannelPlan(console=tuple(console), webhooks=webhooks, disabled=disabled)


def open_channels(plan: ChannelPlan, http: httpx.AsyncClient) -> dict[str, Channel]:
    """The enabled channels by id; webhooks share `http` (owned by the caller)."""
    channels: dict[str, Channel] = {cid: ConsoleChannel(cid) for cid in plan.console}
    for cid, target in plan.webhooks.items():
        channels[cid] = WebhookChannel(cid, target, http)
    return channels
