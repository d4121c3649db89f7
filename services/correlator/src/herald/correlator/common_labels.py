"""The labels every alert of an incident shares (pure): what a team label selects the
escalation policy by, carried on the incident events (`Incident.labels`).

An incident's labels start as its opening alert's and narrow as alerts join: a label stays
while every alert that joined carries it with the same value. Folding one alert at a time
needs no other alert record (the correlator's store loads only the alerts an event touches).
Bounded by `MAX_INCIDENT_LABELS` and `MAX_INCIDENT_LABEL_CHARS`: past them the rest, by name
order, is left out whole (a clipped value would match what no alert says).
"""

from __future__ import annotations

from collections.abc import Mapping

from herald.shared.events import MAX_INCIDENT_LABEL_CHARS, MAX_INCIDENT_LABELS


def bounded(labels: Mapping[str, str]) -> dict[str, str]:
    """`labels` within the incident bounds, by name order."""
    out: dict[str, str] = {}
    chars = 0
    for name in sorted(labels):
        value = labels[name]
        if len(out) == MAX_INCIDENT_LABELS:
            break
        if chars + len(name) + len(value) > MAX_INCIDENT_LABEL_CHARS:
            continue  # a long one left out; shorter ones after it may still fit
        out[name] = value
        chars += len(name) + len(value)
    return out


def narrowed(common: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, str]:
    """`common` (an incident's labels) once an alert with `labels` joined it."""
    return {name: value for name, value in common.items() if labels.get(name) == value}
