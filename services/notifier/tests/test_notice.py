"""Building notices and resolving on-call targets: pure functions over plain values."""

from __future__ import annotations

from herald.notifier.channels.webhook import webhook_body
from herald.notifier.notice import build_notice, notice_text, one_line
from herald.notifier.target import Target, resolve_target
from herald.shared.config import parse_config
from herald.shared.events import ComponentStatus, ComponentStatusChanged, IncidentUpdated
from services.notifier.tests.events import T0, incident, opened, resolved

CONFIG = parse_config(
    """
page: {title: Acme Status, url: "https://status.example.com"}
services:
  payments-api: {name: Payments API, oncall: backend}
  search: {name: Search}
oncall:
  backend: {name: Backend on-call, channels: [console, pager, console]}
channels:
  console: {type: console}
  pager: {type: webhook, url: "http://pager.invalid/hook"}
"""
)


def test_opened_notice_is_the_webhook_contract() -> None:
    event = opened()
    notice = build_notice(event, CONFIG)
    assert notice is not None
    assert webhook_body(notice) == {
        "type": "incident.opened",
        "event_id": "ev-open-1",
        "service": {"id": "payments-api", "name": "Payments API"},
        "incident": event.incident.model_dump(mode="json"),
        "text": "[OPENED] Payments API: Card payments failing",
        "status_page_url": "https://status.example.com",
    }


def test_resolved_notice() -> None:
    notice = build_notice(resolved(), CONFIG)
    assert notice is not None
    assert notice.type == "incident.resolved"
    assert notice.text == "[RESOLVED] Payments API: Card payments failing"
    assert notice.incident.resolved_at is not None


def test_unknown_service_uses_its_id_as_name() -> None:
    notice = build_notice(opened(service="ghost"), CONFIG)
    assert notice is not None
    assert notice.service.name == "ghost"
    assert notice.text.startswith("[OPENED] ghost: ")


def test_text_is_one_line_whatever_the_title() -> None:
    assert notice_text("incident.opened", "Payments API", "boom\n\nINJECTED\tline ") == (
        "[OPENED] Payments API: boom INJECTED line"
    )
    assert one_line("  a \r\n b  ") == "a b"


def test_other_kinds_notify_nobody() -> None:
    updated = IncidentUpdated(
        event_id="u", occurred_at=T0, service="payments-api", version=2, incident=incident()
    )
    changed = ComponentStatusChanged(
        event_id="c",
        occurred_at=T0,
        service="payments-api",
        version=2,
        status=ComponentStatus.MAJOR_OUTAGE,
        previous_status=ComponentStatus.OPERATIONAL,
    )
    assert build_notice(updated, CONFIG) is None
    assert build_notice(changed, CONFIG) is None


def test_target_of_a_service_follows_oncall_to_channels_without_repeats() -> None:
    assert resolve_target(CONFIG, "payments-api") == Target(
        id="backend", name="Backend on-call", channels=("console", "pager")
    )


def test_no_target_without_oncall_or_for_unknown_service() -> None:
    assert resolve_target(CONFIG, "search") is None
    assert resolve_target(CONFIG, "ghost") is None
