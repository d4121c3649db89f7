"""Stream, subject and durable-consumer names: each written once, here.

Streams are upper-case single tokens; subjects are lower-case and dotted;
durable consumers are named after the service that owns them.
"""

from __future__ import annotations

import re

ALERTS_STREAM = "ALERTS"
"""JetStream stream holding every normalized alert event published by ingest."""

INCIDENTS_STREAM = "INCIDENTS"
"""JetStream stream holding every incident and component-status event of the correlator."""

RESPONSES_STREAM = "RESPONSES"
"""JetStream stream holding what people did about incidents (acknowledgements, resolve requests),
published by the notifier for the correlator (the owner of every incident's timeline), which
applies them (durable CORRELATOR_RESPONSES_DURABLE)."""

COMMANDS_STREAM = "COMMANDS"
"""JetStream stream holding what people asked through the admin API (herald.shared.events
Command), published by ingest for the correlator, which applies them."""

ALERTS_SUBJECTS = "alerts.>"
COMMANDS_SUBJECTS = "commands.>"
INCIDENTS_SUBJECTS = "incidents.>"
RESPONSES_SUBJECTS = "responses.>"

CORRELATOR_DURABLE = "correlator"
NOTIFIER_DURABLE = "notifier"
CORRELATOR_COMMANDS_DURABLE = "correlator-commands"
"""The correlator's durable consumer of COMMANDS."""
CORRELATOR_RESPONSES_DURABLE = "correlator-responses"
"""The correlator's durable consumer of RESPONSES."""

ALL_SERVICES = "_all"
"""The subject token of a command without a service (the correlator finds its services)."""

_TOKEN_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def subject_token(value: str) -> str:
    """Make `value` safe as one NATS subject token (no dots, spaces or wildcards)."""
    token = _TOKEN_UNSAFE.sub("_", value.lower()).strip("_")
    return token or "_"


def alert_subject(integration: str) -> str:
    """Subject an alert received through `integration` is published on."""
    return f"alerts.{subject_token(integration)}"


def group_subject(integration: str) -> str:
    """Subject of the group reports (GroupReported) of `integration`'s notifications: beside its
    alerts in the ALERTS stream, one token deeper (`alerts.*` matches the alerts alone)."""
    return f"{alert_subject(integration)}.group"


ALERT_EVENT_SUBJECTS = "alerts.*"
"""The alert events alone (AlertReceived), without the group reports."""


def incident_subject(service: str, event: str) -> str:
    """Subject of an incident-stream event, e.g. `incidents.payments-api.opened`."""
    return f"incidents.{subject_token(service)}.{subject_token(event)}"


def response_subject(service: str, event: str) -> str:
    """Subject of a response event, e.g. `responses.payments-api.acknowledged`."""
    return f"responses.{subject_token(service)}.{subject_token(event)}"


def command_subject(service: str | None) -> str:
    """Subject of an admin command, e.g. `commands.payments-api` (`commands._all` without a
    service)."""
    return f"commands.{subject_token(service) if service else ALL_SERVICES}"


SUBSCRIPTIONS_STREAM = "SUBSCRIPTIONS"
"""JetStream stream (work queue) of sign-up requests: the status page takes them, the notifier
sends the confirmation mail or the webhook challenge."""

SUBSCRIPTIONS_SUBJECTS = "subscriptions.>"


def subscription_subject(channel: str) -> str:
    """Subject of a sign-up request, e.g. `subscriptions.email`."""
    return f"subscriptions.{subject_token(channel)}"


SUBSCRIBERS_DURABLE = "notifier-subscribers"
"""The notifier's durable on INCIDENTS for subscribers (apart from paging: a slow subscriber's
mail server never holds a page back)."""
