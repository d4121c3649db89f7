"""`/healthz`, `/readyz` and `/metrics` for every service.

`/healthz` answers while the process is alive; `/readyz` runs the service's readiness
checks (NATS connected, Redis answers, ...) and answers 503 naming what is not ready.
They are served on each service's internal port (`probe_app`, `herald.shared.listeners`),
never on its public one: a NetworkPolicy can restrict a port, not a path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ReadinessCheck = Callable[[], Awaitable[bool]]


def probe_routes(
    checks: Callable[[], Mapping[str, ReadinessCheck]],
    registry: CollectorRegistry = REGISTRY,
    timeout: float = 2.0,
) -> list[Route]:
    """Routes for the probes. `checks` is called per request so it can read app state."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                ok = await asyncio.wait_for(check(), timeout)
            except Exception:  # a failing check means "not ready", whatever the reason
                ok = False
            results[name] = "ok" if ok else "unavailable"
        ready = bool(results) and all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def probe_app(
    checks: Callable[[], Mapping[str, ReadinessCheck]],
    registry: CollectorRegistry = REGISTRY,
    timeout: float = 2.0,
) -> Starlette:
    """The app of a service's internal port: the probes and nothing else. It has no lifespan
    of its own: `checks` reads what the service's lifespan opened."""
    return Starlette(routes=probe_routes(checks, registry, timeout))
