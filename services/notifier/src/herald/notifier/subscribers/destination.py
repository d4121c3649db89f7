"""Where a subscriber's webhook may point: a stranger signs up with a URL, so by default the
notifier posts to public addresses only, never into its own network (loopback, private,
link-local, reserved: the SSRF of every webhook feature).

The rule is kept where the connection is made, not before it: `CheckedBackend` is the network
backend of the hooks' HTTP client (httpcore's, under httpx). It resolves the host once, checks
every address it resolves to, and connects to one of those very addresses. Checking a name and
then letting the client resolve it again to connect would let a name that answers a public
address to the check and a private one a moment later (DNS rebinding) reach inside. TLS is
unchanged: httpcore starts it over the stream with the URL's host as SNI and as the name the
certificate must carry, and the Host header is the URL's.

Subscriber webhooks go directly, never through an HTTP(S)_PROXY of the environment: a proxy
would resolve the name itself, out of this check's reach."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""The addresses a host name resolves to (an address itself: that address)."""


class NotAllowed(Exception):
    """The webhook's host resolves to an address it may not be posted to (or to none)."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_global and not ip.is_multicast


def well_formed(url: str) -> bool:
    """http(s) with a host: what may be posted to at all (the addresses are checked when
    connecting)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


async def system_resolve(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the rule allows, and only to the addresses it checked:
    every address the host resolves to must be public (unless `allow_private`), then each is
    tried in turn, by address (no second lookup). NotAllowed otherwise; httpx passes it
    through unchanged (it is not one of httpcore's errors)."""

    def __init__(
        self,
        allow_private: bool,
        resolve: Resolve = system_resolve,
        dial: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolve = resolve
        self.dial = dial if dial is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port)
        if not addresses:
            raise NotAllowed("the webhook's host does not resolve")
        if not self.allow_private and not all(is_public(a) for a in addresses):
            raise NotAllowed("the webhook's host resolves to a non-public address")
        failed: Exception | None = None
        for address in addresses:
            try:
                return await self.dial.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise NotAllowed("never a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.dial.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (its request and error mapping) over a pool whose connections
    `backend` makes (httpx's default limits). No proxy, no environment settings."""

    def __init__(self, backend: CheckedBackend, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx.AsyncHTTPTransport no longer keeps its pool as _pool")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


def checked_client(
    allow_private: bool,
    resolve: Resolve = system_resolve,
    dial: httpcore.AsyncNetworkBackend | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The HTTP client subscriber webhooks are posted with (`ssl_context`: the certificates
    trusted, the system's by default)."""
    backend = CheckedBackend(allow_private, resolve, dial)
    return httpx.AsyncClient(transport=CheckedTransport(backend, ssl_context), trust_env=False)
