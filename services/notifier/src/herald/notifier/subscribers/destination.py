"""Where a subscriber's webhook may point (pure, but for the name lookup): a stranger signs
up with a URL, so by default the notifier posts to public addresses only, never into its own
network (loopback, private, link-local, reserved: the SSRF of every webhook feature)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


async def reachable(url: str, allow_private: bool) -> bool:
    """Whether posting to `url` is allowed: http(s), a host, and (unless `allow_private`)
    every address the host resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if allow_private:
        return True
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(is_public(a.split("%")[0]) for a in addresses)
