"""What the e2e tests with a real Alertmanager watch: the page's SSE stream, Alertmanager's
notifications (through the relay) and the pages, each timestamped by a Recorder, plus the
status page's JSON API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.prometheus.integrations import BEARER
from tests.e2e.prometheus.recorder import Recorder, Stamped
from tests.e2e.prometheus.relay import Delivery, WebhookRelay
from tests.receiver import Receiver
from tests.sse import SseClient, SseEvent

STEP_TIMEOUT = 60.0
"""Bound on waiting for Alertmanager (group_wait/group_interval 1s) or Prometheus to act."""


def changed(service: str, status: str) -> Callable[[SseEvent], bool]:
    """An SSE page change putting `service`'s component in `status`."""

    def match(event: SseEvent) -> bool:
        if event.event == "snapshot":
            return False
        data = event.json()
        component = data.get("component") or {}
        return bool(data.get("service") == service and component.get("status") == status)

    return match


def posted(alertname: str, status: str, token: str) -> Callable[[Delivery], bool]:
    """Alertmanager's notification carrying `alertname` in `status` to integration `token`."""
    return lambda d: d.token == token and d.carries(alertname, status)


def paged(kind: str, service: str, title: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def match(page: dict[str, Any]) -> bool:
        return bool(
            page.get("type") == kind
            and (page.get("service") or {}).get("id") == service
            and (title is None or (page.get("incident") or {}).get("title") == title)
        )

    return match


def component(summary: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in summary["components"] if c["id"] == cid)


@dataclass
class Watch:
    """The page's SSE stream, Alertmanager's notifications and the pages, all timestamped."""

    http: httpx.AsyncClient
    page: str
    events: Recorder[SseEvent]
    posts: Recorder[Delivery]
    pages: Recorder[dict[str, Any]]
    timings: list[tuple[str, float, float]]

    def marks(self) -> tuple[int, int, int]:
        return self.events.mark(), self.posts.mark(), self.pages.mark()

    async def summary(self) -> dict[str, Any]:
        return await self.document("/api/v2/summary.json")

    async def document(self, path: str) -> dict[str, Any]:
        response = await self.http.get(f"{self.page}{path}")
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        return doc

    async def page_change(
        self,
        step: str,
        service: str,
        status: str,
        alertname: str,
        token: str,
        since: tuple[int, int, int],
        started: float,
    ) -> tuple[Stamped[SseEvent], Delivery]:
        """Await the SSE change and the notification behind it; note the step's timings."""
        alert_status = "resolved" if status == "operational" else "firing"
        change = await self.events.wait(
            changed(service, status), f"SSE event: {service} {status}", since[0], STEP_TIMEOUT
        )
        post = await self.posts.wait(
            posted(alertname, alert_status, token),
            f"notification of {alertname} {alert_status}",
            since[1],
            STEP_TIMEOUT,
        )
        delivery = post.item
        assert delivery.status == 200, f"ingest answered {delivery}"
        assert delivery.authorization == f"Bearer {BEARER}"
        assert change.item.id is not None
        self.timings.append((step, change.at - delivery.arrived, change.at - started))
        return change, delivery


@asynccontextmanager
async def watching(page: str, relay: WebhookRelay, pager: Receiver) -> AsyncIterator[Watch]:
    """A Watch on the status page at `page`, once its SSE stream sent the snapshot."""
    async with (
        httpx.AsyncClient(timeout=10) as http,
        SseClient(f"{page}/events") as sse,
        Recorder(sse.queue, "SSE /events") as events,
        Recorder(relay.received, "relay (Alertmanager -> ingest)") as posts,
        Recorder(pager.received, "pager") as pages,
    ):
        await events.wait(lambda e: e.event == "snapshot", "snapshot", timeout=10)
        yield Watch(http, page, events, posts, pages, [])
