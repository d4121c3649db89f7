"""Escalation: what to notify for an incident now, and when to look again (pure).

An escalation is a value (`EscalationState`) that the caller stores and hands back; every
function returns a new one and never looks at a clock (`now` is a parameter). The caller
keeps a durable timer at `state.due_at` and calls `advance` when it is due; calling it early,
or twice for the same due time, notifies nobody (the state only moves when it is due), so a
timer that fires twice pages once as long as the state is stored atomically with the claim.

The rules (after GoAlert's escalation manager and PagerDuty's policies):

- `start`: step 0 is due at once.
- `advance` at the due time runs the next step: its targets are resolved to contact methods
  (a schedule through whoever is on call at `now`); the step's `wait_minutes` later the next
  step is due. A step that resolves to nobody is skipped at once, and the decision says why.
- After the last step's wait, the steps run again from the first, `repeat` more times; then
  the escalation is exhausted (`Decision.exhausted`), nothing more is due.
- A pass of the steps that reached nobody at all pages the policy's `fallback` (and the next
  pass, if any, runs after the last step's wait, so that a shift change may bring someone).
- `acknowledge` stops it; with `ack_timeout_minutes`, an incident still open that long after
  the acknowledgement starts the escalation again from step 0 (`Decision.restarted`).
- `resolve` stops it for good.

A step runs once per due time: a notifier that comes back late runs the one step that is due
(not every step it missed) and waits that step's time from `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from herald.notifier.schedule import on_call
from herald.shared.config import EscalationPolicy, EscalationStep, EscalationTarget, HeraldConfig

ONCALL_POLICY_PREFIX = "oncall:"
"""Policy ids of the one-step policies standing for legacy `oncall:` targets."""


@dataclass(frozen=True)
class EscalationState:
    """Where one incident's escalation stands; stored by the caller between calls."""

    policy: str
    """Escalation policy id."""
    started_at: datetime
    """When this escalation began (or last began again after an acknowledgement timed out)."""
    due_at: datetime | None
    """When `advance` must run next; None: nothing is due (acknowledged without a timeout,
    resolved, or exhausted)."""
    step: int = 0
    """Index of the next step to run; `len(steps)`: the current pass is over."""
    repeat: int = 0
    """Passes already completed (0 during the first pass)."""
    reached: bool = False
    """Whether the current pass has notified anyone yet."""
    notified_step: int | None = None
    """The last step that notified someone (for paging the holders again)."""
    acked_at: datetime | None = None
    resolved_at: datetime | None = None
    received_at: datetime | None = None
    """When ingest received the alert that opened the incident (for the paging latency)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (instants as ISO 8601 strings): what a store keeps."""
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EscalationState:
        """The inverse of `to_json`."""

        def when(key: str) -> datetime | None:
            v = data.get(key)
            return datetime.fromisoformat(v) if v is not None else None

        started = when("started_at")
        if started is None:
            raise ValueError("an escalation state needs 'started_at'")
        notified = data.get("notified_step")
        return cls(
            policy=str(data["policy"]),
            started_at=started,
            due_at=when("due_at"),
            step=int(data.get("step", 0)),
            repeat=int(data.get("repeat", 0)),
            reached=bool(data.get("reached", False)),
            notified_step=int(notified) if notified is not None else None,
            acked_at=when("acked_at"),
            resolved_at=when("resolved_at"),
            received_at=when("received_at"),
        )


@dataclass(frozen=True)
class Notification:
    """One destination to notify now."""

    channel: str
    """Channel id."""
    address: str | None = None
    """The user's address on that channel (None: the channel's own destination)."""
    user: str | None = None
    """The user reached (None for a channel target)."""
    via: str = ""
    """What led to them: `schedule:primary`, `user:alice`, `channel:console`, each prefixed
    with `fallback ` when the fallback paged them."""
    step: int | None = None
    """The step's index; None for the fallback."""


@dataclass(frozen=True)
class Skipped:
    """A step that resolved to nobody, moved past at once."""

    step: int
    reasons: tuple[str, ...]
    """Why each target reached nobody, for the log and the incident's timeline."""


@dataclass(frozen=True)
class Decision:
    """What `advance` (and the others) decided: the new state and what to do now."""

    state: EscalationState
    """Store this; run `advance` again at `state.due_at`."""
    notify: tuple[Notification, ...] = ()
    """Destinations to notify now, without repeats."""
    skipped: tuple[Skipped, ...] = ()
    """Steps that reached nobody and were passed over at once."""
    fallback: bool = False
    """A whole pass reached nobody: the fallback is among `notify` (when it reaches anyone)."""
    unreached: tuple[str, ...] = ()
    """Why the fallback reached nobody either (empty unless it was paged and reached nobody):
    this incident reached no one, which deserves an alert of its own."""
    exhausted: bool = False
    """Every step ran `1 + repeat` times and nobody acknowledged: nothing more is due."""
    restarted: bool = False
    """The acknowledgement timed out and the escalation began again."""
    problem: str | None = None
    """Why nothing could be done (the policy is no longer configured)."""


def policy_for(config: HeraldConfig, service_id: str, labels: Mapping[str, str]) -> str | None:
    """The escalation policy id for a service's incident: the service's own
    `escalation_policy`, else the top-level `escalation` selection by the value of its
    `by_label` among `labels` (the incident's alert labels), else `escalation.default`; None:
    the service has no policy (the legacy `oncall:` target still applies)."""
    svc = config.services.get(service_id)
    if svc is not None and svc.escalation_policy is not None:
        return svc.escalation_policy
    sel = config.escalation
    if sel.by_label is not None:
        value = labels.get(sel.by_label)
        if value is not None and value in sel.policies:
            return sel.policies[value]
    return sel.default


def oncall_policy_for(config: HeraldConfig, service_id: str) -> str | None:
    """The one-step policy standing for `service_id`'s legacy `oncall:` target, if it has one
    (see `with_oncall_policies`)."""
    svc = config.services.get(service_id)
    if svc is None or svc.oncall is None or svc.oncall not in config.oncall:
        return None
    return ONCALL_POLICY_PREFIX + svc.oncall


def with_oncall_policies(config: HeraldConfig) -> HeraldConfig:
    """`config` with one policy per `oncall:` target: a single step notifying its channels,
    never repeated. A legacy target is then paged like an escalation (durable timers, leases,
    each destination on its own lane) without a change to its configuration."""
    extra = {
        ONCALL_POLICY_PREFIX + oid: EscalationPolicy(
            name=target.name or oid,
            steps=(
                EscalationStep(
                    targets=tuple(EscalationTarget(channel=c) for c in target.channels),
                    wait_minutes=1,
                ),
            ),
        )
        for oid, target in config.oncall.items()
    }
    if not extra:
        return config
    policies = {**config.escalation_policies, **extra}
    return config.model_copy(update={"escalation_policies": policies})


def start(policy_id: str, now: datetime) -> EscalationState:
    """A new escalation for a newly opened incident: its first step is due at once."""
    return EscalationState(policy=policy_id, started_at=now, due_at=now)


def acknowledge(config: HeraldConfig, state: EscalationState, now: datetime) -> EscalationState:
    """Someone acknowledged: nothing more is due, unless the policy has an ack timeout (then
    the escalation begins again that long after, if still open). A later acknowledgement
    starts the timeout again. No effect once resolved."""
    if state.resolved_at is not None:
        return state
    policy = config.escalation_policies.get(state.policy)
    timeout = policy.ack_timeout_minutes if policy is not None else None
    due = now + timedelta(minutes=timeout) if timeout is not None else None
    return replace(state, acked_at=now, due_at=due)


def resolve(state: EscalationState, now: datetime) -> EscalationState:
    """The incident resolved: the escalation stops for good."""
    if state.resolved_at is not None:
        return state
    return replace(state, resolved_at=now, due_at=None)


def advance(config: HeraldConfig, state: EscalationState, now: datetime) -> Decision:
    """Run what is due at `now`: the next step (past any that reach nobody), a repeat, the
    fallback, or a restart after an acknowledgement timed out. Not due yet: nothing."""
    if state.resolved_at is not None or state.due_at is None or now < state.due_at:
        return Decision(state=state)
    policy = config.escalation_policies.get(state.policy)
    if policy is None:
        return Decision(
            state=replace(state, due_at=None),
            problem=f"escalation policy {state.policy!r} is not configured",
        )
    restarted = False
    if state.acked_at is not None:  # due while acknowledged: the ack timed out
        state = EscalationState(policy=state.policy, started_at=now, due_at=now)
        restarted = True
    skipped: list[Skipped] = []
    # Each turn runs one step or ends one pass; bounded in case every step reaches nobody.
    for _ in range((len(policy.steps) + 1) * (policy.repeat + 2)):
        if state.step >= len(policy.steps):
            decision = _end_of_pass(config, policy, state, now, skipped, restarted)
            if decision is not None:
                return decision
            state = replace(state, step=0, repeat=state.repeat + 1, reached=False)
            continue
        index = state.step
        step = policy.steps[index]
        notify, reasons = resolve_targets(config, step.targets, now, step=index)
        if notify:
            due = now + timedelta(minutes=step.wait_minutes)
            state = replace(state, step=index + 1, reached=True, notified_step=index, due_at=due)
            return Decision(state, notify=notify, skipped=tuple(skipped), restarted=restarted)
        skipped.append(Skipped(step=index, reasons=reasons))
        state = replace(state, step=index + 1)
    raise AssertionError("unreachable: every pass ends")  # pragma: no cover


def _end_of_pass(
    config: HeraldConfig,
    policy: EscalationPolicy,
    state: EscalationState,
    now: datetime,
    skipped: list[Skipped],
    restarted: bool,
) -> Decision | None:
    """At the end of a pass: the Decision to return, or None to run the next pass now."""
    more = state.repeat < policy.repeat
    if state.reached:
        if more:
            return None
        done = replace(state, due_at=None)
        return Decision(done, skipped=tuple(skipped), exhausted=True, restarted=restarted)
    # The whole pass reached nobody: the fallback, then (if any) the next pass after the
    # last step's wait, so that a shift change or an override may bring someone.
    notify, reasons = resolve_targets(config, policy.fallback, now, step=None)
    if not policy.fallback:
        reasons = (f"escalation policy {state.policy!r} has no fallback",)
    if more:
        wait = timedelta(minutes=policy.steps[-1].wait_minutes)
        nxt = replace(state, step=0, repeat=state.repeat + 1, reached=False, due_at=now + wait)
    else:
        nxt = replace(state, due_at=None)
    return Decision(
        nxt,
        notify=notify,
        skipped=tuple(skipped),
        fallback=True,
        unreached=() if notify else reasons,
        exhausted=not more,
        restarted=restarted,
    )


def holders(
    config: HeraldConfig, state: EscalationState, now: datetime
) -> tuple[Notification, ...]:
    """Who holds the incident now: the last step that notified someone, resolved at `now`
    (for paging them again when the incident gets worse). Empty before any step reached
    anyone."""
    policy = config.escalation_policies.get(state.policy)
    if policy is None or state.notified_step is None or state.notified_step >= len(policy.steps):
        return ()
    step = policy.steps[state.notified_step]
    return resolve_targets(config, step.targets, now, step=state.notified_step)[0]


def resolve_targets(
    config: HeraldConfig, targets: Iterable[EscalationTarget], now: datetime, step: int | None
) -> tuple[tuple[Notification, ...], tuple[str, ...]]:
    """The destinations of `targets` at `now` (schedules through who is on call then),
    without repeats, and why each target that reached nobody did."""
    out: dict[tuple[str, str | None], Notification] = {}
    reasons: list[str] = []
    prefix = "" if step is not None else "fallback "

    def user(uid: str, via: str, holding: str = "") -> None:
        u = config.users.get(uid)
        if u is None or not u.contact_methods:
            what = "is not configured" if u is None else "has no contact methods"
            reasons.append(f"user {uid!r}{holding} {what}")
            return
        for cm in u.contact_methods:
            n = Notification(cm.channel, cm.address, uid, prefix + via, step)
            out.setdefault((cm.channel, cm.address), n)

    for t in targets:
        if t.channel is not None:
            if t.channel in config.channels:
                n = Notification(t.channel, None, None, f"{prefix}channel:{t.channel}", step)
                out.setdefault((t.channel, None), n)
            else:
                reasons.append(f"unknown channel {t.channel!r}")
        elif t.user is not None:
            user(t.user, f"user:{t.user}")
        elif t.schedule is not None:
            sched = config.schedules.get(t.schedule)
            if sched is None:
                reasons.append(f"unknown schedule {t.schedule!r}")
                continue
            uid = on_call(sched, now)
            if uid is None:
                reasons.append(f"schedule {t.schedule!r} has nobody on call")
                continue
            user(uid, f"schedule:{t.schedule}", f" (on call for schedule {t.schedule!r})")
    return tuple(out.values()), tuple(reasons)
