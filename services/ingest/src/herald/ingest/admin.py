"""The admin API (`/api/v1/...`, docs/admin-openapi.yaml): people changing what Herald holds.

Ingest already is Herald's durable way in (it answers only once JetStream stored what it was
given), so the write API lives here too: a request is authenticated by a named admin token
(`admin.tokens`, separate from the webhook tokens), validated, turned into one Command
(herald.shared.events) and published to the COMMANDS stream; 202 with the command id only after
JetStream stored it, 503 when it did not. The correlator, which owns the state, applies it in
the same atomic per-service step as alerts. The command id is derived from (token name,
`Idempotency-Key`): a retried request is the same command (JetStream de-duplicates it, the
correlator remembers it per service). Reads (GET) are forwarded to the correlator, which holds
the state (HERALD_CORRELATOR_URL).

Handlers only translate: parse, build the command, publish.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from herald.ingest import refusal
from herald.ingest.refusal import Refusal
from herald.shared.config import ConfigError, HeraldConfig
from herald.shared.events import (
    CancelMaintenance,
    ClearComponentOverride,
    Command,
    CompleteMaintenance,
    ComponentStatus,
    IncidentStatus,
    OpenIncident,
    PostmortemIncident,
    ResolveAlert,
    ResolveIncident,
    ScheduleMaintenance,
    SetComponentOverride,
    UpdateIncident,
    VerifyMaintenance,
)
from herald.shared.runtime import Clock, NatsConnection
from herald.shared.streams import ensure_streams
from herald.shared.subjects import COMMANDS_STREAM, command_subject

log = logging.getLogger("herald.ingest")

DEMO_TOKEN_VAR = "HERALD_DEMO_ADMIN_TOKEN"  # noqa: S105 (a variable name)
"""When set, its value is also accepted, as the admin token named `demo` (`make run`)."""
DEMO_TOKEN_NAME = "demo"  # noqa: S105 (a token name)
CORRELATOR_URL_VAR = "HERALD_CORRELATOR_URL"
DEFAULT_CORRELATOR_URL = "http://127.0.0.1:8082"
MAX_ADMIN_BODY = 64 * 1024


def command_id(actor: str, idempotency_key: str) -> str:
    """The same (token name, key) is the same command (see herald.correlator.commands)."""
    return "cmd-" + hashlib.sha256(f"{actor}\x1f{idempotency_key}".encode()).hexdigest()[:24]


class AdminTokens:
    """Named admin tokens, resolved at startup; compared in constant time."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._digests = {n: hashlib.sha256(v.encode()).digest() for n, v in tokens.items()}

    @classmethod
    def from_config(
        cls, config: HeraldConfig, environ: Mapping[str, str] | None = None
    ) -> AdminTokens:
        env = dict(os.environ if environ is None else environ)
        tokens: dict[str, str] = {}
        for name, ref in config.admin.tokens.items():
            try:
                value = ref.resolve(env)
            except ValueError as exc:
                raise ConfigError(f"admin.tokens.{name}: {exc}") from None
            if value is not None:
                tokens[name] = value
        demo = env.get(DEMO_TOKEN_VAR)
        if demo and DEMO_TOKEN_NAME not in tokens:
            tokens[DEMO_TOKEN_NAME] = demo
        return cls(tokens)

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def who(self, authorization: str | None) -> str | None:
        """The name of the token a request carries (`Authorization: Bearer ...`), or None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = hashlib.sha256(authorization.removeprefix("Bearer ").strip().encode()).digest()
        found = None
        for name, known in self._digests.items():
            if hmac.compare_digest(digest, known):
                found = name
        return found


class CommandSink(Protocol):
    async def publish(self, command: Command) -> None:
        """Returns once JetStream stored it; raises otherwise."""
        ...


class JetStreamCommands:
    """Publishes commands to the COMMANDS stream on the service's NATS connection."""

    def __init__(self, nats: NatsConnection, *, timeout: float, replicas: int) -> None:
        self.nats = nats
        self.timeout = timeout
        self.replicas = replicas
        self._ready = False
        nats.on_reconnected(self._forget)

    def _forget(self) -> None:
        self._ready = False

    async def publish(self, command: Command) -> None:
        if not self.nats.is_connected:
            raise ConnectionError("NATS is not connected")
        if not self._ready:
            await ensure_streams(self.nats.js, self.replicas)
            self._ready = True
        await self.nats.js.publish(
            command_subject(command.service),
            command.model_dump_json().encode(),
            stream=COMMANDS_STREAM,
            timeout=self.timeout,
            headers={"Nats-Msg-Id": command.event_id},
        )


# -- request bodies --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenBody(_Body):
    service: str
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(default="", max_length=8192)
    status: IncidentStatus | None = None
    """None: the template's status, else investigating."""
    internal: bool = False
    template: str | None = Field(default=None, max_length=63)
    """An `incident_templates:` name: the correlator renders the body from it."""

    @model_validator(mode="after")
    def _one_text(self) -> OpenBody:
        if self.template is not None and self.body:
            raise ValueError("give a body or a template, not both")
        return self


class UpdateBody(_Body):
    status: IncidentStatus | None = None
    body: str = Field(default="", max_length=8192)
    template: str | None = Field(default=None, max_length=63)
    """An `incident_templates:` name: the correlator renders the body from it (and takes its
    status when none is given)."""

    @model_validator(mode="after")
    def _something(self) -> UpdateBody:
        if self.template is not None and self.body:
            raise ValueError("give a body or a template, not both")
        if self.status is None and not self.body and self.template is None:
            raise ValueError("give a status, a body (or a template), or both")
        return self


class ResolveBody(_Body):
    body: str = Field(default="", max_length=8192)


class PostmortemBody(_Body):
    body: str = Field(min_length=1, max_length=8192)


class OverrideBody(_Body):
    status: ComponentStatus
    until: datetime | None = None
    reason: str = Field(default="", max_length=1024)

    @model_validator(mode="after")
    def _aware(self) -> OverrideBody:
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("until needs a time zone (e.g. 2025-01-01T12:00:00Z)")
        return self


class MaintenanceBody(_Body):
    services: tuple[str, ...] = Field(min_length=1)
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(default="", max_length=8192)
    starts_at: datetime
    ends_at: datetime
    page: bool = False

    @model_validator(mode="after")
    def _window(self) -> MaintenanceBody:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone (e.g. 2025-01-01T12:00:00Z)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class VerifyBody(_Body):
    body: str = Field(default="", max_length=8192)


class AlertResolveBody(_Body):
    service: str | None = None


def _problem(status: int, title: str, detail: str, hint: str = "") -> Response:
    body = {"title": title, "detail": detail}
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status)


def service_of_incident(incident_id: str) -> str:
    """Incident ids are `<service>-<version>`."""
    return incident_id.rsplit("-", 1)[0]


class AdminApi:
    def __init__(
        self,
        config: HeraldConfig,
        tokens: AdminTokens,
        sink: CommandSink,
        clock: Clock,
        correlator_url: str = DEFAULT_CORRELATOR_URL,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.sink = sink
        self.clock = clock
        self.correlator_url = correlator_url.rstrip("/")

    def _actor(self, request: Request) -> str | Response:
        if not self.tokens.configured:
            return _problem(
                503,
                "admin API disabled",
                "no admin token is configured",
                "set admin.tokens in herald.yaml (or HERALD_DEMO_ADMIN_TOKEN)",
            )
        actor = self.tokens.who(request.headers.get("authorization"))
        if actor is None:
            return _problem(
                401,
                "unauthorized",
                "missing or unknown admin token",
                "send Authorization: Bearer <one of admin.tokens> (HERALD_API_TOKEN)",
            )
        return actor

    async def _body(self, request: Request, model: type[BaseModel]) -> BaseModel | Response:
        raw = await request.body()
        if len(raw) > MAX_ADMIN_BODY:
            return _problem(413, "too large", f"the body is larger than {MAX_ADMIN_BODY} bytes")
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            errors = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            return _problem(400, "invalid request", errors)

    def _template(self, name: str | None) -> Response | None:
        """A clear 422 for a template name the configuration does not have."""
        if name is None or name in self.config.incident_templates:
            return None
        return _problem(
            422,
            "unknown template",
            f"no incident template {name!r} in the configuration",
            "known: " + (", ".join(self.config.incident_templates) or "none (incident_templates)"),
        )

    def _status(self, status: IncidentStatus | None, name: str | None) -> IncidentStatus | None:
        """The status asked, else the template's."""
        chosen = self.config.incident_templates.get(name) if name is not None else None
        return status or (chosen.status if chosen is not None else None)

    def _known(self, service: str) -> Response | None:
        if service not in self.config.services:
            return _problem(
                404,
                "unknown service",
                f"no service {service!r} in the configuration",
                "known: " + ", ".join(self.config.services),
            )
        return None

    async def _send(self, request: Request, actor: str, make: Any) -> Response:
        key = request.headers.get("idempotency-key") or secrets.token_hex(16)
        if len(key) > 200:
            return _problem(400, "invalid request", "Idempotency-Key is longer than 200 characters")
        cid = command_id(actor, key)
        command: Command = make(
            {"event_id": cid, "occurred_at": self.clock(), "idempotency_key": key, "actor": actor}
        )
        try:
            await self.sink.publish(command)
        except Exception as exc:
            log.warning("command not stored", extra={"error": repr(exc), "kind": command.kind})
            return _problem(
                503,
                "not stored",
                "JetStream did not store the command",
                "retry with the same Idempotency-Key",
            )
        log.info(
            "command accepted",
            extra={
                "command_id": cid,
                "kind": command.kind,
                "actor": actor,
                "service_id": command.service,
            },
        )
        return JSONResponse(
            {
                "command_id": cid,
                "kind": command.kind,
                "service": command.service,
                "status": "accepted",
            },
            status_code=202,
        )

    # -- writes ----------------------------------------------------------------------------

    async def open_incident(self, request: Request) -> Response:
        actor = self._actor(request)
        if isinstance(actor, Response):
            return actor
        body = await self._body(request, OpenBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, OpenBody)
        if (missing := self._known(body.service)) is not None:
            return missing
        if (unknown := self._template(body.template)) is not None:
            return unknown
        status = self._status(body.status, body.template) or IncidentStatus.INVESTIGATING
        held = await self._held("/api/v1/incidents", "incidents", body.service)
        if (
            conflict := await self._refused(
                request,
                actor,
                body.service,
                held,
                lambda rows: refusal.second_open(rows, body.service),
            )
        ) is not None:
            return conflict
        return await self._send(
            request,
            actor,
            lambda base: OpenIncident(
                **base,
                service=body.service,
                title=body.title,
                body=body.body,
                status=status,
                public=not body.internal,
                template=body.template,
            ),
        )

    async def _held(self, path: str, field: str, service: str | None) -> list[Any] | None:
        """The rows `field` of the correlator's read API at `path` (of one service, or of
        all), None when it cannot say (unreachable, an error, an unexpected document)."""
        query = "?service=" + urllib.parse.quote(service, safe="") if service else ""
        try:
            status, data = await self._get(path + query)
            rows = json.loads(data)[field] if status == 200 else None
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "cannot ask the correlator what it holds",
                extra={"service_id": service, "path": path, "error": repr(exc)},
            )
            return None
        return rows if isinstance(rows, list) else None

    async def _refused(
        self,
        request: Request,
        actor: str,
        service: str | None,
        held: list[Any] | None,
        decide: Callable[[list[Any]], Refusal | None],
    ) -> Response | None:
        """The correlator's refusal of this command told now (refusal.py: 404/409), instead of
        a 202 that says nothing. None when it would apply, when this very command was applied
        already (a retry with the same Idempotency-Key: the same 202), or when the correlator
        cannot tell (`held` None: the command is stored, and refused there if it must be;
        its audit shows it; so is a command that loses a race)."""
        if held is None or (refused := decide(held)) is None:
            return None
        key = request.headers.get("idempotency-key")
        if key and await self._applied(command_id(actor, key), service):
            return None
        return JSONResponse(refused.document(), status_code=refused.status)

    async def _applied(self, cid: str, service: str | None) -> bool:
        """Whether command `cid` was applied already (the audit says so)."""
        query = {"command_id": cid} | ({"service": service} if service else {})
        try:
            status, data = await self._get("/api/v1/audit?" + urllib.parse.urlencode(query))
            entries = json.loads(data)["audit"] if status == 200 else []
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
            return False
        return any(isinstance(e, dict) and e.get("outcome") == "applied" for e in entries)

    async def _incident(
        self,
        request: Request,
        model: type[BaseModel],
        action: refusal.IncidentAction,
        make: Any,
    ) -> Response:
        actor = self._actor(request)
        if isinstance(actor, Response):
            return actor
        incident_id = request.path_params["incident_id"]
        service = service_of_incident(incident_id)
        if (missing := self._known(service)) is not None:
            return missing
        body = await self._body(request, model)
        if isinstance(body, Response):
            return body
        if (unknown := self._template(getattr(body, "template", None))) is not None:
            return unknown
        held = await self._held("/api/v1/incidents", "incidents", service)
        if (
            refused := await self._refused(
                request,
                actor,
                service,
                held,
                lambda rows: refusal.incident_command(rows, incident_id, action),
            )
        ) is not None:
            return refused
        return await self._send(
            request,
            actor,
            lambda base: make(base | {"service": service, "incident_id": incident_id}, body),
        )

    async def update_incident(self, request: Request) -> Response:
        return await self._incident(
            request,
            UpdateBody,
            "update",
            lambda b, body: UpdateIncident(
                **b,
                status=self._status(body.status, body.template),
                body=body.body,
                template=body.template,
            ),
        )

    async def resolve_incident(self, request: Request) -> Response:
        return await self._incident(
            request, ResolveBody, "resolve", lambda b, body: ResolveIncident(**b, body=body.body)
        )

    async def postmortem(self, request: Request) -> Response:
        return await self._incident(
            request,
            PostmortemBody,
            "postmortem",
            lambda b, body: PostmortemIncident(**b, body=body.body),
        )

    async def set_override(self, request: Request) -> Response:
        actor = self._actor(request)
        if isinstance(actor, Response):
            return actor
        service = request.path_params["service"]
        if (missing := self._known(service)) is not None:
            return missing
        body = await self._body(request, OverrideBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, OverrideBody)
        if body.until is not None and body.until <= self.clock():
            return _problem(400, "invalid request", "until is already past")
        return await self._send(
            request,
            actor,
            lambda b: SetComponentOverride(
                **b, service=service, status=body.status, until=body.until, reason=body.reason
            ),
        )

    async def clear_override(self, request: Request) -> Response:
        actor = self._actor(request)
        if isinstance(actor, Response):
            return actor
        service = request.path_params["service"]
        if (missing := self._known(service)) is not None:
            return missing
        return await self._send(
            request, actor, lambda b: ClearComponentOverride(**b, service=service)
        )

    async def schedule_maintenance(self, request: Request) -> Response:
        actor = self._actor(request)
        if isinstance(actor, Response):
            return actor
        body = await self._body(request, MaintenanceBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, MaintenanceBody)
        for service in body.services:
            if (missing := self._known(service)) is not None:
                return missing
        if body.ends_at <= self.clock():
            return _problem(400, "invalid request", "ends_at is already past")

        def make(b: dict[str, Any]) -> Command:
            return ScheduleMaintenance(
                **b,
                maintenance_id="mnt-" + b["event_id"].removeprefix("cmd-"),
                services=tuple(dict.fromkeys(body.services)),
                title=body.title,
                body=body.body,
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                page=body.page,
            )

        return await self._send(request, actor, make)

    async def _maintenance(
        self,
        request: Request,
        action: refusal.MaintenanceAction,
        make: Callable[[dict[str, Any], BaseModel | None], Command],
        model: type[BaseModel] | None = None,
    ) -> Response:
        actor = self._actor(request)
        if isinstance(actor, Response):
            return actor
        mid = request.path_params["maintenance_id"]
        body: BaseModel | None = None
        if model is not None:
            parsed = await self._body(request, model)
            if isinstance(parsed, Response):
                return parsed
            body = parsed
        held = await self._held("/api/v1/maintenances", "maintenances", None)
        if (
            refused := await self._refused(
                request,
                actor,
                None,
                held,
                lambda rows: refusal.maintenance_command(rows, mid, action),
            )
        ) is not None:
            return refused
        return await self._send(request, actor, lambda b: make(b | {"maintenance_id": mid}, body))

    async def cancel_maintenance(self, request: Request) -> Response:
        return await self._maintenance(request, "cancel", lambda b, _: CancelMaintenance(**b))

    async def complete_maintenance(self, request: Request) -> Response:
        return await self._maintenance(request, "complete", lambda b, _: CompleteMaintenance(**b))

    async def verify_maintenance(self, request: Request) -> Response:
        """Mark a window in progress `verifying` (the work is done, being checked)."""
        return await self._maintenance(
            request,
            "verify",
            lambda b, body: VerifyMaintenance(**b, body=getattr(body, "body", "")),
            VerifyBody,
        )

    async def resolve_alert(self, request: Request) -> Response:
        actor = self._actor(request)
        if isinstance(actor, Response):
            return actor
        body = await self._body(request, AlertResolveBody)
        if isinstance(body, Response):
            return body
        assert isinstance(body, AlertResolveBody)
        if body.service is not None and (missing := self._known(body.service)) is not None:
            return missing
        fingerprint = request.path_params["fingerprint"]
        held = await self._held("/api/v1/alerts", "alerts", body.service)
        if held is None:
            # unlike the other commands, not stored blind: an unknown fingerprint without a
            # service is a command no service takes, so nothing would ever say it did nothing
            return _problem(
                503,
                "correlator unavailable",
                f"cannot ask the correlator whether alert {fingerprint} is firing",
                f"retry; check {CORRELATOR_URL_VAR} and that the correlator runs",
            )
        if (
            refused := await self._refused(
                request,
                actor,
                body.service,
                held,
                lambda rows: refusal.alert_resolve(rows, fingerprint, body.service),
            )
        ) is not None:
            return refused
        return await self._send(
            request,
            actor,
            lambda b: ResolveAlert(**b, service=body.service, fingerprint=fingerprint),
        )

    # -- reads (the correlator holds the state) ---------------------------------------------

    async def _get(self, path_and_query: str) -> tuple[int, bytes]:
        """GET from the correlator's read API; raises URLError/OSError when it cannot be reached."""
        url = self.correlator_url + path_and_query

        def fetch() -> tuple[int, bytes]:
            req = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (our own URL)
                    return resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read()

        return await asyncio.to_thread(fetch)

    async def read(self, request: Request) -> Response:
        actor = self._actor(request)
        if isinstance(actor, Response):
            return actor
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        try:
            status, data = await self._get(path)
        except (urllib.error.URLError, OSError) as exc:
            return _problem(
                503,
                "correlator unreachable",
                f"{self.correlator_url}: {exc}",
                f"check {CORRELATOR_URL_VAR} and that the correlator runs",
            )
        try:
            doc = json.loads(data)
        except ValueError:
            return _problem(503, "correlator answered no JSON", f"HTTP {status}")
        return JSONResponse(doc, status_code=status if status < 500 else 503)

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/incidents", self.open_incident, methods=["POST"]),
            Route(
                "/api/v1/incidents/{incident_id}/updates", self.update_incident, methods=["POST"]
            ),
            Route(
                "/api/v1/incidents/{incident_id}/resolve", self.resolve_incident, methods=["POST"]
            ),
            Route("/api/v1/incidents/{incident_id}/postmortem", self.postmortem, methods=["POST"]),
            Route("/api/v1/components/{service}/override", self.set_override, methods=["PUT"]),
            Route("/api/v1/components/{service}/override", self.clear_override, methods=["DELETE"]),
            Route("/api/v1/maintenances", self.schedule_maintenance, methods=["POST"]),
            Route(
                "/api/v1/maintenances/{maintenance_id}/cancel",
                self.cancel_maintenance,
                methods=["POST"],
            ),
            Route(
                "/api/v1/maintenances/{maintenance_id}/complete",
                self.complete_maintenance,
                methods=["POST"],
            ),
            Route(
                "/api/v1/maintenances/{maintenance_id}/verify",
                self.verify_maintenance,
                methods=["POST"],
            ),
            Route("/api/v1/alerts/{fingerprint}/resolve", self.resolve_alert, methods=["POST"]),
            *(
                Route(path, self.read, methods=["GET"])
                for path in (
                    "/api/v1/incidents",
                    "/api/v1/alerts",
                    "/api/v1/maintenances",
                    "/api/v1/audit",
                )
            ),
        ]
