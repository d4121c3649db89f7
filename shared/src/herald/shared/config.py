"""The configuration schema (`herald.yaml`) and its loader.

Errors point at the file and line that is wrong. Secrets are references
(`{env: NAME}` or `{file: PATH}`), resolved at load time, never logged.
"""

from __future__ import annotations

import math
import os
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from herald.shared.events import ComponentStatus, IncidentStatus
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
    escalation_policy: str | None = None
    """Id of the escalation policy paged for this service's incidents (wins over the top-level
    `escalation` selection by label)."""
    publish_after: Duration | None = None
    """A firing public alert changes the public page only once it has fired this long (one
    that resolves sooner never shows); the on-call is paged at once. None: `public.publish_after`."""
    recovery_hold: Duration | None = None
    """When the last public alert resolves, the public incident shows `monitoring` this long
    before it shows resolved. None: `public.recovery_hold`."""
    reopen_window: Duration | None = None
    """Firing again within this long of its incident resolving reopens that incident. None:
    `alerts.reopen_window`."""

    @field_validator("matchers")
    @classmethod
    def _parse_matchers(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for text in v or ():
            Matcher.parse(text)
        return v

    @field_validator("publish_after", "recovery_hold", "reopen_window")
    @classmethod
    def _not_negative(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v < timedelta(0):
            raise ValueError("must not be negative")
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


class MessageTemplate(Strict):
    """A channel's message as Jinja2 templates (rendered in a sandbox, as plain text): unset
    parts use the defaults of the channel's kind (docs/on-call.md#message-templates)."""

    title: str | None = Field(default=None, max_length=2000)
    """The one-line title (email subject, chat title, the webhook's `text`)."""
    body: str | None = Field(default=None, max_length=20000)
    """The message body (email text, chat message, the webhook's `message`)."""


class SendLimit(Strict):
    """At most `count` notifications per `per` (a sliding window); more wait their turn, none
    is dropped."""

    count: int = Field(ge=1, le=100_000)
    per: Duration


class ConsoleChannel(Strict):
    """Prints pages to the notifier's log (for demos and development)."""

    type: Literal["console"]
    template: MessageTemplate | None = None
    concurrency: int = Field(default=8, ge=1, le=64)
    rate_limit: SendLimit | None = None


class WebhookChannel(Strict):
    """POSTs a JSON document to a URL (any pager that accepts a generic webhook)."""

    type: Literal["webhook"]
    url: SecretRef
    """Disabled when the reference is `optional` and unset."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    headers: dict[str, SecretRef] = Field(default_factory=dict)
    secret: SecretRef | None = None
    """HMAC-SHA256 key: every request then carries `X-Herald-Timestamp` and
    `X-Herald-Signature: sha256=<hex>` over `<timestamp>.<body>` (docs/on-call.md#webhook)."""
    max_redirects: int = Field(default=3, ge=0, le=10)
    """3xx answers followed (the same body POSTed again); past them a 3xx is a failure."""
    template: MessageTemplate | None = None
    concurrency: int = Field(default=8, ge=1, le=64)
    """Sends at a time on this channel."""
    rate_limit: SendLimit | None = None
    """Notifications per window on this channel (default: none)."""


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
    template: MessageTemplate | None = None
    concurrency: int = Field(default=8, ge=1, le=64)
    rate_limit: SendLimit | None = None


class EmailChannel(Strict):
    """Sends email over SMTP, with STARTTLS (`security: starttls`, port 587 by default) or
    implicit TLS (`tls`, port 465); `none` (port 25) only for a relay on a trusted network.
    The recipient is the contact method's `address`, else `to`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: SecretRef | None = None
    password: SecretRef | None = None
    from_: str = Field(alias="from", min_length=3)
    """The sender address (`Herald <herald@example.com>`)."""
    to: tuple[str, ...] = ()
    """Recipients when the contact method has no `address` (a channel target, `oncall:`)."""
    ca_file: str | None = None
    """PEM file of the CAs to trust instead of the system's (a private relay)."""
    timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    """Bound of the whole send, in seconds."""
    template: MessageTemplate | None = None
    concurrency: int = Field(default=4, ge=1, le=64)
    rate_limit: SendLimit | None = None


Channel = Annotated[
    ConsoleChannel | WebhookChannel | AppriseChannel | EmailChannel, Field(discriminator="type")
]


class OnCall(Strict):
    """Who gets paged: a target and the channels it is reached through."""

    name: str = ""
    channels: tuple[str, ...] = Field(min_length=1)


# --- On-call: users, schedules, escalation policies (docs/on-call.md) -----------------------


def _time_zone(name: str) -> str:
    """`name` when it is an IANA time zone zoneinfo knows (`Europe/Berlin`), else ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as 'Europe/Berlin' or 'UTC')"
        ) from None
    return name


TimeZone = Annotated[str, Field(min_length=1), AfterValidator(_time_zone)]
"""An IANA time zone name, checked against the time zone database."""


def _local_time(v: Any) -> Any:
    # YAML 1.1 reads an unquoted 21:00 as the base-60 integer 1260 (09:00 stays a string):
    # say so rather than accept a number that is not what was meant.
    if isinstance(v, int) and not isinstance(v, bool):
        raise ValueError(
            "write a local time in quotes, e.g. '21:00' (YAML reads 21:00 as a number)"
        )
    return v


LocalTime = Annotated[time, BeforeValidator(_local_time)]
"""A wall-clock time of day (`'09:00'`), without a time zone: the schedule's applies."""

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


def _weekday(v: Any) -> Any:
    if isinstance(v, str):
        low = v.strip().lower()
        for day in WEEKDAYS:
            if low in (day, day[:3]):
                return day
    return v


DayOfWeek = Annotated[Weekday, BeforeValidator(_weekday)]
"""`monday` ... `sunday` (or `mon` ... `sun`)."""

_SHIFT = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class ContactMethod(Strict):
    """One way to reach a user: a channel plus the user's address on it."""

    channel: str
    """Id of a `channels` entry."""
    address: str | None = None
    """The user's address on that channel (an email address, an Apprise URL's target...),
    handed to the channel; None: the channel's own destination."""


class User(Strict):
    """A person who can be paged."""

    name: str = ""
    """Shown in notifications and calendars; default the user's id."""
    time_zone: TimeZone = "UTC"
    """The user's own IANA time zone (shown to them; schedules keep their own)."""
    contact_methods: tuple[ContactMethod, ...] = ()
    """How to reach them, all of which are used when they are paged."""


class Restriction(Strict):
    """A weekly window in which a layer applies (outside every window it has nobody)."""

    days: tuple[DayOfWeek, ...] = WEEKDAYS
    """Days on which the window starts (default: every day)."""
    start: LocalTime
    """Local start time (schedule's time zone)."""
    end: LocalTime
    """Local end time; at or before `start`, the window ends on the next day."""


class Rotation(Strict):
    """Participants taking turns, one shift each, from a starting point.

    `shift: daily`, `weekly` or a length in days or weeks (`2d`, `2w`) hand off at the same
    local wall-clock time (`handoff`) whatever DST does, so such a shift may last 23 or 25
    hours. A length in hours or minutes (`12h`, `8h`, `90m`) lasts exactly that much elapsed
    time, so its handoffs move by an hour of local time at a DST change."""

    shift: str
    """`daily`, `weekly`, or a length: `12h`, `90m`, `2d`, `2w`, `1d12h` ..."""
    start: date | datetime
    """When the first shift (that of the first participant) may begin: a date (local
    midnight) or a date and time (local unless it carries an offset). Before the first
    handoff at or after it, the layer has nobody."""
    handoff: LocalTime | None = None
    """Local time of day of the handoffs; default: the time of `start`."""
    handoff_day: DayOfWeek | None = None
    """For shifts a whole number of weeks long: the weekday of the handoffs; default: that of
    `start`."""

    @field_validator("shift")
    @classmethod
    def _parse_shift(cls, v: str) -> str:
        shift_length(v)
        return v

    @model_validator(mode="after")
    def _weekday_needs_weeks(self) -> Rotation:
        kind, length = shift_length(self.shift)
        if self.handoff_day is not None and not (kind == "calendar" and length.days % 7 == 0):
            raise ValueError("'handoff_day' needs a shift a whole number of weeks long")
        return self


def shift_length(text: str) -> tuple[Literal["calendar", "elapsed"], timedelta]:
    """The rule and length of a `shift:` text.

    `("calendar", N days)` for daily/weekly/`Nd`/`Nw` (handoffs at local wall-clock time),
    `("elapsed", duration)` for anything with hours or minutes (exact elapsed time)."""
    t = text.strip().lower()
    if t == "daily":
        return "calendar", timedelta(days=1)
    if t == "weekly":
        return "calendar", timedelta(days=7)
    m = _SHIFT.match(t)
    if not t or m is None:
        raise ValueError(
            f"unknown shift {text!r}: write daily, weekly or a length such as 12h, 90m, 2d, 2w"
        )
    weeks, days, hours, minutes = (int(g) if g else 0 for g in m.groups())
    length = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    if length < timedelta(minutes=15):
        raise ValueError(f"shift {text!r} is shorter than 15 minutes")
    if length > timedelta(weeks=52):
        raise ValueError(f"shift {text!r} is longer than 52 weeks")
    if hours or minutes:
        return "elapsed", length
    return "calendar", length


class Layer(Strict):
    """A rotation; a later layer wins over earlier ones wherever it has someone."""

    name: str = ""
    participants: tuple[str, ...] = Field(min_length=1)
    """User ids in turn order (a user may appear more than once)."""
    rotation: Rotation
    restrictions: tuple[Restriction, ...] = ()
    """When set, the layer applies only inside these weekly windows."""


class Override(Strict):
    """Someone taking over a schedule for a while; wins over every layer."""

    user: str
    from_: datetime = Field(alias="from")
    """Start (local to the schedule unless it carries an offset)."""
    until: datetime
    """End, exclusive."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Schedule(Strict):
    """Who is on call when: layers of rotations, then overrides on top."""

    name: str = ""
    time_zone: TimeZone = "UTC"
    """IANA time zone of the handoffs, restrictions and local datetimes."""
    layers: tuple[Layer, ...] = ()
    """Lowest first: a later layer wins wherever it has someone."""
    overrides: tuple[Override, ...] = ()
    """Win over the layers; of overlapping overrides the later-listed wins."""

    @model_validator(mode="after")
    def _overrides_ordered(self) -> Schedule:
        tz = ZoneInfo(self.time_zone)
        for ov in self.overrides:
            a, b = (d if d.tzinfo else d.replace(tzinfo=tz) for d in (ov.from_, ov.until))
            if b <= a:
                raise ValueError(f"override of {ov.user!r}: 'until' must be after 'from'")
        return self


class EscalationTarget(Strict):
    """Exactly one of: a user, a schedule (whoever is on call at that moment), a channel."""

    user: str | None = None
    schedule: str | None = None
    channel: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EscalationTarget:
        if sum(x is not None for x in (self.user, self.schedule, self.channel)) != 1:
            raise ValueError("a target is exactly one of 'user', 'schedule' or 'channel'")
        return self


class EscalationStep(Strict):
    targets: tuple[EscalationTarget, ...]
    """Who is notified at this step (at least one)."""
    wait_minutes: int = Field(default=15, ge=1, le=1440)
    """Minutes before the next step (when nobody acknowledged)."""

    @field_validator("targets")
    @classmethod
    def _some_targets(cls, v: tuple[EscalationTarget, ...]) -> tuple[EscalationTarget, ...]:
        if not v:
            raise ValueError("a step needs at least one target")
        return v


class EscalationPolicy(Strict):
    """Ordered steps, each notifying its targets then waiting, repeated up to `repeat` times."""

    name: str = ""
    steps: tuple[EscalationStep, ...]
    """At least one."""
    repeat: int = Field(default=0, ge=0, le=9)
    """How many more times the steps run after the first pass when nobody acknowledges."""
    ack_timeout_minutes: int | None = Field(default=None, ge=1, le=1440)
    """Still open this long after an acknowledgement, the escalation starts again
    (PagerDuty's default is 30); None: an acknowledgement holds until the incident resolves."""
    fallback: tuple[EscalationTarget, ...] = ()
    """Paged when a whole pass of the steps reaches nobody."""

    @field_validator("steps")
    @classmethod
    def _some_steps(cls, v: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
        # A validator rather than min_length: pydantic would also report an empty tuple
        # when one step is wrong, which misleads.
        if not v:
            raise ValueError("a policy needs at least one step")
        return v


class EscalationSelection(Strict):
    """Choosing a service's escalation policy by a label of its incident's alerts, for the
    services without an `escalation_policy` of their own."""

    by_label: str | None = None
    """Label name (e.g. `team`) whose value selects a policy in `policies`."""
    policies: dict[str, str] = Field(default_factory=dict)
    """Label value -> escalation policy id."""
    default: str | None = None
    """Policy for the services that neither name one nor match `policies`."""

    @model_validator(mode="after")
    def _label_for_policies(self) -> EscalationSelection:
        if self.policies and self.by_label is None:
            raise ValueError("'policies' needs 'by_label' (the label whose value selects one)")
        return self


_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_duration(value: object) -> object:
    """A Prometheus-style duration (`90s`, `5m`, `12h`, `1h30m`, `7d`) as a timedelta; numbers are
    seconds; anything else is left for pydantic to judge."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    m = _DURATION.match(value.strip())
    if m is None or not any(m.groups()):
        raise ValueError(f"{value!r} is not a duration (write it as 90s, 5m, 12h, 1h30m or 7d)")
    w, d, h, mi, sec, ms = (int(g) if g else 0 for g in m.groups())
    return timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=sec, milliseconds=ms)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A duration in herald.yaml: `90s`, `5m`, `12h`, `1h30m`, `7d`, or a number of seconds."""


class Alerts(Strict):
    """How Alertmanager's alert lifecycle is read (docs/alert-lifecycle.md)."""

    replay_window: Duration = timedelta(seconds=60)
    """A firing that repeats the startsAt of an alert Herald holds as resolved fires again only
    when it arrives more than this long after the resolve did (Alertmanager re-fires an alert it
    timed out with the same startsAt); within it, it is an HA peer's or a retry's late copy."""
    stale_after: Duration = timedelta(hours=12)
    """A firing alert that no notification mentions for this long expires (three of
    Alertmanager's default 4 h repeat_interval)."""
    reopen_window: Duration = timedelta(minutes=10)
    """A service whose alert fires again within this long of its incident resolving reopens
    that incident (same id, a "reopened" timeline entry, no new page) instead of opening a new
    one; per service: `services.<id>.reopen_window`. 0s: never reopen."""
    flapping: Flapping | None = None
    """Flap detection; none: off."""

    @field_validator("replay_window", "stale_after")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return v

    @field_validator("reopen_window")
    @classmethod
    def _not_negative(cls, v: timedelta) -> timedelta:
        if v < timedelta(0):
            raise ValueError("must not be negative")
        return v


class Flapping(Strict):
    """`alerts.flapping`: an alert that changes state (firing <-> resolved) more than `changes`
    times within `window` is flapping. While one flaps, its component holds the worst status of
    the window, the incident stays open (no new incident per flap) and its timeline says so
    once."""

    changes: int = Field(ge=1, le=100)
    window: Duration = timedelta(minutes=10)

    @field_validator("window")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return v


class Public(Strict):
    """`public:`: which alerts may touch the public page, and its clock (docs/alert-lifecycle.md,
    "The public page"). An alert is public when it reaches Herald through an integration with
    `public: true` AND it passes this filter."""

    matchers: tuple[str, ...] = ()
    """Alertmanager-style matchers an alert must all match to be public, e.g.
    `['customer_facing="true"']`; none: every alert."""
    severities: tuple[str, ...] | None = None
    """Values of the severity label an alert must have to be public; None: any."""
    publish_after: Duration = timedelta(0)
    """Default of `services.<id>.publish_after`."""
    recovery_hold: Duration = timedelta(0)
    """Default of `services.<id>.recovery_hold`."""

    @field_validator("matchers")
    @classmethod
    def _parse_matchers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for text in v:
            Matcher.parse(text)
        return v

    @field_validator("publish_after", "recovery_hold")
    @classmethod
    def _not_negative(cls, v: timedelta) -> timedelta:
        if v < timedelta(0):
            raise ValueError("must not be negative")
        return v

    def admits(self, labels: dict[str, str], severity_label: str) -> bool:
        """Whether an alert with `labels` may be public (its integration permitting)."""
        if self.severities is not None and labels.get(severity_label) not in self.severities:
            return False
        return all(Matcher.parse(t).matches(labels) for t in self.matchers)


DEFAULT_TEMPLATES: dict[str, str] = {
    "opened": "{{ alertname }} is firing.",
    "joined": "{{ alertname }} is firing: {{ firing }} of {{ total }} alert{{ 's' if total != 1 }}"
    " firing.",
    "recovered": "{{ alertname }} is {{ what }}: {{ resolved }} of {{ total }}"
    " alert{{ 's' if total != 1 }} resolved.",
    "closed": "{{ alertname }} is {{ what }}. {% if total == 1 %}The alert is{% else %}All"
    " {{ total }} alerts are{% endif %} resolved.",
    "monitoring": "Every customer-facing alert is resolved: monitoring.",
    "public_resolved": "Every customer-facing alert is resolved.",
    "reopened": "{{ alertname }} is firing again: the incident is reopened.",
    "flapping": "{{ alertname }} is flapping ({{ changes }} changes in {{ window }}): the status"
    " holds at its worst until it settles.",
    "body": "{{ description }}{% if alerts | length > 1 %}{% if description %}\n\n{% endif %}"
    "{{ alerts | length }} alerts:{% for a in alerts %}\n- {{ a.summary or a.alertname }}"
    "{% if a.status == 'resolved' %} (resolved){% endif %}{% endfor %}{% endif %}",
}
"""The default timeline texts (Jinja2, rendered sandboxed; what each may use: docs/configuration.md)."""


def _template(text: str) -> str:
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    try:
        SandboxedEnvironment(autoescape=False).from_string(text)
    except TemplateSyntaxError as exc:
        raise ValueError(
            f"not a valid template: {exc.message} (template line {exc.lineno})"
        ) from None
    return text


Template = Annotated[str, Field(max_length=4096), AfterValidator(_template)]


class Timeline(Strict):
    """`timeline:`: the texts of an incident's timeline entries and its body, as Jinja2
    templates (sandboxed; their output is untrusted text, escaped by the page)."""

    opened: Template = DEFAULT_TEMPLATES["opened"]
    joined: Template = DEFAULT_TEMPLATES["joined"]
    recovered: Template = DEFAULT_TEMPLATES["recovered"]
    closed: Template = DEFAULT_TEMPLATES["closed"]
    monitoring: Template = DEFAULT_TEMPLATES["monitoring"]
    public_resolved: Template = DEFAULT_TEMPLATES["public_resolved"]
    reopened: Template = DEFAULT_TEMPLATES["reopened"]
    flapping: Template = DEFAULT_TEMPLATES["flapping"]
    body: Template = DEFAULT_TEMPLATES["body"]


class IncidentTemplate(Strict):
    """One of `incident_templates:`: a named text for updates by hand (`herald incident open|update
    --template NAME`), rendered by the correlator with the incident's data (sandboxed; what it
    may use: docs/configuration.md)."""

    status: IncidentStatus | None = None
    """The incident's status the update sets when the request names none; None: as the request
    says (open: investigating; update: unchanged)."""
    body: Template
    """The update's text (at most 8192 characters once rendered)."""


class PageLink(Strict):
    """A link in the status page's header (your site, support, ...)."""

    name: str = Field(min_length=1, max_length=100)
    url: str = Field(pattern=r"^(https?://|/)")
    """http(s) or a path on the page's site: never javascript: or data: (the page's CSP)."""


class Page(Strict):
    title: str = "Status"
    url: str = ""
    """Public URL of the page (links in notifications and the JSON API)."""
    history_size: int = Field(default=10, ge=0, le=200)
    """How many resolved incidents per service the page keeps showing."""
    history_days: int = Field(default=90, ge=1, le=400)
    """How long the page's history is kept in Redis (component status changes for the uptime
    bars, resolved incidents for the history page), in days; older entries are trimmed."""
    history_incidents: int = Field(default=1000, ge=1, le=100000)
    """At most this many resolved incidents per service are kept in the history (the oldest go
    first), so a noisy service cannot grow Redis without bound."""
    history_changes: int = Field(default=20000, ge=10, le=1000000)
    """At most this many component status changes per service are kept (the oldest go first)."""
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    """The page's language when the reader's Accept-Language names none the page ships
    (`en`, `de`)."""
    logo: str = Field(default="", pattern=r"^(|/static/.*|/[^/].*)$")
    """Path of a logo served by the page's own origin (the CSP allows no other), or empty."""
    links: tuple[PageLink, ...] = ()
    """Links shown in the page's header."""


class Notifier(Strict):
    """`notifier:`: acknowledge links, the notifier's API and its public address."""

    public_url: str = ""
    """Where people reach the notifier (the base of acknowledge links and calendar URLs), e.g.
    `https://herald.example.com/notifier`; empty: `HERALD_NOTIFIER_URL`, else no links."""
    ack_secret: SecretRef | None = None
    """The HMAC key signing acknowledge links; unset: `HERALD_ACK_SECRET`, else pages carry
    no links (and the link routes answer 404)."""
    ack_link_minutes: int = Field(default=24 * 60, ge=5, le=30 * 24 * 60)
    """How long an acknowledge link stays valid."""
    resolve_links: bool = False
    """Also put a resolve link in pages (the correlator resolves the incident)."""
    api_tokens: dict[Id, SecretRef] | tuple[SecretRef, ...] = ()
    """Bearer tokens of the notifier's API (`POST /api/incidents/{id}/ack`, the on-call, failed
    deliveries, subscribers; any one of them): named (name -> secret reference, so that an
    acknowledgement by API records who made it, as the admin API's tokens do) or a list of
    unnamed ones; none: `HERALD_API_TOKEN`, else those routes answer 503."""
    throttle: tuple[SendLimit, ...] = (
        SendLimit(count=3, per=timedelta(minutes=1)),
        SendLimit(count=12, per=timedelta(minutes=15)),
    )
    """Per contact method (a channel and an address): at most this many notifications in each
    window, across replicas; more wait their turn (delayed, never dropped). As GoAlert does,
    so that a burst of updates does not buzz a person for each. Pages (an incident opened, an
    escalation step) are never held back by it, only the notices after them (resolved,
    acknowledged, worse). `[]`: no throttle."""


class Admin(Strict):
    """`admin:`: the admin API of ingest (`/api/v1/...`, `herald incident ...`)."""

    tokens: dict[Id, SecretRef] = Field(default_factory=dict)
    """Named bearer tokens (name -> secret reference): every command records the name of the
    token that sent it. None: the admin API answers 503 (ingest also accepts
    `HERALD_DEMO_ADMIN_TOKEN` as the token `demo` when set, as `make run` does)."""


class Maintenance(Strict):
    """`maintenance:`: how maintenance windows treat alerts."""

    breakthrough_severities: tuple[str, ...] = ("critical",)
    """Severity label values that still show on the page and page the on-call during a
    window: a real outage never hides behind a maintenance."""


class Heartbeat(Strict):
    """`heartbeat:`: the dead man's switch (Alertmanager's always-firing Watchdog alert)."""

    matchers: tuple[str, ...] = ('alertname="Watchdog"',)
    """Alerts matching all of these only refresh the heartbeat (never an incident, never on
    the page)."""
    interval: Duration = timedelta(minutes=5)
    """No heartbeat for this long opens the internal incident "Alerting pipeline silent"."""
    service: str | None = None
    """The service whose on-call that incident pages (an internal incident: never on the
    public page); None: the switch is off."""

    def parsed_matchers(self) -> tuple[Matcher, ...]:
        return tuple(Matcher.parse(t) for t in self.matchers)


class Smtp(Strict):
    """`subscribers.smtp:`: the mail server subscriber mail goes through, said as an email
    channel says it (the notifier sends both through one SMTP sender)."""

    host: str = "localhost"
    port: int | None = Field(default=None, ge=1, le=65535)
    """None: 587 for `starttls`, 465 for `tls`, 25 for `none`."""
    security: Literal["starttls", "tls", "none"] = "starttls"
    """`starttls` upgrades the session before AUTH (a server without STARTTLS is refused),
    `tls` is TLS from the first byte, `none` is plain (a relay on a trusted network only)."""
    username: SecretRef | None = None
    password: SecretRef | None = None
    ca_file: str | None = None
    """PEM file of the CAs to trust instead of the system's (a private relay)."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)


class Subscribers(Strict):
    """`subscribers:`: people and systems told about public incidents (docs/subscribers.md).
    Sign-up is the status page's, sending the notifier's, the list lives in Redis."""

    enabled: bool = False
    secret: SecretRef | None = None
    """The HMAC key of confirmation and unsubscribe links and of webhook signatures; unset:
    `HERALD_SUBSCRIBERS_SECRET`; neither: sign-up answers 404 and nothing is sent."""
    public_url: str = ""
    """Where readers reach the status page (the base of links in messages); empty: `page.url`."""
    sender: str = ""
    """The From: of subscriber mail, e.g. `Acme Status <status@example.com>`."""
    smtp: Smtp = Field(default_factory=Smtp)
    email: bool = True
    """Offer sign-up by email address (double opt-in)."""
    webhooks: bool = True
    """Offer sign-up by webhook URL (verified with a challenge)."""
    private_webhooks: bool = False
    """Allow webhook URLs on loopback, private or link-local addresses (off: the notifier never
    posts into its own network for a stranger)."""
    confirm_within: Duration = timedelta(hours=24)
    """How long a confirmation link stays valid."""
    coalesce: Duration = timedelta(minutes=5)
    """At most one message per subscriber per incident this often; the resolve always goes."""
    signups_per_ip: int = Field(default=10, ge=1, le=10_000)
    """Sign-ups accepted from one client address per hour (more: 429)."""
    signups_per_address: int = Field(default=3, ge=1, le=100)
    """Confirmation messages sent to one address per day (more are silently dropped: the
    answer stays the same, so nobody learns whether an address is known)."""

    @field_validator("confirm_within", "coalesce")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return v


class HeraldConfig(Strict):
    """The root of herald.yaml."""

    page: Page = Field(default_factory=Page)
    alerts: Alerts = Field(default_factory=Alerts)
    integrations: dict[Id, Integration] = Field(default_factory=dict)
    groups: dict[Id, Group] = Field(default_factory=dict)
    services: dict[Id, Service] = Field(default_factory=dict)
    severity: Severity = Field(default_factory=Severity)
    oncall: dict[Id, OnCall] = Field(default_factory=dict)
    channels: dict[Id, Channel] = Field(default_factory=dict)
    users: dict[Id, User] = Field(default_factory=dict)
    schedules: dict[Id, Schedule] = Field(default_factory=dict)
    escalation_policies: dict[Id, EscalationPolicy] = Field(default_factory=dict)
    escalation: EscalationSelection = Field(default_factory=EscalationSelection)
    notifier: Notifier = Field(default_factory=Notifier)
    public: Public = Field(default_factory=Public)
    timeline: Timeline = Field(default_factory=Timeline)
    incident_templates: dict[Id, IncidentTemplate] = Field(default_factory=dict)
    """Named texts for updates by hand (`--template NAME`)."""
    subscribers: Subscribers = Field(default_factory=Subscribers)
    admin: Admin = Field(default_factory=Admin)
    maintenance: Maintenance = Field(default_factory=Maintenance)
    heartbeat: Heartbeat = Field(default_factory=Heartbeat)

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
        problems.extend(self._oncall_reference_problems())
        hb = self.heartbeat.service
        if hb is not None and hb not in self.services:
            problems.append((("heartbeat", "service"), f"unknown service {hb!r}"))
        return problems

    def _oncall_reference_problems(self) -> list[tuple[tuple[str, ...], str]]:
        """Users, schedules, escalation policies and their references."""
        problems: list[tuple[tuple[str, ...], str]] = []

        def check(loc: tuple[str, ...], kind: str, name: str | None, known: dict[str, Any]) -> None:
            if name is not None and name not in known:
                problems.append((loc, f"unknown {kind} {name!r}"))

        loc: tuple[str, ...]
        for sid, svc in self.services.items():
            loc = ("services", sid, "escalation_policy")
            check(loc, "escalation policy", svc.escalation_policy, self.escalation_policies)
        for uid, user in self.users.items():
            for i, cm in enumerate(user.contact_methods):
                loc = ("users", uid, "contact_methods", str(i), "channel")
                check(loc, "channel", cm.channel, self.channels)
        for sid, sched in self.schedules.items():
            for li, layer in enumerate(sched.layers):
                for pi, p in enumerate(layer.participants):
                    loc = ("schedules", sid, "layers", str(li), "participants", str(pi))
                    check(loc, "user", p, self.users)
            for oi, ov in enumerate(sched.overrides):
                check(("schedules", sid, "overrides", str(oi), "user"), "user", ov.user, self.users)
        for pid, pol in self.escalation_policies.items():
            where = [
                (("escalation_policies", pid, "steps", str(si), "targets", str(ti)), t)
                for si, step in enumerate(pol.steps)
                for ti, t in enumerate(step.targets)
            ] + [
                (("escalation_policies", pid, "fallback", str(ti)), t)
                for ti, t in enumerate(pol.fallback)
            ]
            for loc, t in where:
                check((*loc, "user"), "user", t.user, self.users)
                check((*loc, "schedule"), "schedule", t.schedule, self.schedules)
                check((*loc, "channel"), "channel", t.channel, self.channels)
        sel = self.escalation
        check(("escalation", "default"), "escalation policy", sel.default, self.escalation_policies)
        for value, pid in sel.policies.items():
            check(
                ("escalation", "policies", value),
                "escalation policy",
                pid,
                self.escalation_policies,
            )
        return problems

    def publish_after(self, service_id: str) -> timedelta:
        svc = self.services.get(service_id)
        value = svc.publish_after if svc is not None else None
        return self.public.publish_after if value is None else value

    def recovery_hold(self, service_id: str) -> timedelta:
        svc = self.services.get(service_id)
        value = svc.recovery_hold if svc is not None else None
        return self.public.recovery_hold if value is None else value

    def reopen_window(self, service_id: str) -> timedelta:
        svc = self.services.get(service_id)
        value = svc.reopen_window if svc is not None else None
        return self.alerts.reopen_window if value is None else value

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
    for name, ref in config.admin.tokens.items():
        check(f"admin.tokens.{name}", ref)
    for cid, ch in config.channels.items():
        if isinstance(ch, WebhookChannel):
            check(f"channels.{cid}.url", ch.url)
            for name, ref in ch.headers.items():
                check(f"channels.{cid}.headers.{name}", ref)
            if ch.secret is not None:
                check(f"channels.{cid}.secret", ch.secret)
        elif isinstance(ch, AppriseChannel):
            for n, ref in enumerate(ch.urls):
                check(f"channels.{cid}.urls.{n}", ref)
        elif isinstance(ch, EmailChannel):
            for name, opt in (("username", ch.username), ("password", ch.password)):
                if opt is not None:
                    check(f"channels.{cid}.{name}", opt)
    check("subscribers.secret", config.subscribers.secret)
    check("subscribers.smtp.username", config.subscribers.smtp.username)
    check("subscribers.smtp.password", config.subscribers.smtp.password)
    return problems
