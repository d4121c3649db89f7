"""Webhook bodies for load generators: every request a new notification, made cheaply.

A load generator sends thousands of requests a second, each of which must carry alerts never
seen before (JetStream de-duplicates a `Nats-Msg-Id` it already stored, which is cheaper than
storing, and Herald's event id is derived from the fingerprint). So a body is built once as a
template, split where each alert's fingerprint starts, and a request is the parts joined with
a fresh request id: `{tag}{counter:010x}` followed by the alert's index. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.alertmanager import alert, notification

PLACEHOLDER = "@REQUEST-ID@"
"""Where the request id goes in the template (in every alert's fingerprint)."""
ID_DIGITS = 10
STARTS_AT = datetime(2026, 5, 28, 14, 32, tzinfo=UTC)


def template(alerts: int) -> str:
    """A firing notification of `alerts` alerts of one service, sized like real ones (6 labels,
    2 annotations), each alert's fingerprint `PLACEHOLDER` + its index."""
    items = [
        alert(
            {
                "alertname": "PaymentsAPIHighErrorRate",
                "namespace": "production",
                "pod": f"payments-api-7d9f8b-{i:05d}",
                "service": "payments-api",
                "severity": "critical",
                "team": "backend",
            },
            f"{PLACEHOLDER}{i:03x}",
            STARTS_AT,
            None,
            {
                "summary": "Payments API error rate above 5%",
                "description": f"Pod payments-api-7d9f8b-{i:05d} in namespace production "
                "answered more than 5% of its requests with a 5xx for 5 minutes.",
            },
        )
        for i in range(alerts)
    ]
    doc = notification(items, {"alertname": "PaymentsAPIHighErrorRate", "service": "payments-api"})
    return json.dumps(doc, separators=(",", ":"))


@dataclass(frozen=True)
class Bodies:
    """The template split at its placeholders; `body(n)` is request n's body."""

    parts: tuple[bytes, ...]
    tag: str
    """Distinguishes the runs of one benchmark (so no run repeats another's ids)."""

    @classmethod
    def of(cls, alerts: int, tag: str) -> Bodies:
        return cls(tuple(p.encode() for p in template(alerts).split(PLACEHOLDER)), tag)

    def request_id(self, n: int) -> str:
        return f"{self.tag}{n:0{ID_DIGITS}x}"

    def body(self, n: int) -> bytes:
        return self.request_id(n).encode().join(self.parts)
