"""Security headers on every response of every public surface: a strict Content-Security-Policy
(no inline script or style, nothing from other origins), no MIME sniffing, no referrer leaks,
no framing."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

SMALL_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""For a self-contained page with its style inline and no script (the notifier's ack page)."""

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """Pure ASGI middleware (streaming-safe, unlike BaseHTTPMiddleware). `policy` replaces the
    Content-Security-Policy."""

    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.headers = {**SECURITY_HEADERS, "Content-Security-Policy": policy}
        self._raw = tuple(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers.items()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # raw ASGI headers, encoded once: what the app set itself wins
                headers = message.get("headers") or []
                present = {name.lower() for name, _ in headers}
                message["headers"] = [
                    *headers,
                    *(pair for pair in self._raw if pair[0] not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
