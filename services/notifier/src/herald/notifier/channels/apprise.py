"""The Apprise channel: tell every Apprise URL of the channel (Slack, Teams, email, PagerDuty...).

Apprise says per URL only whether the notice was delivered, not why not: every failure is
retryable (the redelivery policy bounds the retries, then gives up loudly). An invalid URL is a
configuration error at start (`apprise_url`), never a failure at send time.

`timeout_seconds` bounds the whole send, every URL included. Apprise runs each service's blocking
send in its own worker threads, which a cut-off cannot stop: a send cut off may still finish in
the background, and the retry then tells that service twice (better twice than never). The URLs
of one channel are sent concurrently; when some fail, the send raises `PartialFailure` naming
them and the retry (`send(notice, only=...)`) tells only those: a URL that succeeded is never
told again.

A URL may hold `{address}`: it is replaced by the paged contact method's `address`, URL-quoted
(`tgram://bottoken/{address}`, `mailtos://user:pass@example.com?to={address}`). Such a URL is
only used for notices that have an address; the others use the channel's other URLs.

Apprise URLs carry credentials: they never appear in a repr, a log line or an error; a URL is
named by its place in the configuration (`urls.<n>`) and its service (`Slack`). Apprise's own
log lines may carry parts of them, so they are kept out of ours (`secrecy`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from apprise import Apprise, AppriseAsset, NotifyFormat, NotifyType
from apprise.plugins import N_MGR

from herald.notifier.channels.channel import (
    MAX_SEND_SECONDS,
    PartialFailure,
    PermanentError,
)
from herald.notifier.channels.secrecy import keep_urls_out_of_logs
from herald.notifier.message_template import render
from herald.notifier.notice import Notice, NoticeType
from herald.shared.config import MessageTemplate

ADDRESS = "{address}"
"""Where a contact method's address goes in an Apprise URL."""

NOTIFY_TYPES: dict[NoticeType, NotifyType] = {
    "incident.opened": NotifyType.FAILURE,
    "incident.resolved": NotifyType.SUCCESS,
    "incident.acknowledged": NotifyType.INFO,
    "incident.worsened": NotifyType.FAILURE,
}
"""How a notice is flagged (the colour or icon of the message, where the service has one)."""

log = logging.getLogger("herald.notifier.apprise")

_SCHEME = re.compile(r"^\s*([a-z][a-z0-9+.-]{0,31})://", re.IGNORECASE)


@dataclass(frozen=True)
class AppriseUrl:
    """One Apprise URL of a channel, checked by Apprise (the URL is kept out of repr)."""

    index: int
    """Its place in the channel's `urls` (the name errors and logs use)."""
    service: str
    """Apprise's name of its service, e.g. `Slack` (safe to log)."""
    url: str = field(repr=False)

    @property
    def name(self) -> str:
        return f"urls.{self.index} ({self.service})"

    @property
    def personal(self) -> bool:
        """Whether it takes the contact method's address."""
        return ADDRESS in self.url

    def for_address(self, address: str | None) -> str | None:
        """The URL to notify for a notice to `address` (None: this URL is not for it)."""
        if not self.personal:
            return self.url
        if not address:
            return None
        return self.url.replace(ADDRESS, quote(address, safe="@+:"))


@dataclass(frozen=True)
class AppriseTarget:
    """An Apprise channel with its secrets resolved: the URLs that are set (at least one)."""

    urls: tuple[AppriseUrl, ...]
    timeout_seconds: float = 10.0
    """Bound of the whole send, in seconds, at most MAX_SEND_SECONDS."""
    template: MessageTemplate | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("an Apprise channel needs at least one URL")
        if not 0 < self.timeout_seconds <= MAX_SEND_SECONDS:
            raise ValueError(f"apprise timeout must be in (0, {MAX_SEND_SECONDS}] seconds")


def apprise_url(index: int, url: str) -> AppriseUrl:
    """`url` checked by Apprise; ValueError saying what is wrong without repeating the URL."""
    keep_urls_out_of_logs()
    probe = url.replace(ADDRESS, "herald")  # checked with a stand-in address
    service = Apprise.instantiate(probe, asset=AppriseAsset(), suppress_exceptions=True)
    if service is not None:
        return AppriseUrl(index, str(service.service_name), url)
    # The scheme (`slack`, `json`...) names a service and holds no secret; the rest may.
    scheme = _SCHEME.match(url)
    if scheme is None:
        raise ValueError("not an Apprise URL (no `scheme://` at its start)")
    name = scheme.group(1).lower()
    if name in N_MGR:
        raise ValueError(f"not a valid {N_MGR[name].service_name} URL (scheme {name}://)")
    raise ValueError(f"not a URL Apprise supports (scheme {name}://)")


def apprise_message(notice: Notice, template: MessageTemplate | None = None) -> tuple[str, str]:
    """The title and plain-text body of `notice` (the incident's text is untrusted)."""
    message = render("apprise", notice, template)
    return message.title, message.body.rstrip("\n")


class AppriseChannel:
    def __init__(self, channel_id: str, target: AppriseTarget) -> None:
        keep_urls_out_of_logs()
        self.channel_id = channel_id
        self.target = target
        self.asset = AppriseAsset()

    async def _send_one(self, url: str, name: str, title: str, body: str, kind: NotifyType) -> bool:
        # A new Apprise object per send: plugins keep state (a throttle clock, a login) that
        # concurrent sends of several workers would share, and a URL holds one service only.
        apobj = Apprise(asset=self.asset)
        try:
            if not apobj.add([url]):
                return False  # checked at start: only a plugin that has become disabled here
            result = await apobj.async_notify(
                body=body, title=title, notify_type=kind, body_format=NotifyFormat.TEXT
            )
        except Exception as exc:
            # Apprise reports a service's failures as a result; anything raised is unexpected,
            # and its text may carry the URL: name its kind only.
            log.warning(
                "channel %s: %s raised %s",
                self.channel_id,
                name,
                type(exc).__name__,
                extra={"channel": self.channel_id},
            )
            return False
        return bool(result)

    async def send(self, notice: Notice, only: frozenset[int] | None = None) -> None:
        """Tell every URL for `notice` (or only those at the places in `only`, a retry)."""
        title, body = apprise_message(notice, self.target.template)
        kind = NOTIFY_TYPES[notice.type]
        urls = [
            (n, u, resolved)
            for n, u in enumerate(self.target.urls)
            if (only is None or n in only)
            and (resolved := u.for_address(notice.recipient)) is not None
        ]
        if not urls:
            raise PermanentError("no URL of the channel is for this notice (no address)")
        tasks = [
            asyncio.create_task(self._send_one(url, u.name, title, body, kind))
            for _, u, url in urls
        ]
        # Cut off at the timeout; the URLs that answered in time count, the others are retried.
        await asyncio.wait(tasks, timeout=self.target.timeout_seconds)
        delivered = []
        for task in tasks:
            if task.done() and not task.cancelled():
                delivered.append(bool(task.result()))
            else:
                task.cancel()
                delivered.append(False)
        failed = [(n, u) for (n, u, _), ok in zip(urls, delivered, strict=True) if not ok]
        if failed:
            names = ", ".join(u.name for _, u in failed)
            timed_out = "" if all(t.done() for t in tasks) else " (timed out)"
            raise PartialFailure(
                f"not delivered to {names}{timed_out}", frozenset(n for n, _ in failed)
            )
