"""`herald subscribers list|remove` against the notifier's real subscriber routes, served on
loopback over a real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from herald.cli.__main__ import subscribers_list, subscribers_remove
from herald.notifier.api_tokens import ApiToken, ApiTokens
from herald.notifier.subscribers.routes import subscriber_routes
from herald.shared.subscriber_store import SubscriberStore
from herald.shared.subscriptions import Subscriber
from tests.infra import Infra
from tests.loopback import listening_socket, quiet_server, serving

pytestmark = pytest.mark.integration

TOKEN = "cli-token"


async def test_list_and_remove(infra: Infra, capsys: pytest.CaptureFixture[str]) -> None:
    redis = aioredis.from_url(infra.redis_url)
    store = SubscriberStore(redis)
    await store.put(
        Subscriber(
            id="abc123",
            channel="email",
            address="alice@example.com",
            components=("payments-api",),
            created_at=datetime(2026, 1, 6, tzinfo=UTC),
        )
    )
    sock = listening_socket()
    env = {"HERALD_API_URL": f"http://127.0.0.1:{sock.getsockname()[1]}", "HERALD_API_TOKEN": TOKEN}
    app = Starlette(routes=subscriber_routes(store, ApiTokens((ApiToken(None, TOKEN),))))
    try:
        async with serving(quiet_server(app), sock, timeout=10):
            assert await asyncio.to_thread(subscribers_list, env) == 0
            out = capsys.readouterr().out
            assert "abc123" in out
            assert "alice@example.com" in out
            assert "payments-api" in out
            assert await asyncio.to_thread(subscribers_remove, "abc123", env) == 0
            assert await asyncio.to_thread(subscribers_remove, "abc123", env) == 1
            assert "HTTP 404" in capsys.readouterr().err
            assert await asyncio.to_thread(subscribers_list, env) == 0
            assert "no subscribers" in capsys.readouterr().out
            wrong = {**env, "HERALD_API_TOKEN": "nope"}
            assert await asyncio.to_thread(subscribers_list, wrong) == 1
            assert "HTTP 401" in capsys.readouterr().err
    finally:
        await redis.aclose()
