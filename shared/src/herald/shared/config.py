"""The configuration schema (`herald.yaml`) and its loader.

Errors point at the file and line that is wrong. Secrets are references
(`{env: NAME}` or `{file: PATH}`), resolved at load time, never logged.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from herald.shared.events import ComponentStatus
from herald.shared.matchers import Matcher
from herald.shared.secret import SecretRef

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=63)]


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _as_tuple(refs: SecretRef | tuple[SecretRef, ...]) -> tuple[SecretRef, ...]:
    return refs if isinstance(refs, tuple) else (refs,)


class BearerAuth(Strict):
    """Alertmanager `http_config.authorization`: header `Authorization: <type> <credentials>`."""

    type: str = "Bearer"
    credentials: SecretRef | tuple[SecretRef, ...]
    """One secret, or a list of them (any one is accepted: rotate without a gap)."""

    @field_validator("credentials")
    @classmethod
    def _some_credentials(
        cls, v: SecretRef | tuple[SecretRef, ...]
    ) -> SecretRef | tuple[SecretRef, ...]:
        if isinstance(v, tuple) and not v:
            raise ValueError("list at least one secret")
        return v

    def all_credentials(self) -> tuple[SecretRef, ...]:
        return _as_tuple(self.credentials)


class BasicAuth(Strict):
    """Alertmanager `http_config.basic_auth`."""

    username: str
    password: SecretRef | tuple[SecretRef, ...]
    """One secret, or a list of them (any one is accepted: rotate without a gap)."""

    @field_validator("password")
    @classmethod
    def _some_passwords(
        cls, v: SecretRef | tuple[SecretRef, ...]
    ) -> SecretRef | tuple[SecretRef, ...]:
        if isinstance(v, tuple) and not v:
            raise ValueError("list at least one secret")
        return v

    def all_passwords(self) -> tuple[SecretRef, ...]:
        return _as_tuple(self.password)


class RateLimit(Strict):
    """A token bucket per inbound token: `burst` requests at once, refilled at `per_second`."""

    per_second: float = Field(gt=0, le=1_000_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    """Default: `per_second` rounded up."""

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else max(1, math.ceil(self.per_second))


class Integration(Strict):
    """An inbound webhook: Alertmanager POSTs to /hooks/inbound/<token>."""

    type: Literal["alertmanager"] = "alertmanager"
    token: SecretRef | None = None
    """The path token selecting this integration (also the PagerDuty `routing_key`)."""
    tokens: tuple[SecretRef, ...] = ()
    """More live tokens beside `token` (any one is accepted: rotate without a gap)."""
    authorization: BearerAuth | None = None
    """When set, the Authorization header must carry these credentials too."""
    basic_auth: BasicAuth | None = None
    public: bool = True
    """False: alerts from this integration page on-call but never touch the public page."""
    rate_limit: RateLimit | None = None
    """Requests per second accepted per token (none: unlimited); past it ingest answers 503."""

    @model_validator(mode="after")
    def _one_auth(self) -> Integration:
        if self.authorization is not None and self.basic_auth is not None:
            raise ValueError("set either 'authorization' or 'basic_auth', not both")
        if self.token is None and not self.tokens:
            raise ValueError("set 'token' or 'tokens' (or both)")
        return self

    def all_tokens(self) -> tuple[tuple[str, SecretRef], ...]:
        """(where in the config, reference) of every token, `token` first."""
        found = [("token", self.token)] if self.token is not None else []
        found += [(f"tokens.{i}", ref) for i, ref in enumerate(self.tokens)]
        return tuple(found)


class Group(Strict):
    name: str
    description: str = ""


class Service(Strict):
    """A component of the status page."""

    name: str
    description: str = ""
    group: str | None = None
    matchers: tuple[str, ...] | None = None
    """Alertmanager-style matchers, all of which must match; default `service="<id>"`."""
    oncall: str | None = None
    """Id of the on-call target paged for this service's incidents."""

    @field_validator("matchers")
    @classmethod
    def _parse_matchers(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for text in v or ():
            Matcher.parse(text)
        return v


class Severity(Strict):
    """Severity label -> component status."""

    label: str = "severity"
    map: dict[str, ComponentStatus] = Field(
        default_factory=lambda: {
            "critical": ComponentStatus.MAJOR_OUTAGE,
            "error": ComponentStatus.PARTIAL_OUTAGE,
            "warning": ComponentStatus.DEGRADED_PERFORMANCE,
        }
    )
    default: ComponentStatus = ComponentStatus.DEGRADED_PERFORMANCE
    """For a firing alert whose severity is missing or not in `map`."""


class ConsoleChannel(Strict):
    """Prints pages to the notifier's log (for demos and development)."""

    type: Literal["console"]


class WebhookChannel(Strict):
    """POSTs a JSON document to a URL (any pager that accepts a generic webhook)."""

    type: Literal["webhook"]
    url: SecretRef
    """Disabled when the reference is `optional` and unset."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    headers: dict[str, SecretRef] = Field(default_factory=dict)


class AppriseChannel(Strict):
    """Sends through Apprise (https://github.com/caronc/apprise): Slack, Microsoft Teams,
    Discord, email, PagerDuty, Opsgenie, Telegram, ntfy, Matrix, generic `json://` and more,
    each written as an Apprise URL (`slack://...`, `pagerduty://...`, `mailtos://...`).

    Apprise URLs embed credentials, so each one is a secret reference (`{env: X}` /
    `{file: P}`); the notifier checks every URL at start and never logs them. One that is
    `optional` and unset is skipped; the channel is disabled when none is set. All URLs of a
    channel are sent together and retried together."""

    type: Literal["apprise"]
    urls: tuple[SecretRef, ...] = Field(min_length=1)
    """Apprise URLs, one service each."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    """Bound of the whole send (every URL), in seconds."""


Channel = Annotated[ConsoleChannel | WebhookChannel | AppriseChannel, Field(discriminator="type")]


class OnCall(Strict):
    """Who gets paged: a target and the channels it is reached through."""

    name: str = ""
    channels: tuple[str, ...] = Field(min_length=1)


class Page(Strict):
    title: str = "Status"
    url: str = ""
    """Public URL of the page (links in notifications and the JSON API)."""
    history_size: int = Field(default=10, ge=0, le=200)
    """How many resolved incidents per service the page keeps showing."""


class HeraldConfig(Strict):
    """The root of herald.yaml."""

    page: Page = Field(default_factory=Page)
    integrations: dict[Id, Integration] = Field(default_factory=dict)
    groups: dict[Id, Group] = Field(default_factory=dict)
    services: dict[Id, Service] = Field(default_factory=dict)
    severity: Severity = Field(default_factory=Severity)
    oncall: dict[Id, OnCall] = Field(default_factory=dict)
    channels: dict[Id, Channel] = Field(default_factory=dict)

    def reference_problems(self) -> list[tuple[tuple[str, ...], str]]:
        """Names that point at nothing: (location, message) pairs; empty when all resolve."""
        problems: list[tuple[tuple[str, ...], str]] = []
        for sid, svc in self.services.items():
            if svc.group is not None and svc.group not in self.groups:
                problems.append((("services", sid, "group"), f"unknown group {svc.group!r}"))
            if svc.oncall is not None and svc.oncall not in self.oncall:
                problems.append(
                    (("services", sid, "oncall"), f"unknown on-call target {svc.oncall!r}")
                )
        for oid, target in self.oncall.items():
            for i, ch in enumerate(target.channels):
                if ch not in self.channels:
                    problems.append(
                        (("oncall", oid, "channels", str(i)), f"unknown channel {ch!r}")
                    )
        return problems

    def service_matchers(self, service_id: str) -> tuple[Matcher, ...]:
        """The parsed matchers routing alerts to `service_id`."""
        svc = self.services[service_id]
        texts = svc.matchers if svc.matchers is not None else (f'service="{service_id}"',)
        return tuple(Matcher.parse(t) for t in texts)


class ConfigError(ValueError):
    """The configuration is wrong; `str()` names the file, line and field."""


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at pydantic location `loc` (as deep as it exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key, value in node.value:
                if key.value == str(part):
                    nxt = value
                    break
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def parse_config(text: str, source: str = "<config>") -> HeraldConfig:
    """Validate YAML text; ConfigError lists every problem as `source:line: field: message`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) if node is not None else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the configuration must be a mapping")
    problems: list[tuple[tuple[int | str, ...], str]] = []
    try:
        config = HeraldConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            problems.append((tuple(err["loc"]), msg))
    else:
        problems.extend(config.reference_problems())
        if not problems:
            return config
    lines = []
    for loc, msg in problems:
        path = tuple(int(p) if isinstance(p, str) and p.isdigit() else p for p in loc)
        field = ".".join(str(p) for p in loc) or "(root)"
        lines.append(f"{source}:{_line_of(node, path) or 1}: {field}: {msg}")
    raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def load_config(path: str | os.PathLike[str]) -> HeraldConfig:
    """Read and validate a config file; ConfigError says what and where."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the configuration: {exc.strerror}") from None
    return parse_config(text, str(p))


def _listed(key: str, refs: SecretRef | tuple[SecretRef, ...]) -> list[tuple[str, SecretRef]]:
    if isinstance(refs, tuple):
        return [(f"{key}.{n}", ref) for n, ref in enumerate(refs)]
    return [(key, refs)]


def resolve_secrets_check(config: HeraldConfig, environ: dict[str, str] | None = None) -> list[str]:
    """Problems resolving the config's required secrets (empty when all resolve)."""
    problems: list[str] = []

    def check(where: str, ref: SecretRef | None) -> None:
        if ref is None:
            return
        try:
            ref.resolve(environ)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")

    for iid, integ in config.integrations.items():
        for where, ref in integ.all_tokens():
            check(f"integrations.{iid}.{where}", ref)
        if integ.authorization:
            for where, ref in _listed("credentials", integ.authorization.credentials):
                check(f"integrations.{iid}.authorization.{where}", ref)
        if integ.basic_auth:
            for where, ref in _listed("password", integ.basic_auth.password):
                check(f"integrations.{iid}.basic_auth.{where}", ref)
    for cid, ch in config.channels.items():
        if isinstance(ch, WebhookChannel):
            check(f"channels.{cid}.url", ch.url)
            for name, ref in ch.headers.items():
                check(f"channels.{cid}.headers.{name}", ref)
        elif isinstance(ch, AppriseChannel):
            for n, ref in enumerate(ch.urls):
                check(f"channels.{cid}.urls.{n}", ref)
    return problems
