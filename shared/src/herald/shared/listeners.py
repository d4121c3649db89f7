"""One server, two listeners: the public port serves a service's app, the internal port its
probes and metrics (`herald.shared.probes.probe_app`).

One uvicorn server listens on both sockets, so there is one lifespan, one SIGTERM handling and
one graceful shutdown; a request goes to the app of the port it arrived on. `create_app` puts
the probes app at `app.state.probes`; each `__main__` calls `serve`.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from herald.shared.settings import Settings

log = logging.getLogger("herald.listeners")

EXIT_BIND = 1


class ByPort:
    """ASGI: requests that arrived on `internal_port` go to `internal`, every other one (and
    the lifespan) to `public`."""

    def __init__(self, public: ASGIApp, internal: ASGIApp, internal_port: int) -> None:
        self.public = public
        self.internal = internal
        self.internal_port = internal_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") if scope["type"] in ("http", "websocket") else None
        if server is not None and server[1] == self.internal_port:
            await self.internal(scope, receive, send)
        else:
            await self.public(scope, receive, send)


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (IPv6 when `host` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def serve(
    app: Starlette,
    settings: Settings,
    *,
    server: Callable[[uvicorn.Config], uvicorn.Server] = uvicorn.Server,
    **options: Any,
) -> None:
    """Run `app` on `settings.port` and `app.state.probes` on `settings.internal_port`, both on
    `settings.host`, until SIGTERM. `options`: more `uvicorn.Config` arguments; `server` builds
    the uvicorn server (the status page ends its event streams at shutdown)."""
    try:
        public = listen(settings.host, settings.port)
        internal = listen(settings.host, settings.internal_port)
    except OSError as exc:
        print(f"{settings.host}: cannot listen: {exc}", file=sys.stderr)
        sys.exit(EXIT_BIND)
    public_port, internal_port = public.getsockname()[1], internal.getsockname()[1]
    log.info(
        "listening",
        extra={"host": settings.host, "port": public_port, "internal_port": internal_port},
    )
    config = uvicorn.Config(
        ByPort(app, app.state.probes, internal_port),
        host=settings.host,
        port=public_port,
        log_config=None,
        lifespan="on",
        **options,
    )
    server(config).run(sockets=[public, internal])
