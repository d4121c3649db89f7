"""Sign-up on the status page (the HTML form works without JavaScript) and its JSON API.

- `GET /subscribe`: the form (email or webhook, the components to follow: everything, groups
  standing for their services, services).
  `POST /subscribe`: takes it (same-origin only), answers the same page whatever the address
  (known or not, rate-limited or not): no enumeration.
- `GET /subscribe/confirm?token=`: a page with a Confirm button (mail scanners follow GETs, so a
  GET changes nothing); `POST /subscribe/confirm`: stores the subscriber. Components removed
  from the page since the sign-up are dropped; when none of those chosen is left, nothing is
  stored and the page says so (409): what is left would be every component.
- `GET /unsubscribe?token=`: a page with a button; `POST /unsubscribe?token=`: unsubscribes at
  once (RFC 8058 one-click: mail providers POST `List-Unsubscribe=One-Click` to this URL; the
  signed token is the authority, so no same-origin check here).
- `POST /api/subscribers` (JSON `{"email"|"webhook", "components"}`): 202, the same body always;
  `POST /api/subscribers/confirm` and `POST /api/subscribers/unsubscribe` (JSON `{"token"}`).
  JSON only (415 otherwise): a cross-site form cannot send it without a CORS preflight, which
  these routes never grant.

The notifier sends (the confirmation mail, the webhook challenge): this side publishes a
SubscriptionRequested on the SUBSCRIPTIONS stream. NATS or Redis down: 503.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jinja2
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from herald.shared.config import HeraldConfig
from herald.shared.runtime import Clock
from herald.shared.subscriber_store import SubscriberStore
from herald.shared.subscription_links import read_confirmation, read_unsubscribe
from herald.shared.subscriptions import Subscriber, SubscriptionRequested, subscriber_id
from herald.statuspage.signup import Signup, SignupError, parse_signup, same_origin
from herald.statuspage.signup_limit import SignupLimits

log = logging.getLogger("herald.statuspage.subscribe")

MAX_BODY = 16 * 1024
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}

Publish = Callable[[SubscriptionRequested], Awaitable[None]]


class Unavailable(Exception):
    """NATS or Redis did not answer: 503."""


class ComponentsGone(Exception):
    """A confirmation for components none of which the page has any more (removed from the
    config since the sign-up): subscribing to what is left would be to every component, more
    than was chosen, so nothing is subscribed: 409."""


@dataclass
class SubscribeDesk:
    """What the routes need: the config, the key, the list, the limits, how to publish."""

    config: HeraldConfig
    key: bytes
    store: SubscriberStore
    limits: SignupLimits
    publish: Publish
    clock: Clock

    async def request(self, signup: Signup, client: str, language: str) -> None:
        """Publish the sign-up unless an address limit says no (silently). Raises Unavailable."""
        try:
            if not await self.limits.address_allowed(signup.channel, signup.address):
                log.info("sign-up dropped: address limit")
                return
            await self.publish(
                SubscriptionRequested(
                    event_id=uuid.uuid4().hex,
                    occurred_at=self.clock(),
                    channel=signup.channel,
                    address=signup.address,
                    components=signup.components,
                    language=language,
                )
            )
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable from exc
        except Exception as exc:  # NATS errors have no common base worth naming here
            log.warning("publishing a sign-up failed: %s", type(exc).__name__)
            raise Unavailable from exc

    async def client_allowed(self, client: str) -> bool:
        try:
            return await self.limits.client_allowed(client)
        except (RedisError, OSError) as exc:
            raise Unavailable from exc

    def components_left(self, chosen: tuple[str, ...]) -> tuple[str, ...]:
        """The chosen components the page still has (() chosen: every component, still);
        ComponentsGone when some were chosen and none is left."""
        left = tuple(c for c in chosen if c in self.config.services)
        if chosen and not left:
            raise ComponentsGone
        return left

    async def confirm(self, token: str) -> Subscriber | None:
        """The subscriber stored; None for an invalid or expired token. Raises ComponentsGone
        (nothing stored) and Unavailable."""
        found = read_confirmation(self.key, token, self.clock())
        if found is None or found.channel != "email":
            return None
        sub = Subscriber(
            id=subscriber_id(self.key, found.channel, found.address),
            channel=found.channel,
            address=found.address,
            components=self.components_left(found.components),
            created_at=self.clock(),
        )
        try:
            await self.store.put(sub)
        except (RedisError, OSError) as exc:
            raise Unavailable from exc
        return sub

    async def unsubscribe(self, token: str) -> bool | None:
        """True/False: removed or already gone; None: not a valid token."""
        sid = read_unsubscribe(self.key, token)
        if sid is None:
            return None
        try:
            await self.store.remove(sid)
        except (RedisError, OSError) as exc:
            raise Unavailable from exc
        return True


def subscribe_routes(
    desk: SubscribeDesk | None,
    templates: jinja2.Environment,
    chrome: Callable[[Request], dict[str, Any]],
) -> list[BaseRoute]:
    """The routes; with `desk` None (subscribers off, or no secret), each answers 404 (the
    feature is not there) and the JSON API 404 too."""
    config_services: list[dict[str, str]] = []
    config_groups: list[dict[str, str]] = []
    if desk is not None:
        config_services = [
            {"id": sid, "name": svc.name} for sid, svc in desk.config.services.items()
        ]
        grouped = {svc.group for svc in desk.config.services.values()}
        config_groups = [
            {"id": gid, "name": group.name}
            for gid, group in desk.config.groups.items()
            if gid in grouped
        ]

    def page(request: Request, state: str, status: int = 200, **extra: Any) -> Response:
        extra = {"error": None, "token": None, **extra}
        body = templates.get_template("subscribe.html").render(
            **chrome(request),
            state=state,
            components=config_services,
            groups=config_groups,
            email_offered=desk is not None and desk.config.subscribers.email,
            webhooks_offered=desk is not None and desk.config.subscribers.webhooks,
            **extra,
        )
        return HTMLResponse(body, status_code=status, headers=NO_STORE)

    def client_of(request: Request) -> str:
        return request.client.host if request.client is not None else "unknown"

    def language_of(request: Request) -> str:
        return str(chrome(request)["lang"])

    async def form(request: Request) -> Response:
        if desk is None:
            return page(request, "off", 404)
        return page(request, "form")

    async def form_post(request: Request) -> Response:
        if desk is None:
            return page(request, "off", 404)
        if not same_origin(
            request.headers.get("origin"),
            request.headers.get("sec-fetch-site"),
            request.url.scheme,
            request.headers.get("host", ""),
        ):
            return page(request, "cross_origin", 403)
        fields = await _form(request)
        if fields is None:
            return page(request, "form", 400, error="not a form")
        try:
            signup = parse_signup(
                desk.config,
                _first(fields, "email"),
                _first(fields, "webhook"),
                fields.get("component", []),
            )
        except SignupError as exc:
            return page(request, "form", 400, error=str(exc))
        try:
            if not await desk.client_allowed(client_of(request)):
                return page(request, "too_many", 429)
            await desk.request(signup, client_of(request), language_of(request))
        except Unavailable:
            return page(request, "unavailable", 503)
        return page(request, f"sent_{signup.channel}")

    async def confirm_page(request: Request) -> Response:
        if desk is None:
            return page(request, "off", 404)
        token = request.query_params.get("token", "")
        found = read_confirmation(desk.key, token, desk.clock())
        if found is None:
            return page(request, "bad_link", 400)
        try:
            desk.components_left(found.components)
        except ComponentsGone:
            return page(request, "components_gone", 409)
        return page(request, "confirm", token=token)

    async def confirm_post(request: Request) -> Response:
        if desk is None:
            return page(request, "off", 404)
        if not same_origin(
            request.headers.get("origin"),
            request.headers.get("sec-fetch-site"),
            request.url.scheme,
            request.headers.get("host", ""),
        ):
            return page(request, "cross_origin", 403)
        fields = await _form(request)
        try:
            sub = await desk.confirm(_first(fields or {}, "token") or "")
        except ComponentsGone:
            return page(request, "components_gone", 409)
        except Unavailable:
            return page(request, "unavailable", 503)
        if sub is None:
            return page(request, "bad_link", 400)
        return page(request, "confirmed")

    async def unsubscribe_page(request: Request) -> Response:
        if desk is None:
            return page(request, "off", 404)
        token = request.query_params.get("token", "")
        if read_unsubscribe(desk.key, token) is None:
            return page(request, "bad_link", 400)
        return page(request, "unsubscribe", token=token)

    async def unsubscribe_post(request: Request) -> Response:
        if desk is None:
            return page(request, "off", 404)
        token = request.query_params.get("token")
        if token is None:
            token = _first(await _form(request) or {}, "token") or ""
        try:
            done = await desk.unsubscribe(token)
        except Unavailable:
            return page(request, "unavailable", 503)
        if done is None:
            return page(request, "bad_link", 400)
        return page(request, "unsubscribed")

    async def json_body(request: Request) -> dict[str, Any] | Response:
        if desk is None:
            return JSONResponse({"detail": "subscriptions are not offered"}, status_code=404)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            return JSONResponse({"detail": "send application/json"}, status_code=415)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"detail": "body too large"}, status_code=413)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"detail": "not JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"detail": "expected a JSON object"}, status_code=400)
        return body

    async def api_signup(request: Request) -> Response:
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        assert desk is not None
        components = body.get("components", [])
        email, webhook = body.get("email"), body.get("webhook")
        if (
            not isinstance(components, list)
            or not all(isinstance(c, str) for c in components)
            or not isinstance(email, str | None)
            or not isinstance(webhook, str | None)
        ):
            return JSONResponse(
                {"detail": "email, webhook: strings; components: a list of ids"}, status_code=400
            )
        try:
            signup = parse_signup(desk.config, email, webhook, components)
        except SignupError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        try:
            if not await desk.client_allowed(client_of(request)):
                return JSONResponse(
                    {"detail": "too many sign-ups from this address, try again later"},
                    status_code=429,
                    headers={"Retry-After": "3600"},
                )
            await desk.request(signup, client_of(request), language_of(request))
        except Unavailable:
            return JSONResponse({"detail": "try again later"}, status_code=503)
        detail = (
            "if the address can receive mail, a confirmation link is on its way"
            if signup.channel == "email"
            else "a challenge is on its way to the webhook: answer it to subscribe"
        )
        return JSONResponse({"detail": detail}, status_code=202, headers=NO_STORE)

    async def api_token(request: Request, act: str) -> Response:
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        assert desk is not None
        token = body.get("token")
        if not isinstance(token, str):
            return JSONResponse({"detail": "token: a string"}, status_code=400)
        try:
            if act == "confirm":
                try:
                    sub = await desk.confirm(token)
                except ComponentsGone:
                    return JSONResponse(
                        {"detail": "the components chosen no longer exist: nothing subscribed"},
                        status_code=409,
                    )
                if sub is None:
                    return JSONResponse({"detail": "invalid or expired link"}, status_code=400)
                return JSONResponse({"id": sub.id, "components": list(sub.components)})
            done = await desk.unsubscribe(token)
        except Unavailable:
            return JSONResponse({"detail": "try again later"}, status_code=503)
        if done is None:
            return JSONResponse({"detail": "invalid link"}, status_code=400)
        return JSONResponse({"detail": "unsubscribed"})

    async def api_confirm(request: Request) -> Response:
        return await api_token(request, "confirm")

    async def api_unsubscribe(request: Request) -> Response:
        return await api_token(request, "unsubscribe")

    return [
        Route("/subscribe", form, methods=["GET"]),
        Route("/subscribe", form_post, methods=["POST"]),
        Route("/subscribe/confirm", confirm_page, methods=["GET"]),
        Route("/subscribe/confirm", confirm_post, methods=["POST"]),
        Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe", unsubscribe_post, methods=["POST"]),
        Route("/api/subscribers", api_signup, methods=["POST"]),
        Route("/api/subscribers/confirm", api_confirm, methods=["POST"]),
        Route("/api/subscribers/unsubscribe", api_unsubscribe, methods=["POST"]),
    ]


async def _form(request: Request) -> dict[str, list[str]] | None:
    """An urlencoded form body (what these forms send), bounded; None when it is not one."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return None
    try:
        return parse_qs(raw.decode("utf-8"), max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return None


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None
