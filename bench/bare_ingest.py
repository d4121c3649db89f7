"""The floor of `bench.ingest`: a bare webhook receiver, run as its own uvicorn process.

It does what ingest must do at the least, and nothing else: read the body, validate it with a
plain pydantic model of Alertmanager's payload (`model_validate_json`, the fastest way pydantic
has), publish every alert to JetStream as its own message with a `Nats-Msg-Id` (concurrently,
awaiting every ack: file storage, the same config as Herald's ALERTS stream), and answer 200.
No authentication, normalization, bounds, metrics or logs. Nothing can be faster than this
and still keep ingest's promise (2xx only once every alert is stored), so Herald's ingest is
reported as a ratio to it, measured in the same run.

    python -m bench.bare_ingest     # NATS_URL, BENCH_FLOOR_PORT (uvicorn: uvloop, httptools)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Literal

import nats
import uvicorn
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STREAM = "BENCH_INGEST"
"""The floor's own stream (ALERTS's config under another name: see bench.ingest)."""
SUBJECT = "bench.ingest.alerts"
PATH = "/hook"


class Alert(BaseModel):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class Message(BaseModel):
    version: str = "4"
    groupKey: str = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"] | None = None
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert]


def create_app(nats_url: str) -> Starlette:
    client = nats.NATS()

    async def hook(request: Request) -> Response:
        body = await request.body()
        try:
            message = Message.model_validate_json(body)
        except ValidationError:
            return JSONResponse({"error": "invalid payload"}, status_code=422)
        js = client.jetstream()
        await asyncio.gather(
            *(
                js.publish(
                    SUBJECT,
                    alert.model_dump_json().encode(),
                    stream=STREAM,
                    headers={"Nats-Msg-Id": alert.fingerprint},
                )
                for alert in message.alerts
            )
        )
        return JSONResponse({"status": "ok", "alerts": len(message.alerts)})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok" if client.is_connected else "connecting"})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await client.connect(nats_url, name="bench-floor")
        try:
            yield
        finally:
            await client.close()

    return Starlette(
        routes=[Route(PATH, hook, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def main() -> None:
    uvicorn.run(
        create_app(os.environ["NATS_URL"]),
        host="127.0.0.1",
        port=int(os.environ["BENCH_FLOOR_PORT"]),
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
