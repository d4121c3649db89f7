"""Notification channels: plan them from the configuration (secrets resolved), then open them.

A webhook whose URL is an `optional` secret that is unset is disabled, and so is an Apprise
channel none of whose URLs is set: it is skipped, and said so once at start. Apprise URLs are
checked when planning: an invalid one is a configuration error naming `channels.<id>.urls.<n>`
(never the URL, a secret).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from herald.notifier.channels.apprise import AppriseChannel, AppriseTarget, AppriseUrl, apprise_url
from herald.notifier.channels.channel import (
    MAX_SEND_SECONDS,
    Channel,
    ChannelError,
    PartialFailure,
    PermanentError,
    RetryableError,
)
from herald.notifier.channels.console import ConsoleChannel
from herald.notifier.channels.email import EmailChannel, EmailTarget
from herald.notifier.channels.smtp import DEFAULT_PORTS, SmtpSender, SmtpServer
from herald.notifier.channels.webhook import WebhookChannel, WebhookTarget
from herald.notifier.message_template import check_template
from herald.shared.config import AppriseChannel as AppriseConfig
from herald.shared.config import ConfigError, HeraldConfig, MessageTemplate
from herald.shared.config import ConsoleChannel as ConsoleConfig
from herald.shared.config import EmailChannel as EmailConfig
from herald.shared.config import WebhookChannel as WebhookConfig

__all__ = [
    "MAX_SEND_SECONDS",
    "AppriseChannel",
    "AppriseTarget",
    "AppriseUrl",
    "Channel",
    "ChannelError",
    "ChannelPlan",
    "ConsoleChannel",
    "EmailChannel",
    "EmailTarget",
    "PartialFailure",
    "PermanentError",
    "RetryableError",
    "SmtpSender",
    "SmtpServer",
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
    apprise: Mapping[str, AppriseTarget] = field(default_factory=dict)
    emails: Mapping[str, EmailTarget] = field(default_factory=dict)
    disabled: Mapping[str, str] = field(default_factory=dict)
    """Channel id -> why it is disabled (safe to log)."""
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Channel id -> which of its optional Apprise URLs are unset, the others being sent (safe
    to log)."""


class _Planner:
    """Collects the plan and every problem (each names where it is), channel by channel."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.console: list[str] = []
        self.webhooks: dict[str, WebhookTarget] = {}
        self.apprise: dict[str, AppriseTarget] = {}
        self.emails: dict[str, EmailTarget] = {}
        self.disabled: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.problems: list[str] = []

    def template(self, cid: str, template: MessageTemplate | None) -> None:
        if template is None:
            return
        for part in ("title", "body"):
            source = getattr(template, part)
            problem = check_template(source) if source else None
            if problem:
                self.problems.append(f"channels.{cid}.template.{part}: {problem}")

    def email(self, cid: str, ch: EmailConfig) -> None:
        try:
            username = ch.username.resolve(self.env) if ch.username is not None else None
            password = ch.password.resolve(self.env) if ch.password is not None else None
        except ValueError as exc:
            self.problems.append(f"channels.{cid}: {exc}")
            return
        server = SmtpServer(
            host=ch.host,
            port=ch.port or DEFAULT_PORTS[ch.security],
            security=ch.security,
            username=username,
            password=password,
            ca_file=ch.ca_file,
            timeout_seconds=ch.timeout_seconds,
        )
        self.emails[cid] = EmailTarget(server, ch.from_, ch.to, ch.template)

    def webhook(self, cid: str, ch: WebhookConfig) -> None:
        try:
            url = ch.url.resolve(self.env)
            headers = {name: ref.resolve(self.env) for name, ref in ch.headers.items()}
            secret = ch.secret.resolve(self.env) if ch.secret is not None else None
        except ValueError as exc:
            self.problems.append(f"channels.{cid}: {exc}")
            return
        if url is None:
            self.disabled[cid] = f"url from {ch.url.describe()} is not set"
            return
        self.webhooks[cid] = WebhookTarget(
            url=url,
            headers={name: value for name, value in headers.items() if value is not None},
            timeout_seconds=ch.timeout_seconds,
            secret=secret.encode() if secret else None,
            max_redirects=ch.max_redirects,
            template=ch.template,
        )

    def apprise_channel(self, cid: str, ch: AppriseConfig) -> None:
        urls: list[AppriseUrl] = []
        unset: list[str] = []
        failed = False
        for n, ref in enumerate(ch.urls):
            where = f"channels.{cid}.urls.{n}"
            try:
                url = ref.resolve(self.env)
                if url is None:
                    unset.append(f"urls.{n} from {ref.describe()}")
                    continue
                urls.append(apprise_url(n, url))
            except ValueError as exc:
                self.problems.append(f"{where}: {exc}")
                failed = True
        if failed:
            return
        if not urls:
            self.disabled[cid] = f"no URL is set ({', '.join(unset)} not set)"
            return
        if unset:
            self.skipped[cid] = f"{', '.join(unset)} not set"
        self.apprise[cid] = AppriseTarget(tuple(urls), ch.timeout_seconds, ch.template)

    def plan(self) -> ChannelPlan:
        if self.problems:
            raise ConfigError("cannot set up channels:\n  " + "\n  ".join(self.problems))
        return ChannelPlan(
            console=tuple(self.console),
            webhooks=self.webhooks,
            apprise=self.apprise,
            emails=self.emails,
            disabled=self.disabled,
            skipped=self.skipped,
        )


def plan_channels(config: HeraldConfig, environ: Mapping[str, str] | None = None) -> ChannelPlan:
    """Resolve every channel's secrets and check Apprise URLs; ConfigError names each one that
    cannot be used (`channels.<id>` or `channels.<id>.urls.<n>`), never a secret."""
    planner = _Planner(dict(os.environ if environ is None else environ))
    for cid, ch in config.channels.items():
        planner.template(cid, ch.template)
        if isinstance(ch, ConsoleConfig):
            planner.console.append(cid)
        elif isinstance(ch, WebhookConfig):
            planner.webhook(cid, ch)
        elif isinstance(ch, EmailConfig):
            planner.email(cid, ch)
        else:
            planner.apprise_channel(cid, ch)
    return planner.plan()


def open_channels(plan: ChannelPlan, http: httpx.AsyncClient) -> dict[str, Channel]:
    """The enabled channels by id; webhooks share `http` (owned by the caller)."""
    channels: dict[str, Channel] = {cid: ConsoleChannel(cid) for cid in plan.console}
    for cid, target in plan.webhooks.items():
        channels[cid] = WebhookChannel(cid, target, http)
    for cid, apprise_target in plan.apprise.items():
        channels[cid] = AppriseChannel(cid, apprise_target)
    for cid, email_target in plan.emails.items():
        channels[cid] = EmailChannel(cid, email_target)
    return channels
