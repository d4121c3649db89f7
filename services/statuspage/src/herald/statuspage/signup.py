"""A sign-up as the page's form or the JSON API gives it, checked (pure), and the same-origin
rule of the form's POSTs.

What is accepted: exactly one of an email address (a plain `local@domain`, at most 254
characters) or a webhook URL (http or https, a host, no credentials in it, at most 2048
characters), and the components to follow: service ids, or group ids standing for their
services; none, or `all`, is every component.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from herald.shared.config import HeraldConfig
from herald.shared.subscriptions import SubscriberChannel, normalize_address

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
MAX_EMAIL = 254
MAX_URL = 2048


@dataclass(frozen=True)
class Signup:
    channel: SubscriberChannel
    address: str
    components: tuple[str, ...]


class SignupError(ValueError):
    """What is wrong with a sign-up, in words for the reader (never echoes the input)."""


def components_of(config: HeraldConfig, chosen: Sequence[str]) -> tuple[str, ...]:
    """Service ids for the chosen ids (a group: its services), in page order; () for all."""
    picked = {c for c in chosen if c}
    if not picked or "all" in picked:
        return ()
    unknown = [c for c in picked if c not in config.services and c not in config.groups]
    if unknown:
        raise SignupError("unknown component")
    wanted = {
        sid
        for sid, svc in config.services.items()
        if sid in picked or (svc.group is not None and svc.group in picked)
    }
    every = tuple(sid for sid in config.services if sid in wanted)
    return () if len(every) == len(config.services) else every


def parse_signup(
    config: HeraldConfig, email: str | None, webhook: str | None, components: Sequence[str]
) -> Signup:
    """The sign-up, or SignupError."""
    email = (email or "").strip()
    webhook = (webhook or "").strip()
    if bool(email) == bool(webhook):
        raise SignupError("give either an email address or a webhook URL")
    chosen = components_of(config, components)
    offered = config.subscribers
    if email:
        if not offered.email:
            raise SignupError("sign-up by email is not offered")
        if len(email) > MAX_EMAIL or EMAIL.match(email) is None:
            raise SignupError("not an email address")
        return Signup("email", normalize_address("email", email), chosen)
    if not offered.webhooks:
        raise SignupError("sign-up by webhook is not offered")
    if len(webhook) > MAX_URL:
        raise SignupError("the URL is too long")
    parts = urlsplit(webhook)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SignupError("the webhook must be an http(s) URL")
    if parts.username or parts.password:
        raise SignupError("the webhook URL must not carry credentials")
    if any(ch.isspace() for ch in webhook):
        raise SignupError("the webhook must be an http(s) URL")
    return Signup("webhook", normalize_address("webhook", webhook), chosen)


def same_origin(origin: str | None, fetch_site: str | None, scheme: str, host: str) -> bool:
    """Whether a form POST comes from the page itself (CSRF). Sec-Fetch-Site first (browsers
    send it whatever the referrer policy): same-origin, or `none` (typed in, a bookmark).
    Else the Origin, which must be ours; the page's `Referrer-Policy: no-referrer` makes a
    browser send `Origin: null` even from the page itself, so `null` alone proves nothing and
    is refused. A client sending neither (curl, a script) is not a browser riding on someone's
    visit: allowed."""
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    if origin is None:
        return True
    return origin.lower() == f"{scheme}://{host}".lower()
