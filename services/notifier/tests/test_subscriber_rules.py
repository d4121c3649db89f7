"""The subscriber side's pure rules on plain values: coalescing, the Statuspage-format payloads,
the mail (RFC 8058 headers, no header injection), where a webhook may point, signed links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.notifier.subscribers import letter, payload
from herald.notifier.subscribers.coalesce import change_of, due_at
from herald.notifier.subscribers.destination import is_public
from herald.shared.config import parse_config
from herald.shared.events import (
    ComponentStatus,
    ComponentStatusChanged,
    Impact,
    Incident,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    MaintenanceChanged,
    MaintenanceStatus,
    MaintenanceWindow,
    TimelineEntry,
)
from herald.shared.public_page import public_view
from herald.shared.subscription_links import (
    Confirmation,
    confirmation_token,
    read_confirmation,
    read_unsubscribe,
    unsubscribe_token,
)
from services.notifier.tests.events import T0, incident

CONFIG = parse_config(
    """
page: {title: Acme Status, url: "https://status.example.com"}
services:
  payments-api: {name: Payments API}
"""
)
KEY = b"k" * 32
FIVE = timedelta(minutes=5)


def test_coalescing_holds_a_change_until_the_interval_is_over_but_never_the_final_one() -> None:
    assert due_at(None, T0, FIVE, final=False) == T0
    assert due_at(T0, T0 + timedelta(minutes=1), FIVE, final=False) == T0 + FIVE
    assert due_at(T0, T0 + timedelta(minutes=9), FIVE, final=False) == T0 + timedelta(minutes=9)
    assert due_at(T0, T0 + timedelta(minutes=1), FIVE, final=True) == T0 + timedelta(minutes=1)


def test_incident_payload_has_statuspage_shape() -> None:
    body = payload.incident_body(CONFIG, incident(), "https://status.example.com/u", T0)
    assert set(body) == {"meta", "page", "incident"}
    assert set(body["meta"]) == {"unsubscribe", "documentation", "generated_at"}
    assert set(body["page"]) == {"id", "status_indicator", "status_description"}
    inc = body["incident"]
    for field in ("id", "name", "status", "impact", "shortlink", "incident_updates", "components"):
        assert field in inc
    (update,) = inc["incident_updates"]
    assert update["affected_components"][0]["code"] == "payments-api"
    assert inc["created_at"] == "2024-05-01T12:00:00.000Z"


def test_component_payload_has_statuspage_shape() -> None:
    change = ComponentStatusChanged(
        event_id="c1",
        occurred_at=T0,
        service="payments-api",
        version=3,
        status=ComponentStatus.MAJOR_OUTAGE,
        previous_status=ComponentStatus.OPERATIONAL,
    )
    body = payload.component_body(CONFIG, change, "u", T0)
    assert body["meta"]["unsubscribe"] == "u"
    assert body["component_update"]["old_status"] == "operational"
    assert body["component_update"]["new_status"] == "major_outage"
    assert body["component"]["name"] == "Payments API"
    assert body["page"]["status_indicator"] == "critical"


def test_notice_mail_has_one_click_unsubscribe_and_no_header_injection() -> None:
    hostile = incident().model_copy(update={"title": "Down\r\nBcc: everyone@example.com"})
    env = letter.Envelope("Acme <status@acme.test>", "alice@example.com")
    msg = letter.incident_notice(CONFIG, env, hostile, "https://status.example.com/u?t=1", T0)
    assert msg["List-Unsubscribe"] == "<https://status.example.com/u?t=1>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"]
    assert msg.get_content_type() == "text/plain"


def test_webhooks_point_at_public_addresses_only_by_default() -> None:
    for private in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fd00::1"):
        assert not is_public(private)
    assert is_public("93.184.216.34")


def test_links_are_signed_and_confirmations_expire() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    c = Confirmation("email", "a@example.com", ("payments-api",), now + timedelta(hours=1))
    token = confirmation_token(KEY, c)
    assert read_confirmation(KEY, token, now) == c
    assert read_confirmation(KEY, token, now + timedelta(hours=2)) is None
    assert read_confirmation(b"other" * 8, token, now) is None
    assert read_confirmation(KEY, token[:-2] + "xx", now) is None
    assert read_unsubscribe(KEY, token) is None  # a confirmation is no unsubscribe link
    assert read_unsubscribe(KEY, unsubscribe_token(KEY, "abc")) == "abc"


def test_subscribers_see_the_public_view_and_an_internal_update_changes_nothing_they_see() -> None:
    from herald.notifier.subscribers.public import is_resolved, told_digest
    from herald.shared.events import IncidentStatus, TimelineEntry
    from herald.shared.public_page import public_view

    first = TimelineEntry(at=T0, status=IncidentStatus.INVESTIGATING, body="Card payments fail")
    inc = incident().model_copy(update={"timeline": (first,)})
    hidden = TimelineEntry(at=T0, status=IncidentStatus.IDENTIFIED, body="db-7", public=False)
    more = inc.model_copy(update={"timeline": (first, hidden)})
    assert told_digest(public_view(more)) == told_digest(public_view(inc))
    assert public_view(more).timeline == (first,)
    closed = more.model_copy(update={"public_status": IncidentStatus.RESOLVED})
    assert is_resolved(public_view(closed))
    assert told_digest(public_view(closed)) != told_digest(public_view(inc))


def _events(inc: Incident) -> list[IncidentEvent]:
    common = {"occurred_at": T0, "service": inc.service, "version": 1, "incident": inc}
    return [
        IncidentOpened(event_id="o", **common),  # type: ignore[arg-type]
        IncidentUpdated(event_id="u", **common),  # type: ignore[arg-type]
        IncidentResolved(event_id="r", **common),  # type: ignore[arg-type]
    ]


def test_subscribers_never_hear_of_an_internal_incident_whatever_happens_to_it() -> None:
    internal = incident().model_copy(update={"public": False})
    assert [change_of(e, CONFIG) for e in _events(internal)] == [None, None, None]
    assert all(change_of(e, CONFIG) is not None for e in _events(incident()))


def test_the_final_state_is_never_held_back_by_coalescing() -> None:
    changes = [change_of(e, CONFIG) for e in _events(incident())]
    assert [c.final if c else None for c in changes] == [False, False, True]
    # Resolved for the public (internal alerts keep it open): final too.
    publicly = IncidentUpdated(
        event_id="p",
        occurred_at=T0,
        service="payments-api",
        version=2,
        incident=incident().model_copy(update={"public_status": IncidentStatus.RESOLVED}),
    )
    change = change_of(publicly, CONFIG)
    assert change is not None
    assert change.final
    # Told a minute ago: an update waits for the interval, the final state goes now.
    told, now = T0, T0 + timedelta(minutes=1)
    assert due_at(told, now, FIVE, final=False) == told + FIVE
    assert due_at(told, now, FIVE, final=change.final) == now


def _window(status: MaintenanceStatus, services: tuple[str, ...]) -> MaintenanceWindow:
    return MaintenanceWindow(
        id="mw-1",
        title="Database upgrade",
        services=services,
        status=status,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        created_at=T0 - timedelta(days=1),
        updated_at=T0,
        started_at=T0 if status is not MaintenanceStatus.SCHEDULED else None,
        verifying_at=T0 + timedelta(minutes=30) if status is MaintenanceStatus.VERIFYING else None,
        completed_at=T0 + timedelta(hours=1) if status is MaintenanceStatus.COMPLETED else None,
    )


def test_a_maintenance_state_is_one_change_whichever_service_copy_brings_it() -> None:
    both = ("payments-api", "billing")
    changes = []
    for status in (
        MaintenanceStatus.SCHEDULED,
        MaintenanceStatus.IN_PROGRESS,
        MaintenanceStatus.VERIFYING,
        MaintenanceStatus.COMPLETED,
    ):
        copies = {
            change_of(
                MaintenanceChanged(
                    event_id=f"{service}-{v}",
                    occurred_at=T0,
                    service=service,
                    version=v,
                    maintenance=_window(status, both),
                ),
                CONFIG,
            )
            for service, v in (("payments-api", 7), ("billing", 42))
        }
        (change,) = copies  # the same topic, version and digest in both services' copies
        assert change is not None
        changes.append(change)
    # Four states, four changes, each newer than the last (a redelivered one is stale).
    assert [c.version for c in changes] == sorted({c.version for c in changes})
    assert len(changes) == 4
    assert all(c.final for c in changes)  # never held: each state goes at once
    assert {c.topic for c in changes} == {"maintenance:mw-1"}
    stranger = MaintenanceChanged(
        event_id="x",
        occurred_at=T0,
        service="billing",
        version=1,
        maintenance=_window(MaintenanceStatus.SCHEDULED, ("billing",)),
    )
    assert change_of(stranger, CONFIG) is None  # billing is not on this page


def test_maintenance_payload_is_a_statuspage_scheduled_maintenance_incident() -> None:
    w = _window(MaintenanceStatus.IN_PROGRESS, ("payments-api",))
    body = payload.maintenance_body(CONFIG, w, "https://status.example.com/u", T0)
    inc = body["incident"]
    assert inc["impact"] == "maintenance"
    assert inc["status"] == "in_progress"
    assert inc["scheduled_for"] == "2024-05-01T12:00:00.000Z"
    assert inc["scheduled_until"] == "2024-05-01T13:00:00.000Z"
    assert inc["shortlink"] == "https://status.example.com/incidents/mw-1"
    assert [u["id"] for u in inc["incident_updates"]] == ["mw-1-in_progress", "mw-1-scheduled"]
    assert inc["incident_updates"][0]["affected_components"][0]["new_status"] == (
        "under_maintenance"
    )
    assert inc["components"][0]["status"] == "under_maintenance"
    assert body["page"] == {
        "id": payload.page_id(CONFIG),
        "status_indicator": "maintenance",
        "status_description": "Service Under Maintenance",
    }


def test_a_verifying_window_is_told_as_still_under_maintenance_with_its_update() -> None:
    w = _window(MaintenanceStatus.VERIFYING, ("payments-api",)).model_copy(
        update={"verifying_body": "Upgrade done; checking the replicas."}
    )
    inc = payload.maintenance_body(CONFIG, w, "https://status.example.com/u", T0)["incident"]
    assert inc["status"] == "verifying"
    assert inc["resolved_at"] is None
    assert [u["id"] for u in inc["incident_updates"]] == [
        "mw-1-verifying",
        "mw-1-in_progress",
        "mw-1-scheduled",
    ]
    newest = inc["incident_updates"][0]
    assert newest["body"] == "Upgrade done; checking the replicas."
    assert newest["affected_components"][0]["old_status"] == "under_maintenance"
    assert newest["affected_components"][0]["new_status"] == "under_maintenance"
    assert inc["components"][0]["status"] == "under_maintenance"
    env = letter.Envelope("Acme <status@acme.test>", "alice@example.com")
    msg = letter.maintenance_notice(CONFIG, env, w, "u", T0)
    assert msg["Subject"] == "[Acme Status] Maintenance being verified: Database upgrade"
    assert "Upgrade done; checking the replicas." in msg.get_content()


def test_maintenance_mail_has_one_click_unsubscribe_and_says_a_cancellation() -> None:
    env = letter.Envelope("Acme <status@acme.test>", "alice@example.com")
    done = _window(MaintenanceStatus.COMPLETED, ("payments-api",))
    msg = letter.maintenance_notice(CONFIG, env, done, "https://status.example.com/u?t=1", T0)
    assert msg["Subject"] == "[Acme Status] Maintenance completed: Database upgrade"
    assert msg["List-Unsubscribe"] == "<https://status.example.com/u?t=1>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # It links to the window's own page (its shortlink), not to the page's root.
    assert "Follow it: https://status.example.com/incidents/mw-1\n" in msg.get_content()
    cancelled = done.model_copy(update={"cancelled": True})
    msg = letter.maintenance_notice(CONFIG, env, cancelled, "u", T0)
    assert msg["Subject"] == "[Acme Status] Maintenance cancelled: Database upgrade"
    assert "The maintenance was cancelled." in msg.get_content()


def test_a_postmortem_is_told_once_as_a_postmortem_never_as_a_second_resolve() -> None:
    """The correlator publishes a postmortem as a second `IncidentResolved` (a newer version):
    subscribers are told of it once (Statuspage sends postmortem notifications too), as
    `Postmortem`, the component operational; a redelivery is stale."""
    closed = incident(resolved=True).model_copy(
        update={
            "impact": Impact.MAJOR,
            "component_status": ComponentStatus.MAJOR_OUTAGE,  # the worst it had
            "public_status": IncidentStatus.RESOLVED,
            "timeline": (TimelineEntry(at=T0, status=IncidentStatus.RESOLVED, body="Fixed."),),
        }
    )
    common = {"occurred_at": T0, "service": "payments-api"}
    done = IncidentResolved(event_id="r", version=2, incident=closed, **common)  # type: ignore[arg-type]
    summary = closed.model_copy(
        update={
            "status": IncidentStatus.POSTMORTEM,
            "public_status": IncidentStatus.POSTMORTEM,  # herald.correlator.commands sets it
            "postmortem_body": "A bad deploy.",
            "timeline": (
                *closed.timeline,
                TimelineEntry(at=T0, status=IncidentStatus.POSTMORTEM, body="A bad deploy."),
            ),
        }
    )
    later = IncidentResolved(event_id="p", version=3, incident=summary, **common)  # type: ignore[arg-type]
    first, second = change_of(done, CONFIG), change_of(later, CONFIG)
    assert first is not None
    assert second is not None
    assert second.topic == first.topic
    assert second.version > first.version  # told, once (a redelivery has the same version)
    assert second.final
    assert second.seen != first.seen
    env = letter.Envelope("Acme <status@acme.test>", "alice@example.com")
    msg = letter.incident_notice(CONFIG, env, public_view(summary), "https://s.example/u", T0)
    assert msg["Subject"] == "[Acme Status] Postmortem: Card payments failing"
    text = msg.get_content()
    assert "Status: Postmortem · Payments API: Operational" in text
    assert "A bad deploy." in text
    body = payload.incident_body(CONFIG, public_view(summary), "https://s.example/u", T0)
    assert body["incident"]["status"] == "postmortem"
    assert body["page"]["status_indicator"] == "none"
