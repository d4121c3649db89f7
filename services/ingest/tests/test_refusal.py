"""What the correlator would refuse (its rules in herald.correlator.commands), told from what
its read API holds: plain rows in, a Refusal (404/409) or None out."""

from __future__ import annotations

from herald.ingest import refusal

OPEN = {"id": "api-3", "service": "api", "status": "identified", "resolved_at": None}
RESOLVED = {"id": "api-2", "service": "api", "status": "resolved", "resolved_at": "2024-05-01"}
DONE = {"id": "api-1", "service": "api", "status": "postmortem", "resolved_at": "2024-04-01"}
ROWS = [OPEN, RESOLVED, DONE, "not a row"]


def test_a_second_open_is_a_409_naming_the_open_one() -> None:
    found = refusal.second_open(ROWS, "api")
    assert found is not None
    assert (found.status, found.fields) == (409, {"open_incident": "api-3"})
    assert "herald incident update api-3" in found.hint
    assert refusal.second_open([RESOLVED], "api") is None
    assert refusal.second_open([OPEN], "search") is None


def test_an_open_incident_takes_any_change() -> None:
    for action in ("update", "resolve", "postmortem"):
        assert refusal.incident_command(ROWS, "api-3", action) is None


def test_a_resolved_incident_takes_only_its_postmortem() -> None:
    for action in ("update", "resolve"):
        found = refusal.incident_command(ROWS, "api-2", action)
        assert found is not None
        assert found.status == 409
        assert found.fields == {"incident": "api-2", "incident_status": "resolved"}
        assert "only a postmortem can follow" in found.detail
    assert refusal.incident_command(ROWS, "api-2", "postmortem") is None
    twice = refusal.incident_command(ROWS, "api-1", "postmortem")
    assert twice is not None
    assert (twice.status, twice.title) == (409, "postmortem already written")


def test_an_incident_the_correlator_does_not_hold_is_a_404() -> None:
    for action in ("update", "resolve", "postmortem"):
        found = refusal.incident_command(ROWS, "api-99", action)
        assert found is not None
        assert (found.status, found.document()["incident"]) == (404, "api-99")


def test_a_window_that_is_over_cannot_be_cancelled_or_completed() -> None:
    windows = [
        {"id": "mnt-a", "status": "scheduled"},
        {"id": "mnt-b", "status": "completed", "cancelled": True},
        {"id": "mnt-c", "status": "completed", "cancelled": False},
    ]
    assert refusal.maintenance_command(windows, "mnt-a", "cancel") is None
    cancelled = refusal.maintenance_command(windows, "mnt-b", "complete")
    assert cancelled is not None
    assert cancelled.status == 409
    assert cancelled.detail == "maintenance mnt-b is already cancelled: it cannot be completed"
    completed = refusal.maintenance_command(windows, "mnt-c", "cancel")
    assert completed is not None
    assert "already completed: it cannot be cancelled" in completed.detail
    missing = refusal.maintenance_command(windows, "mnt-z", "cancel")
    assert missing is not None
    assert missing.status == 404


def test_only_a_window_in_progress_can_be_marked_verifying() -> None:
    windows = [
        {"id": "mnt-s", "status": "scheduled"},
        {"id": "mnt-p", "status": "in_progress"},
        {"id": "mnt-v", "status": "verifying"},
        {"id": "mnt-c", "status": "completed", "cancelled": False},
    ]
    assert refusal.maintenance_command(windows, "mnt-p", "verify") is None
    for mid, status in (("mnt-s", "scheduled"), ("mnt-v", "verifying")):
        found = refusal.maintenance_command(windows, mid, "verify")
        assert found is not None
        assert found.status == 409
        assert found.document()["maintenance_status"] == status
        assert "only a window in progress" in found.detail
    over = refusal.maintenance_command(windows, "mnt-c", "verify")
    assert over is not None
    assert over.status == 409
    assert "already completed: it cannot be marked verifying" in over.detail
    # complete and cancel still apply to a verifying window
    assert refusal.maintenance_command(windows, "mnt-v", "complete") is None
    assert refusal.maintenance_command(windows, "mnt-v", "cancel") is None
