"""The subscriber admin API (`herald subscribers list|remove`), bearer-token protected like the
rest of the notifier's API:

- `GET /api/subscribers`: every subscriber (id, channel, address, components, created_at).
- `DELETE /api/subscribers/{id}`: forget one (204; 404 when there is none).
"""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.notifier.api_tokens import ApiTokens
from herald.shared.subscriber_store import SubscriberStore


def subscriber_routes(store: SubscriberStore, api_tokens: ApiTokens) -> list[Route]:
    async def listing(request: Request) -> Response:
        if (no := api_tokens.refusal(request)) is not None:
            return no
        try:
            found = await store.all()
        except (RedisError, OSError):
            return JSONResponse({"detail": "the subscriber store is unavailable"}, status_code=503)
        return JSONResponse({"subscribers": [s.model_dump(mode="json") for s in found]})

    async def removal(request: Request) -> Response:
        if (no := api_tokens.refusal(request)) is not None:
            return no
        sid = request.path_params["subscriber_id"]
        if not (sid.isascii() and sid.isalnum() and len(sid) <= 64):
            return JSONResponse({"detail": "not a subscriber id"}, status_code=400)
        try:
            removed = await store.remove(sid)
        except (RedisError, OSError):
            return JSONResponse({"detail": "the subscriber store is unavailable"}, status_code=503)
        if not removed:
            return JSONResponse({"detail": f"no subscriber {sid!r}"}, status_code=404)
        return Response(status_code=204)

    return [
        Route("/api/subscribers", listing, methods=["GET"]),
        Route("/api/subscribers/{subscriber_id}", removal, methods=["DELETE"]),
    ]
