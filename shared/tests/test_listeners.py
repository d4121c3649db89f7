"""A request goes to the app of the port it arrived on: the probes only on the internal one."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from herald.shared.listeners import ByPort
from herald.shared.probes import probe_app

INTERNAL = 9081


async def test_the_probes_answer_on_the_internal_port_and_nowhere_else() -> None:
    registry = CollectorRegistry()
    Counter("herald_test_hits", "hits", registry=registry).inc()

    async def ok() -> bool:
        return True

    async def hello(_: object) -> PlainTextResponse:
        return PlainTextResponse("public")

    public = Starlette(routes=[Route("/", hello)])
    served = ByPort(public, probe_app(lambda: {"nats": ok}, registry), INTERNAL)
    transport = httpx.ASGITransport(app=served)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc:8081") as client:
        assert (await client.get("/")).text == "public"
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 404, path
        inside = f"http://svc:{INTERNAL}"
        assert (await client.get(f"{inside}/healthz")).status_code == 200
        assert (await client.get(f"{inside}/readyz")).json()["checks"] == {"nats": "ok"}
        assert "herald_test_hits_total 1.0" in (await client.get(f"{inside}/metrics")).text
        assert (await client.get(f"{inside}/")).status_code == 404
