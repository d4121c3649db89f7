"""Subscriber contracts: who is told about public incidents, and the sign-up request the status
page hands the notifier (docs/subscribers.md).

A subscriber's id is derived from its channel and address with the deployment's secret, so
signing up twice is the same subscriber (confirming again replaces its components), and an id
reveals nothing about the address. Only what sending needs is kept: the channel, the address,
the components and when it was confirmed; no IP address, no name.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import TypeAdapter

from herald.shared.config import ConfigError, HeraldConfig
from herald.shared.events import Contract

SubscriberChannel = Literal["email", "webhook"]


class Subscriber(Contract):
    """A confirmed subscriber, as stored in Redis."""

    id: str
    channel: SubscriberChannel
    address: str
    """The email address (lower-cased domain) or the webhook URL."""
    components: tuple[str, ...] = ()
    """Service ids it follows; empty: every component."""
    created_at: datetime
    """When it was confirmed (the latest confirmation)."""

    def follows(self, service: str) -> bool:
        return not self.components or service in self.components


class SubscriptionRequested(Contract):
    """Someone signed up on the status page: the notifier sends the confirmation mail (email)
    or the challenge (webhook). Published on `subscriptions.<channel>` (a work queue)."""

    kind: Literal["subscription.requested"] = "subscription.requested"
    event_id: str
    occurred_at: datetime
    channel: SubscriberChannel
    address: str
    components: tuple[str, ...] = ()
    """Service ids; empty: every component."""
    language: str = "en"
    """The reader's language when signing up (the confirmation mail's)."""


SUBSCRIPTION_EVENT_ADAPTER: TypeAdapter[SubscriptionRequested] = TypeAdapter(SubscriptionRequested)


def normalize_address(channel: SubscriberChannel, address: str) -> str:
    """The address as stored and as its id is derived: an email's domain is case-insensitive
    (its local part is kept as written), a URL is kept as given, both stripped."""
    address = address.strip()
    if channel == "email" and "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local}@{domain.lower()}"
    return address


def subscriber_id(key: bytes, channel: SubscriberChannel, address: str) -> str:
    digest = hmac.new(key, f"id:{channel}:{address}".encode(), hashlib.sha256).hexdigest()
    return digest[:24]


def subscribers_secret(config: HeraldConfig, env: Mapping[str, str]) -> bytes | None:
    """`subscribers.secret`, else HERALD_SUBSCRIBERS_SECRET; None when neither is set."""
    ref = config.subscribers.secret
    try:
        value = ref.resolve(dict(env)) if ref is not None else None
    except ValueError as exc:
        raise ConfigError(f"subscribers.secret: {exc}") from None
    value = value or env.get("HERALD_SUBSCRIBERS_SECRET") or None
    return value.encode() if value else None


def public_base(config: HeraldConfig) -> str:
    """The status page's public URL, without a trailing slash (links in messages)."""
    return (config.subscribers.public_url or config.page.url).rstrip("/")
